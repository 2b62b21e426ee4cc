"""Subnets: which subnet a network gets, and its gateway. Pure arithmetic on the standard library's
ipaddress, and one read of the host's routing table.

    pick_subnet(DEFAULT_POOL, host_routes())  -> IPv4Network("172.29.0.0/16")   (the first that is free)

As Docker's IPAM: the network's first address is the gateway (the bridge's own address), the
others go to containers (networks.py's allocate, round the subnet: an address given back is given
again only after every other), and the broadcast address is never given.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from ..errors import Conflict, InvalidArgument

#: Where the default network's subnet comes from: the first that collides with no route here.
#: Not 172.17/16 (Docker's docker0: many workshop VMs run Docker too).
DEFAULT_POOL = ("172.29.0.0/16", "172.30.0.0/16", "172.31.0.0/16", "10.229.0.0/16")
#: User-defined networks get a /24 each from here, as Docker's default-address-pools give /20s.
USER_POOL = "10.230.0.0/15"
USER_PREFIX = 24


class SubnetCollision(Conflict):
    """A subnet that overlaps a route the host already has (a LAN, a VPN, another bridge)."""



class PoolExhausted(Conflict):
    """Every address of the network is given out."""



def host_routes() -> list[tuple[ipaddress.IPv4Network, str]]:
    """The host's IPv4 routes as (destination, device), from /proc/net/route, e.g.
    (IPv4Network('192.0.2.0/24'), 'eth0'). The default route (0.0.0.0/0) is left out: every subnet
    is "inside" it, and it collides with nothing."""
    routes = []
    try:
        with open("/proc/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return routes
    for line in lines:
        # Iface Destination Gateway Flags RefCnt Use Metric Mask ...: addresses as little-endian hex
        fields = line.split()
        if len(fields) < 8:
            continue
        dest, mask = (socket.inet_ntoa(struct.pack("<I", int(x, 16))) for x in (fields[1], fields[7]))
        net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen:
            routes.append((net, fields[0]))
    return routes


def parse_subnet(text) -> ipaddress.IPv4Network:
    """"10.231.7.0/24" -> IPv4Network; refuses what is not an IPv4 subnet a bridge can have."""
    try:
        net = ipaddress.IPv4Network(str(text), strict=True)
    except ValueError as e:
        raise InvalidArgument("error.network.subnet-ipv4-subnet", text=text, e=e) from None
    if net.prefixlen > 29 or net.prefixlen < 8:
        raise InvalidArgument("error.network.subnet-network-needs-prefix", text=text)
    if net.is_loopback or net.is_multicast or net.is_link_local or net.is_reserved:
        raise InvalidArgument("error.network.subnet", text=text, loopback_if_net_is_l='loopback' if net.is_loopback else 'a reserved range')
    return net


def check_free(subnet: ipaddress.IPv4Network, routes, taken=()) -> None:
    """Refuse a subnet that overlaps a host route or another network of the lab, naming it."""
    for net, dev in routes:
        if subnet.overlaps(net):
            raise SubnetCollision("error.network.subnet-overlaps-host-s", subnet=subnet, net=net, dev=dev)
    for net, name in taken:
        if subnet.overlaps(net):
            raise SubnetCollision("error.network.subnet-overlaps-network", subnet=subnet, name=name, net=net)


def pick_subnet(candidates, routes, taken=()) -> ipaddress.IPv4Network:
    """The first candidate subnet free of every route and network in `taken`. `candidates`: CIDR
    texts, or one larger range to cut into /USER_PREFIX pieces."""
    for cand in candidates:
        try:
            net = ipaddress.IPv4Network(cand)
            check_free(net, routes, taken)
            return net
        except SubnetCollision:
            continue
    raise SubnetCollision("error.network.every-subnet-labkit-would", join=', '.join(map(str, candidates[:4])), if_len_candidates_4='...' if len(candidates) > 4 else '')


def user_candidates() -> list[str]:
    return [str(n) for n in ipaddress.IPv4Network(USER_POOL).subnets(new_prefix=USER_PREFIX)]


def gateway_of(subnet: ipaddress.IPv4Network) -> str:
    return str(subnet.network_address + 1)

