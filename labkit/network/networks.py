"""A lab's networks: what each one is, and who is on it.

    /var/lib/labkit/networks/bridge.json                 the network, one line
      {"name": "bridge", "id": "3f9a0c1b...", "driver": "bridge", "bridge": "labkit0",
       "subnet": "172.29.0.0/16", "gateway": "172.29.0.1", "created": 1795000000.0, "labels": {}, "next": 2887581699}
    /var/lib/labkit/networks/bridge.endpoints/<container id>
      {"name": "web", "ip": "172.29.0.2", "mac": "02:42:ac:1d:00:02"}
    /var/lib/labkit/networks/bridge.addresses/172.29.0.2 -> <container id>     (a symlink)

The address pool is the addresses folder: an address is in use exactly while its link exists. It is
taken when a container is created on the network (or connected to it), by creating the link (which
fails if another holds it), and given back when the container is removed (or disconnected): so a
stopped container keeps its address, and so does a container across a restart of labkitd. "next"
is where the search for a free address starts: it goes round the subnet, so an address given back
is the last to be given again (a stale connection to it does not reach a newcomer). Taking or
giving back an address touches two files whatever the number of containers on the network (one
JSON file of every endpoint cost ~7 ms a start with 990 running); read() gathers the endpoints
for those who look. Every change is made under one lock (networks/.lock, flock).

Docker's three built-in networks are here as modes: "bridge" (the default network, a record made
on first use), "host" (the host's own network namespace) and "none" (a namespace with only lo).
Nothing here touches the kernel: attach.py (in labkitd) makes the bridges and veths.
"""

from __future__ import annotations

import json
import os
import re
import time

from ..errors import Conflict, InvalidArgument, NotFound
from ..paths import MARK, Instance, dir_lock
from .ipam import DEFAULT_POOL, PoolExhausted, check_free, gateway_of, host_routes, parse_subnet, pick_subnet, user_candidates

DEFAULT = "bridge"  #: the default network's name, as Docker's
MODES = ("bridge", "host", "none")  #: network modes that are not user-defined networks
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class NetworkNotFound(NotFound):
    """No network of that name."""


def _dir(inst: Instance):
    return inst.root / "networks"


def _path(inst: Instance, name: str):
    return _dir(inst) / f"{name}.json"


def locked(inst: Instance):
    """Hold the lab's network lock: every read-modify-write of a network file happens inside."""
    return dir_lock(_dir(inst))


def check_name(name) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidArgument("error.network.network-name-valid", name=name)
    return name


def bridge_name(inst: Instance, net_id: str, default: bool) -> str:
    """The bridge's link name, at most 15 characters: "labkit0" for the default lab's default
    network, else the lab's link prefix + "br" + the network ID: "lk-br3f9a0c1b2d", "lk3f9c-br3f9a0c"."""
    if default and inst.tag == MARK:
        return "labkit0"
    prefix = inst.link_prefix + "br"
    return prefix + (net_id[:15 - len(prefix)] if not default else "0")


def _endpoints_dir(inst: Instance, name: str):
    return _dir(inst) / f"{name}.endpoints"


def _addresses_dir(inst: Instance, name: str):
    return _dir(inst) / f"{name}.addresses"


def _write(inst: Instance, net: dict) -> None:
    """The network's own record, one line (its endpoints are files of their own)."""
    path = _path(inst, net["name"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: v for k, v in net.items() if k != "endpoints"}))
    os.replace(tmp, path)


def _record(inst: Instance, name: str) -> dict:
    """The network without its endpoints."""
    try:
        net = json.loads(_path(inst, name).read_text())
    except FileNotFoundError:
        raise NetworkNotFound("error.network.network-found", name=name) from None
    except (OSError, ValueError) as e:
        raise NotFound("error.network.network-has-unreadable-record", name=name, e=e) from None
    net.pop("endpoints", None)
    return net


def _endpoints(inst: Instance, name: str) -> dict[str, dict]:
    out = {}
    try:
        entries = list(os.scandir(_endpoints_dir(inst, name)))
    except FileNotFoundError:
        return out
    for e in entries:
        try:
            with open(e.path) as f:
                out[e.name] = json.load(f)
        except (OSError, ValueError):
            continue
    return out


