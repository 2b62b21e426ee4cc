"""Step 3 of the seed's `docker run` flow, in labkitd: a container's network, from create to rm.

    create   take an address on each network (network/networks.py), write the bundle's
             hostname, hosts and resolv.conf, bind them over the image's (network/etc_files.py)
    start    a network namespace with eth0 on the bridge (network/attach.py), which PID 1 joins;
             the firewall's NAT and published ports (network/firewall.py, rules.py)
    exit     nothing: the namespace dies with the last process, and its veth with it; only a
             container that published ports has its DNAT rules taken out
    rm       the addresses go back to the pool; the other containers' /etc/hosts forget it

The record keeps what was chosen: rec["network_mode"] ("bridge", "host", "none", "container:<id>"
or a network's name), rec["networks"] {name: endpoint}, rec["ports"] [published port, ...].
"""

from __future__ import annotations

import errno
import os
import socket
import traceback

from ...errors import Conflict, InvalidArgument
from ...network import attach, etc_files, firewall, networks
from ...network import ports as ports_mod
from .. import state


def prepare(inst, cid: str, name: str, mode: str, ports: list[dict], hostname: str, bundle, config: dict) -> dict:
    """At create: addresses, the three files and their mounts, the namespace list. Returns the
    record's network fields. Undo with release() if a later step fails."""
    fields = {"network_mode": mode, "networks": {}, "ports": []}
    ns = config["linux"]["namespaces"]
    if mode == "host":
        if ports:
            raise InvalidArgument("error.runtime.published-ports-mean-nothing")
        config["linux"]["namespaces"] = [n for n in ns if n["type"] != "network"]
        hostname = socket.gethostname()
        config["hostname"] = hostname
    elif mode == "none" or mode.startswith("container:"):
        if ports:
            raise InvalidArgument("error.runtime.published-ports-need-network", mode=mode)
        if mode.startswith("container:"):
            other = state.resolve(inst, mode.partition(":")[2])
            fields["network_mode"] = f"container:{other}"
    else:
        ep = dict(networks.allocate(inst, mode, cid, name), ifname="eth0")
        fields["networks"][mode] = ep
        fields["ports"] = [dict(p, ip=ep["ip"]) for p in ports]
    write_files(inst, cid, name, hostname, fields, bundle)
    config["mounts"] += etc_files.mounts(bundle)
    if fields["networks"]:
        refresh_peers(inst, mode)
    return fields


def write_files(inst, cid: str, name: str, hostname: str, fields: dict, bundle) -> None:
    mode = fields["network_mode"]
    if mode.startswith("container:"):  # its files are the other container's
        other = state.bundle_dir(inst, mode.partition(":")[2])
        for f in etc_files.FILES:
            try:
                etc_files.write_in_place(os.path.join(bundle, f), open(os.path.join(other, f)).read())
            except OSError:
                etc_files.write_in_place(os.path.join(bundle, f), "")
        return
    if mode == "host":
        etc_files.write_in_place(os.path.join(bundle, "hostname"), etc_files.hostname_text(hostname))
        etc_files.write_in_place(os.path.join(bundle, "hosts"), open("/etc/hosts").read() if os.path.exists("/etc/hosts") else "")
        etc_files.write_in_place(os.path.join(bundle, "resolv.conf"), etc_files.resolv_text())
        return
    etc_files.write_in_place(os.path.join(bundle, "hostname"), etc_files.hostname_text(hostname))
    etc_files.write_in_place(os.path.join(bundle, "resolv.conf"), etc_files.resolv_text())
    write_hosts(inst, cid, name, hostname, fields["networks"], bundle)


def write_hosts(inst, cid: str, name: str, hostname: str, eps: dict, bundle) -> None:
    peers = {}
    for net in eps:
        if net == networks.DEFAULT:
            continue  # as Docker: no names on the default network
        try:
            members = networks.peers(inst, net)
        except Exception:  # noqa: BLE001 - a network removed meanwhile
            continue
        peers[net] = sorted((e["ip"], e["name"]) for other, e in members.items() if other != cid and e.get("name"))
    etc_files.write_in_place(os.path.join(bundle, "hosts"),
                             etc_files.hosts_text(hostname, name, [e["ip"] for e in eps.values()], peers))


def refresh_peers(inst, net: str) -> None:
    """Rewrite /etc/hosts of every container on network `net` (one joined or left)."""
    if net == networks.DEFAULT:
        return
    try:
        members = networks.peers(inst, net)
    except Exception:  # noqa: BLE001
        return
    for cid in members:
        rec = state.read(inst, cid)
        if rec is not None:
            rewrite_hosts(inst, rec)


def rewrite_hosts(inst, rec: dict) -> None:
    """Rewrite one container's /etc/hosts from its record (its networks now)."""
    bundle = state.bundle_dir(inst, rec["id"])
    if not (bundle / "hosts").exists():
        return
    hostname = (bundle / "hostname").read_text().strip() if (bundle / "hostname").exists() else rec["id"][:12]
    write_hosts(inst, rec["id"], rec.get("name", ""), hostname, rec.get("networks", {}), bundle)


