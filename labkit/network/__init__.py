"""Networks, as `docker network` has them: lk.network.create("backend"), .ls(), .inspect(),
.rm(), .connect(), .disconnect(), and .topology(), a drawing of it all.

    net = lk.network.create("backend")            # a bridge lk-br3f9a... on a free /24, 10.230.0.0/24
    lk.run("busybox", "sleep 600", name="db", network="backend", detach=True)
    lk.run("busybox", "ping -c1 db", network="backend")   # by name: db is in this container's /etc/hosts
    lk.network.topology()                         # bridges, veths, containers, addresses, ports

Reading (ls, inspect, topology) reads labkit's files and /sys/class/net: safe in a notebook.
Changing asks labkitd, which does the netlink and iptables work (runtime/daemon/network_ops.py).
"""

from __future__ import annotations

from ..paths import Instance, instance as current_instance
from . import networks as _records


class Network:
    """One network: its record ({"name", "id", "bridge", "subnet", "gateway", "endpoints"})."""

    def __init__(self, record: dict):
        self.record = record

    name = property(lambda self: self.record["name"])
    id = property(lambda self: self.record["id"])
    bridge = property(lambda self: self.record["bridge"])
    subnet = property(lambda self: self.record["subnet"])
    gateway = property(lambda self: self.record["gateway"])

    @property
    def containers(self) -> dict[str, str]:
        """container name -> its address on this network."""
        return {e["name"]: e["ip"] for e in self.record.get("endpoints", {}).values()}

    def port_rules(self, inst: Instance | None = None) -> dict[str, list[str]]:
        """container name -> what keeps it to its own MAC and address on its bridge port, as the
        kernel has it now (network/guard.py; a stopped container has no port, so nothing):
        {"web": ["tc filter ingress bpf direct-action labkit-guard 02:42:ac:1d:00:02 172.29.0.2",
                 "  0: r6 = r1   ; r6 = the frame ...", ...]}."""
        from ..runtime import state
        from . import attach, guard
        from .netlink import in_thread

        inst = inst or current_instance()
        ends = {}
        for cid, ep in self.record.get("endpoints", {}).items():
            rec = state.read(inst, cid) or {}
            mine = rec.get("networks", {}).get(self.name) or {}
            ifname = mine.get("ifname", "eth0")
            ends[ep["name"]] = (attach.veth_name(inst.link_prefix, cid, int(ifname[3:])), mine.get("mac"), mine.get("ip"))

        def read(ipr):
            out = {}
            for name, (end, mac, ip) in ends.items():
                idx = ipr.link_lookup(ifname=end)
                out[name] = guard.shown(ipr, idx[0], mac, ip) if idx else []
            return out

        return in_thread(read)

    def __repr__(self) -> str:
        return (f"<Network {self.name!r} bridge {self.bridge}, subnet {self.subnet}, gateway {self.gateway}, "
                f"{len(self.containers)} container(s)>")

    def _repr_html_(self) -> str:
        import html

        rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{ip}</td></tr>" for n, ip in sorted(self.containers.items()))
        return (f"<b>network {html.escape(self.name)}</b>: bridge <code>{self.bridge}</code>, subnet {self.subnet}, "
                f"gateway {self.gateway}<table><tr><th>container</th><th>address</th></tr>{rows}</table>")


def _call(op: str, inst: Instance | None, **args) -> dict:
    from ..runtime.client import labkitd

    return labkitd.call(op, inst=inst, **args)


def create(name: str, subnet: str | None = None, labels: dict | None = None, inst: Instance | None = None) -> Network:
    """`docker network create [--subnet 10.231.7.0/24] NAME`: a bridge and a subnet of its own."""
    _records.check_name(name)
    if subnet is not None:
        from .ipam import parse_subnet

        parse_subnet(subnet)  # refused here, before anything is sent
    return Network(_call("network_create", inst, name=name, subnet=subnet, labels=labels or {})["network"])


def rm(name: str, inst: Instance | None = None) -> None:
    """`docker network rm NAME`: refused while containers are on it."""
    _call("network_rm", inst, name=name)


def ls(inst: Instance | None = None) -> list[Network]:
    """The lab's networks (the default one appears once a container used it), and Docker's two modes."""
    return [Network(r) for r in _records.list_all(inst or current_instance())]


def inspect(name: str, inst: Instance | None = None) -> Network:
    inst = inst or current_instance()
    if name == _records.DEFAULT:
        _records.default_network(inst)  # made on first use
    return Network(_records.read(inst, name))


def connect(network: str, container: str, inst: Instance | None = None) -> dict:
    """`docker network connect NETWORK CONTAINER`: an address on it, and (if running) eth1 at once."""
    return _call("network_connect", inst, id=container, network=network)["endpoint"]


def disconnect(network: str, container: str, inst: Instance | None = None) -> None:
    _call("network_disconnect", inst, id=container, network=network)


def topology(inst: Instance | None = None):
    """A drawing of the lab's bridges, veths, containers, addresses and published ports, with the
    `ip` and `iptables` commands that would build the same by hand (network/drawing.py)."""
    from .drawing import Topology

    return Topology.read(inst or current_instance())