def read(inst: Instance, name: str) -> dict:
    """The network's record with "endpoints": {container id: {"name", "ip", "mac"}}."""
    net = _record(inst, name)
    net["endpoints"] = _endpoints(inst, name)
    return net


def list_all(inst: Instance, endpoints: bool = True) -> list[dict]:
    """Every network's record; endpoints=False: without who is on it (read once per container)."""
    out = []
    if _dir(inst).is_dir():
        for p in sorted(_dir(inst).glob("*.json")):
            try:
                out.append((read if endpoints else _record)(inst, p.name[:-len(".json")]))
            except NotFound:
                continue
    return out


def _new(inst: Instance, name: str, subnet, default: bool, labels=None) -> dict:
    """A network record, its subnet picked (or checked) against the host's routes and the lab's other networks."""
    taken = [(parse_subnet(n["subnet"]), n["name"]) for n in list_all(inst, endpoints=False)]
    routes = host_routes()
    if subnet is not None:
        net = parse_subnet(subnet)
        check_free(net, routes, taken)
    else:
        net = pick_subnet(list(DEFAULT_POOL) if default else user_candidates(), routes, taken)
    net_id = os.urandom(32).hex()  # 64 hex digits, as docker's network IDs
    return {"name": name, "id": net_id, "driver": "bridge", "bridge": bridge_name(inst, net_id, default),
            "subnet": str(net), "gateway": gateway_of(net), "created": time.time(),
            "labels": dict(labels or {}), "endpoints": {}}


def default_network(inst: Instance) -> dict:
    """The default network's record (without its endpoints), made on first use."""
    with locked(inst):
        return _record_or_default(inst, DEFAULT)


def _record_or_default(inst: Instance, name: str) -> dict:
    """_record(), and the default network made if it is the one missing (the lock held)."""
    try:
        return _record(inst, name)
    except NetworkNotFound:
        if name != DEFAULT:
            raise
        net = _new(inst, DEFAULT, None, default=True)
        _write(inst, net)
        return net


def create(inst: Instance, name: str, subnet=None, labels=None) -> dict:
    """A user-defined network's record (its bridge is made by labkitd: attach.ensure_bridge)."""
    check_name(name)
    if name in MODES:
        raise Conflict("error.network.network-one-docker-s", name=name)
    with locked(inst):
        if _path(inst, name).exists():
            raise Conflict("error.network.network-exists-already", name=name)
        net = _new(inst, name, subnet, default=False, labels=labels)
        _write(inst, net)
        return net


def remove(inst: Instance, name: str) -> dict:
    """Forget a network with no containers on it; returns its record (to remove its bridge)."""
    if name in MODES:
        raise Conflict("error.network.network-built-cannot-removed", name=name)
    with locked(inst):
        net = read(inst, name)
        if net["endpoints"]:
            names = ", ".join(sorted(e.get("name") or cid[:12] for cid, e in net["endpoints"].items()))
            raise Conflict("error.network.network-has-containers", name=name, names=names)
        _path(inst, name).unlink()
        for d in (_endpoints_dir(inst, name), _addresses_dir(inst, name)):
            try:
                for leftover in os.listdir(d):  # an address link whose endpoint a crash lost
                    os.unlink(d / leftover)
                os.rmdir(d)
            except FileNotFoundError:
                pass
        return net


