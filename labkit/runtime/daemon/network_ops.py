"""labkitd's network operations: `labkit network create|rm|connect|disconnect`. The records are
files (network/networks.py) any client may read; what touches the kernel (bridges, veths,
iptables) is done here, in the daemon, never in a notebook's kernel (pyroute2's sync API fails
under a running asyncio loop, and its namespace helper forks, which a threaded kernel must not).
"""

from __future__ import annotations

import os

from ...errors import Conflict
from ...network import attach, networks
from .. import state
from . import networking


class NetworkService:
    """The container service's networks part (service.py): both protocols' network verbs."""

    def __init__(self, svc):
        self.svc = svc
        self.inst = svc.inst

    def create(self, name, subnet=None, labels=None) -> dict:
        net = networks.create(self.inst, name, subnet=subnet, labels=labels)
        try:
            attach.ensure_bridge(net)  # made now, as Docker does: `ip link` shows it at once
            networking.apply_firewall(self.inst, self.svc.live)
        except BaseException:
            networks.remove(self.inst, net["name"])
            attach.remove_bridge(net["bridge"])
            raise
        return net

    def remove(self, name) -> dict:
        net = networks.remove(self.inst, name)
        attach.remove_bridge(net["bridge"])
        networking.apply_firewall(self.inst, self.svc.live)
        return net

    def connect(self, ident: str, network) -> dict:
        """Connect a container to one more network: an address now, and if it runs, a veth (eth1, ...)
        into its namespace at once, as `docker network connect` does."""
        cid, rec = self.svc.get(ident)
        name = networks.check_name(network)
        mode = rec.get("network_mode", "none")
        if mode in ("host", "none") or mode.startswith("container:"):
            raise Conflict("error.runtime.container-has-network-has", rec_name=rec['name'], split_0=mode.split(':')[0])
        ep = networks.allocate(self.inst, name, cid, rec["name"])
        taken = {e.get("ifname") for e in rec.get("networks", {}).values()}
        n = next(i for i in range(len(taken) + 1) if f"eth{i}" not in taken)
        ep["ifname"] = f"eth{n}"
        try:
            eps = dict(rec.get("networks", {}), **{name: ep})
            if cid in self.svc.live:
                nsfd = os.open(f"/proc/{self.svc.live[cid].pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    attach.plug(nsfd, ep, attach.veth_name(self.inst.link_prefix, cid, n), f"eth{n}", default_route=False)
                    networking.guard(self.inst, cid, ep)
                finally:
                    os.close(nsfd)
                networking.apply_firewall(self.inst, self.svc.live)
        except BaseException:
            networks.release(self.inst, cid, name)
            raise
        rec["networks"] = eps
        state.write(self.inst, rec)
        networking.refresh_peers(self.inst, name)
        networking.rewrite_hosts(self.inst, rec)
        return {"id": cid, "endpoint": ep}

    def disconnect(self, ident: str, name) -> dict:
        cid, rec = self.svc.get(ident)
        eps = dict(rec.get("networks", {}))
        if name not in eps:
            raise Conflict("error.runtime.container-network", rec_name=rec['name'], name=name)
        if cid in self.svc.live:
            attach.unplug(attach.veth_name(self.inst.link_prefix, cid, int(eps[name].get("ifname", "eth0")[3:])))
        networks.release(self.inst, cid, name)
        del eps[name]
        rec["networks"] = eps
        rec["ports"] = [p for p in rec.get("ports", []) if p["ip"] in {e["ip"] for e in eps.values()}]
        state.write(self.inst, rec)
        networking.refresh_peers(self.inst, name)
        networking.rewrite_hosts(self.inst, rec)
        if cid in self.svc.live:
            networking.apply_firewall(self.inst, self.svc.live)
        return {"id": cid}