def netns_for_start(inst, rec: dict, live: dict) -> int | None:
    """The network namespace PID 1 is to join (a descriptor the caller closes), or None for the
    kinds PID 1 makes itself ("none") or has none of ("host")."""
    mode = rec.get("network_mode", "none")
    if mode in ("none", "host"):
        return None
    if mode.startswith("container:"):
        other = mode.partition(":")[2]
        lv = live.get(other)
        orec = state.read(inst, other)
        if lv is None or orec is None:
            raise Conflict("error.runtime.network-container-running", mode_22=mode[:22])
        return os.open(f"/proc/{lv.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    nsfd = attach.new_netns()
    try:
        fresh = False
        for net, ep in rec.get("networks", {}).items():
            if attach.link_index(ep["bridge"]) is None:
                fresh = True
            n = int(ep.get("ifname", "eth0")[3:])
            attach.plug(nsfd, ep, attach.veth_name(inst.link_prefix, rec["id"], n), f"eth{n}", default_route=(n == 0))
            guard(inst, rec["id"], ep)  # before PID 1 exists: it never sends unguarded
        if fresh or rec.get("ports"):
            apply_firewall(inst, live, extra=rec)
    except BaseException:
        os.close(nsfd)  # its veths die with the namespace, and their guards with them
        raise
    return nsfd


def links_left(inst, rec: dict) -> "LinksLeft":
    """At an exit: its veths' host ends still there, as (name, index). The kernel deletes them when the
    container's network namespace goes, in a worker of its own, and never while anything holds the
    namespace (seen: a capstone container's veth still there 10 s after its removal)."""
    left = []
    for ep in (rec.get("networks") or {}).values():
        name = _host_end(inst, rec["id"], ep)
        try:
            left.append((name, socket.if_nametoindex(name)))
        except OSError:
            pass  # gone already
    return LinksLeft(left)


class LinksLeft(list):
    def delete(self) -> None:
        """A while after the exit: delete those the kernel has not. By index: a restarted container's
        new veth has the same name and another index. Not at once: deleting a veth waits for the
        kernel's RCU grace period (~30 ms here), which the kernel's own clean-up spends for many."""
        for name, index in self:
            try:
                if socket.if_nametoindex(name) != index:
                    continue
            except OSError:  # "no interface with this name" (no errno): the kernel took it
                continue
            try:
                attach.rtnl().delete_link(index)
            except OSError as e:
                if e.errno not in (errno.ENODEV, errno.ENXIO):  # gone meanwhile: nothing to do
                    traceback.print_exc()


def _host_end(inst, cid: str, ep: dict) -> str:
    return attach.veth_name(inst.link_prefix, cid, int(ep.get("ifname", "eth0")[3:]))


def guard(inst, cid: str, ep: dict) -> None:
    """Its veth's host end lets through only frames from its own MAC and address (network/guard.py:
    a BPF program on the port, which goes with the veth when the container stops or leaves)."""
    attach.guard_port(_host_end(inst, cid, ep), ep["mac"], ep["ip"])


def apply_firewall(inst, live: dict, extra: dict | None = None, without: str | None = None) -> None:
    """Rewrite the lab's rules from its networks and the published ports of its running containers
    (plus `extra`, starting now; minus `without`, exiting now)."""
    ports = []
    for cid in live:
        if cid == without:
            continue
        rec = state.read(inst, cid)
        if rec is not None:
            ports += rec.get("ports", [])
    if extra is not None and extra["id"] not in live:
        ports += extra.get("ports", [])
    nets = [n for n in networks.list_all(inst, endpoints=False) if attach.link_index(n["bridge"]) is not None]
    firewall.apply(inst.tag, nets, ports)


def release(inst, cid: str, names: list[str] | None = None) -> None:
    """At rm (and when a create fails): the addresses back to the pool, the peers told. names: the
    networks its record lists (none for --network none: nothing to read); None: look in every one."""
    if names is not None and not names:
        return
    for net in (networks.release(inst, cid) if names is None else
                [n for name in names for n in networks.release(inst, cid, name)]):
        refresh_peers(inst, net)


def check_ports_free(inst, ports: list[dict], live: dict, cid: str) -> None:
    """A host port another running container of the lab publishes already is refused at start,
    as docker refuses it ("port is already allocated"). Nothing to read for a container that
    publishes none (most): the others' records are read only then."""
    if not ports:
        return
    mine = {(p["proto"], p["host_port"]) for p in ports}
    for other in live:
        if other == cid:
            continue
        rec = state.read(inst, other)
        for p in (rec or {}).get("ports", []):
            if (p["proto"], p["host_port"]) in mine:
                raise Conflict("error.runtime.host-port-already-published", p_host_port=p['host_port'], p_proto=p['proto'], get=rec.get('name', other[:12]))
    for p in ports:
        ports_mod.check_host_port_free(p)