def mac_of(ip: str) -> str:
    """Docker's rule: 02:42 and then the four bytes of the address, so the MAC tells the IP."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))


def allocate(inst: Instance, name: str, cid: str, cname: str, ip: str | None = None) -> dict:
    """Give container `cid` an address on network `name` (the next free one from "next", or `ip`);
    returns its endpoint {"network", "ip", "prefix", "gateway", "mac", "bridge", "name"}."""
    import ipaddress

    with locked(inst):  # one lock and one read per create, the default network made on first use
        net = _record_or_default(inst, name)
        ep_path = _endpoints_dir(inst, name) / cid
        if ep_path.exists():
            raise Conflict("error.network.container-already-network", cname=cname, name=name)
        subnet = parse_subnet(net["subnet"])
        first, last = int(subnet.network_address) + 1, int(subnet.broadcast_address) - 1
        gateway = int(ipaddress.IPv4Address(net["gateway"]))
        _addresses_dir(inst, name).mkdir(exist_ok=True)
        if ip is not None:
            try:
                n = int(ipaddress.IPv4Address(ip))
            except ValueError:
                raise InvalidArgument("error.network.address-ipv4-address", ip=ip) from None
            if not first <= n <= last:
                raise InvalidArgument("error.network.address-host-address", ip=ip, name=name, subnet=subnet)
            if n == gateway or not _claim(inst, name, n, cid):
                raise Conflict("error.network.address-use-network", ip=ip, name=name)
        else:
            n = _take_next(inst, net, first, last, gateway, cid)
            net["next"] = n + 1 if n < last else first
            _write(inst, net)
        ip = str(ipaddress.IPv4Address(n))
        e = {"name": cname, "ip": ip, "mac": mac_of(ip)}
        _endpoints_dir(inst, name).mkdir(exist_ok=True)
        ep_path.write_text(json.dumps(e))
    net["endpoints"] = {cid: e}
    return endpoint(net, cid)


def _claim(inst: Instance, name: str, n: int, cid: str) -> bool:
    """Take address n (an int) for cid: True, or False if another container holds it."""
    import ipaddress

    try:
        os.symlink(cid, _addresses_dir(inst, name) / str(ipaddress.IPv4Address(n)))
        return True
    except FileExistsError:
        return False


def _take_next(inst: Instance, net: dict, first: int, last: int, gateway: int, cid: str) -> int:
    """The first free address from "next" on, round the subnet: one try while the pool has room."""
    size = last - first + 1
    start = net.get("next", first)
    if not first <= start <= last:
        start = first
    for k in range(size):
        n = first + (start - first + k) % size
        if n != gateway and _claim(inst, net["name"], n, cid):
            return n
    raise PoolExhausted("error.network.network-has-no-free", net_subnet=net['subnet'], size_1=size - 1)


def endpoint(net: dict, cid: str) -> dict:
    e = net["endpoints"][cid]
    return {"network": net["name"], "ip": e["ip"], "prefix": int(net["subnet"].rsplit("/", 1)[1]),
            "gateway": net["gateway"], "mac": e["mac"], "bridge": net["bridge"], "name": e["name"]}


def release(inst: Instance, cid: str, name: str | None = None) -> list[str]:
    """Give back container cid's address on network `name` (every network if None); returns the
    names of the networks it left."""
    left = []
    with locked(inst):
        names = [name] if name is not None else [p.name[:-len(".json")] for p in sorted(_dir(inst).glob("*.json"))]
        for nm in names:
            ep_path = _endpoints_dir(inst, nm) / cid
            try:
                ip = json.loads(ep_path.read_text())["ip"]
            except FileNotFoundError:
                continue
            except (OSError, ValueError, KeyError, TypeError):
                ip = None
            if ip is not None:
                link = _addresses_dir(inst, nm) / ip
                try:
                    if os.readlink(link) == cid:
                        os.unlink(link)
                except OSError:
                    pass
            ep_path.unlink()
            left.append(nm)
    return left


def peers(inst: Instance, name: str) -> dict[str, dict]:
    """container id -> endpoint record, of every container on network `name`."""
    return dict(read(inst, name)["endpoints"])


def parse_mode(mode) -> str:
    """docker's --network: "bridge" (default), "none", "host", "container:NAME", or a network's name."""
    if mode is None or mode == "":
        return DEFAULT
    if not isinstance(mode, str):
        raise InvalidArgument("error.network.network-network-s-name", mode=mode)
    if mode.startswith("container:"):
        if not mode[len("container:"):]:
            raise InvalidArgument("error.network.network-mode-container-names")
        return mode
    if mode not in MODES:
        check_name(mode)
    return mode
