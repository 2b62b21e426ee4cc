"""lk.network.topology(): what the lab's networks look like, drawn, and how to build it by hand.

    host (127.0.0.1, eth0 ...)
     └─ bridge labkit0  172.29.0.1/16   network "bridge"
         ├─ lk-3f9a0c1b2d0 ⇄ eth0  172.29.0.2   web   (running)   8080/tcp -> 80
         └─ lk-77b01e9c4a0 ⇄ eth0  172.29.0.3   db    (exited)

In a notebook it is an SVG drawing (the host on top, a bar per bridge, a box per container, the
veth pairs as lines, published ports at the host's edge); `.commands` lists the `ip` and `iptables`
commands that would make the same. Read from labkit's records and /sys/class/net only: no netlink,
so it is safe in a Jupyter kernel.
"""

from __future__ import annotations

import html
import os

from ..paths import Instance
from .networks import list_all
from .rules import by_hand


class Topology:
    def __init__(self, inst: Instance, nets: list[dict], containers: list[dict]):
        self.inst, self.networks, self.containers = inst, nets, containers

    @classmethod
    def read(cls, inst: Instance) -> "Topology":
        from ..runtime import state

        recs = state.read_all(inst, {})
        return cls(inst, list_all(inst), [r for r in recs if r.get("networks") or r.get("network_mode")])

    def _members(self, net: dict) -> list[tuple[dict, dict]]:
        out = []
        for rec in self.containers:
            ep = rec.get("networks", {}).get(net["name"])
            if ep:
                out.append((rec, ep))
        return sorted(out, key=lambda m: tuple(int(x) for x in m[1]["ip"].split(".")))

    def veth(self, rec: dict, ep: dict) -> str:
        from .attach import veth_name

        return veth_name(self.inst.link_prefix, rec["id"], int(ep.get("ifname", "eth0")[3:]))

    @staticmethod
    def link_up(name: str) -> bool:
        return os.path.exists(f"/sys/class/net/{name}")

    @property
    def ports(self) -> list[dict]:
        return [p for rec in self.containers if rec.get("status") in ("running", "paused") for p in rec.get("ports", [])]

    @property
    def commands(self) -> list[str]:
        """The same network by hand: `ip` for the links and addresses, `iptables` for NAT and ports."""
        out = []
        for net in self.networks:
            prefix = net["subnet"].rsplit("/", 1)[1]
            out += [f"ip link add {net['bridge']} type bridge",
                    f"ip addr add {net['gateway']}/{prefix} dev {net['bridge']}",
                    f"ip link set {net['bridge']} up"]
            for rec, ep in self._members(net):
                ns, veth, ifname = rec["name"], self.veth(rec, ep), ep.get("ifname", "eth0")
                out += [f"ip netns add {ns}",
                        f"ip link add {veth} type veth peer name {ifname} netns {ns}",
                        f"ip link set {veth} master {net['bridge']} up",
                        f"ip -n {ns} link set lo up",
                        f"ip -n {ns} addr add {ep['ip']}/{prefix} dev {ifname}",
                        f"ip -n {ns} link set {ifname} address {ep['mac']} up"]
                if ifname == "eth0":
                    out.append(f"ip -n {ns} route add default via {net['gateway']}")
        return out + by_hand(self.inst.tag, self.networks, self.ports)

    def __repr__(self) -> str:
        from ..catalog import text

        lines = [text("shown", "host")]
        for i, net in enumerate(self.networks):
            last_net = i == len(self.networks) - 1
            state = "" if self.link_up(net["bridge"]) else f"  ({text('shown', 'bridge-not-made')})"
            lines.append(f" {'└' if last_net else '├'}─ bridge {net['bridge']}  {net['gateway']}/{net['subnet'].rsplit('/', 1)[1]}"
                         f"   network {net['name']!r}{state}")
            members = self._members(net)
            for j, (rec, ep) in enumerate(members):
                ports = ", ".join(f"{p['host_port']}/{p['proto']} -> {p['port']}" for p in rec.get("ports", [])
                                  if p.get("ip") == ep["ip"])
                lines.append(f" {' ' if last_net else '│'}   {'└' if j == len(members) - 1 else '├'}─ {self.veth(rec, ep)} ⇄ "
                             f"{ep.get('ifname', 'eth0')}  {ep['ip']:<15} {rec['name']:<20} ({rec.get('status', '?')})"
                             f"{'   ' + ports if ports else ''}")
        others = [r for r in self.containers if not r.get("networks")]
        for rec in others:
            lines.append(f" · {rec['name']}: --network {rec.get('network_mode', 'none')}")
        if len(lines) == 1:
            lines.append(f" ({text('shown', 'no-networks')})")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from ..catalog import text

        return self.svg() + f"<details><summary>{html.escape(text('shown', 'by-hand'))}</summary><pre>" + html.escape(
            "\n".join(self.commands)) + "</pre></details>"

    def svg(self) -> str:
        """The drawing: the host on top; a bar per bridge; a box per container under it, joined by its veth pair."""
        box_w, box_h, gap = 170, 58, 20
        widest = max([len(self._members(n)) for n in self.networks] + [1])
        width = max(560, widest * (box_w + gap) + gap)
        parts, y = [], 10
        e = html.escape
        published = ", ".join(f"{p.get('host_ip') or '0.0.0.0'}:{p['host_port']}/{p['proto']} → {p['ip']}:{p['port']}"
                              for p in self.ports) or "no published ports"
        parts.append(f"<rect x='10' y='{y}' width='{width - 20}' height='34' rx='6' fill='#eef3fb' stroke='#4a6fa5'/>"
                     f"<text x='20' y='{y + 22}' font-size='13'><tspan font-weight='bold'>host</tspan> {e(published)}</text>")
        y += 50
        for net in self.networks:
            members = self._members(net)
            up = self.link_up(net["bridge"])
            parts.append(f"<line x1='{width // 2}' y1='{y - 16}' x2='{width // 2}' y2='{y}' stroke='#888'/>"
                         f"<rect x='10' y='{y}' width='{width - 20}' height='26' rx='4' fill='{'#fdf0d5' if up else '#eee'}' stroke='#c08a1e'/>"
                         f"<text x='20' y='{y + 18}' font-size='13'><tspan font-weight='bold'>{e(net['bridge'])}</tspan> "
                         f"{net['gateway']}/{net['subnet'].rsplit('/', 1)[1]} — network “{e(net['name'])}”"
                         f"{'' if up else ' (not made yet)'}</text>")
            y += 26
            for j, (rec, ep) in enumerate(members):
                x = gap + j * (box_w + gap)
                color = "#e3f4e1" if rec.get("status") in ("running", "paused") else "#f2f2f2"
                parts.append(f"<line x1='{x + box_w // 2}' y1='{y}' x2='{x + box_w // 2}' y2='{y + 30}' stroke='#555' stroke-dasharray='4 2'/>"
                             f"<text x='{x + box_w // 2 + 4}' y='{y + 14}' font-size='10' fill='#555'>{e(self.veth(rec, ep))}</text>"
                             f"<text x='{x + box_w // 2 + 4}' y='{y + 27}' font-size='10' fill='#555'>⇅ {e(ep.get('ifname', 'eth0'))}</text>"
                             f"<rect x='{x}' y='{y + 30}' width='{box_w}' height='{box_h}' rx='6' fill='{color}' stroke='#3a7d44'/>"
                             f"<text x='{x + 8}' y='{y + 48}' font-size='12' font-weight='bold'>{e(rec['name'][:22])}</text>"
                             f"<text x='{x + 8}' y='{y + 64}' font-size='11'>{ep['ip']}</text>"
                             f"<text x='{x + 8}' y='{y + 79}' font-size='10' fill='#666'>{e(rec.get('status', '?'))}</text>")
            y += (box_h + 46) if members else 20
        return f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{y + 10}' font-family='sans-serif'>{''.join(parts)}</svg>"
