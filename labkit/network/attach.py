"""The kernel's side of a container's network, done by labkitd over netlink before the container's
PID 1 exists: the bridges with pyroute2, each start's veth, address and route with the plain
messages of kernel/rtnetlink.py. The same, by hand:

    ip link add labkit0 type bridge                         # ensure_bridge: once per network
    ip addr add 172.29.0.1/16 dev labkit0 && ip link set labkit0 up
    ip netns add x                                          # new_netns (labkitd: unshare, then back)
    ip link add lk-3f9a0c1b2d0 type veth peer name eth0 netns x      # plug
    ip link set lk-3f9a0c1b2d0 master labkit0 up
    ip -n x link set lo up
    ip -n x addr add 172.29.0.2/16 dev eth0 && ip -n x link set eth0 address 02:42:ac:1d:00:02 up
    ip -n x route add default via 172.29.0.1

PID 1 is then forked and joins that namespace (setns) instead of making an empty one. When the
container's last process exits, the kernel destroys its namespace, eth0 with it, and so the veth's
other end too: nothing to undo on exit. Why labkitd and not PID 1: labkitd holds the host's
netlink socket, and a start's six messages cost it ~0.3 ms of Python (pyroute2's generic encoder
and asyncio loop cost ~5 ms; bench/network_speed.py measures the step).

pyroute2's synchronous IPRoute runs an asyncio loop inside each call; labkitd keeps one loop for
all of them (a new loop per IPRoute costs ~1-4 ms), and never runs inside another loop.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket

from ..errors import ContainerError, LabkitError
from ..kernel import syscalls as sc
from ..kernel.rtnetlink import NETLINK_ROUTE, Rtnl

_LOOP = None
_HOST = None
_RTNL = None


class NetworkSetupFailed(ContainerError):
    """The kernel refused a step of a network's set-up (netlink's answer is in the message)."""



def _told(what: str):
    """Turn pyroute2's NetlinkError (an errno and the kernel's word) into a NetworkSetupFailed that
    says which step failed: "make bridge labkit0: (1, 'Operation not permitted')"."""
    def wrap(fn):
        @functools.wraps(fn)
        def call(*args, **kw):
            try:
                return fn(*args, **kw)
            except LabkitError:
                raise
            except Exception as e:  # noqa: BLE001 - pyroute2's NetlinkError (not imported here: labkitd
                if not isinstance(e, OSError) and type(e).__name__ != "NetlinkError":  # loads pyroute2 on first use)
                    raise
                raise NetworkSetupFailed("error.network.value", what=what, e=e) from e
        return call
    return wrap


def _loop():
    global _LOOP
    if _LOOP is None:
        import asyncio

        _LOOP = asyncio.new_event_loop()
    return _LOOP


def host():
    """labkitd's netlink socket in the host's network namespace (pyroute2 IPRoute), kept open."""
    global _HOST
    if _HOST is None:
        from pyroute2 import IPRoute

        _HOST = IPRoute(use_event_loop=_loop())
    return _HOST


def close() -> None:
    global _HOST, _RTNL
    if _HOST is not None:
        _HOST.close()
        _HOST = None
    if _RTNL is not None:
        _RTNL.close()
        _RTNL = None


def rtnl() -> Rtnl:
    """labkitd's plain netlink socket in the host's namespace (kernel/rtnetlink.py), kept open."""
    global _RTNL
    if _RTNL is None:
        _RTNL = Rtnl()
    return _RTNL


@contextlib.contextmanager
def rtnl_in_netns(nsfd: int, ifname: str):
    """(an Rtnl whose socket lives in namespace nsfd, the index of link `ifname` there): both taken
    while this thread is in that namespace, then back home; the socket is closed on leaving (an
    open socket keeps its namespace, and so the container's veth, alive)."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(nsfd, sc.CLONE_NEWNET)
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
            try:
                index = socket.if_nametoindex(ifname)
            except OSError:
                sock.close()
                raise
        finally:
            sc.setns(home, sc.CLONE_NEWNET)
    finally:
        os.close(home)
    with Rtnl(sock) as ns:
        yield ns, index


@_told("make the container's network namespace")
def new_netns() -> int:
    """A new, empty network namespace; returns a descriptor of it (close-on-exec). This thread is
    back in its own namespace when this returns."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.unshare(sc.CLONE_NEWNET)
        try:
            return os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            sc.setns(home, sc.CLONE_NEWNET)
    finally:
        os.close(home)


def link_index(ifname: str) -> int | None:
    """The index of link `ifname` in the host's namespace, or None: if_nametoindex(3), one ioctl, a
    hash lookup in the kernel (pyroute2's link_lookup dumps every link and filters them here:
    with 1,000 containers, 2,000 links, ~7 ms a call)."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None


@_told("make the network's bridge")
def ensure_bridge(net: dict) -> int:
    """The network's bridge, made and given the gateway address if missing; its ifindex.
    route_localnet=1 on it: a published port is then reachable from the host's 127.0.0.1 (the
    DNAT'd packet leaves through the bridge with a loopback source, which the kernel drops otherwise)."""
    ipr = host()
    idx = link_index(net["bridge"])
    if idx is None:
        try:
            ipr.link("add", ifname=net["bridge"], kind="bridge")
        except Exception as e:  # noqa: BLE001 - NetlinkError(17): another lab's labkitd made it meanwhile
            if getattr(e, "code", None) != 17:
                raise
        idx = link_index(net["bridge"])
        prefix = int(net["subnet"].rsplit("/", 1)[1])
        try:
            ipr.addr("add", index=idx, address=net["gateway"], prefixlen=prefix)
        except Exception as e:  # noqa: BLE001
            if getattr(e, "code", None) != 17:
                raise
        ipr.link("set", index=idx, state="up")
        _sysctl(f"net/ipv4/conf/{net['bridge']}/route_localnet", "1")
    return idx


@_told("remove the network's bridge")
def remove_bridge(name: str) -> None:
    ipr = host()
    idx = link_index(name)
    if idx is not None:
        ipr.link("del", index=idx)


def veth_name(inst_prefix: str, cid: str, n: int) -> str:
    """The host end of container cid's n-th veth: "lk-3f9a0c1b2d0" (at most 15 characters)."""
    room = 15 - len(inst_prefix) - len(str(n))
    return f"{inst_prefix}{cid[:room]}{n}"


@_told("plug the container into its network (veth, address, route)")
def plug(nsfd: int, ep: dict, host_end: str, ifname: str = "eth0", default_route: bool = True) -> int:
    """A veth pair from the bridge of endpoint `ep` into the namespace nsfd, named `ifname` there,
    with the endpoint's address and MAC; `lo` up; the default route via the gateway. Returns the
    host end's index. Its messages are kernel/rtnetlink.py's (pyroute2's cost ~5 ms a start)."""
    br = ensure_bridge({"bridge": ep["bridge"], "gateway": ep["gateway"],
                        "subnet": f"{ep['gateway']}/{ep['prefix']}"})
    rt = rtnl()
    try:
        rt.add_veth(host_end, ifname, nsfd, ep["mac"])
    except OSError as e:
        if e.errno != errno.EEXIST:  # the same container's veth from its last run, whose namespace the
            raise                    # kernel is still tearing down (it does so asynchronously): remove it
        unplug(host_end)
        rt.add_veth(host_end, ifname, nsfd, ep["mac"])
    try:
        index = socket.if_nametoindex(host_end)
        rt.set_link(index, up=True, master=br)
        with rtnl_in_netns(nsfd, ifname) as (ns, idx):
            ns.set_link(1, up=True)  # lo is always index 1 in a new namespace
            ns.add_address(idx, ep["ip"], ep["prefix"])
            ns.set_link(idx, up=True)
            if default_route:
                ns.add_default_route(ep["gateway"])
    except BaseException:
        unplug(host_end)
        raise
    return index


@_told("guard the container's bridge port (a BPF classifier on its ingress)")
def guard_port(host_end: str, mac: str, ip: str) -> None:
    """network/guard.py's program on the host end's ingress: only frames from (mac, ip) pass."""
    from . import guard

    guard.attach(rtnl(), socket.if_nametoindex(host_end), mac, ip)


def unplug(host_end: str) -> None:
    """Delete the veth pair by its host end (the other end goes with it)."""
    ipr = host()
    idx = link_index(host_end)
    if idx is not None:
        try:
            ipr.link("del", index=idx)
        except Exception as e:  # noqa: BLE001 - NetlinkError(19): gone meanwhile (its namespace died)
            if getattr(e, "code", None) != 19:
                raise


def _sysctl(key: str, value: str) -> None:
    try:
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)
    except OSError:
        pass
