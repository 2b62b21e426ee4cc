"""The firewall rules a lab's networks need, as text for `iptables-restore --noflush`. Pure: what
the rules are lives here, firewall.py applies them.

For the default lab with the default network and one published port (`-p 8080:80` to 172.29.0.2):

    *filter
    :labkit-FORWARD - [0:0]                              (declaring a chain empties it: the whole set is rewritten)
    -A labkit-FORWARD -i labkit0 -o lk-br3f9a0c1b2d -j DROP      (isolation: one network never reaches another)
    -A labkit-FORWARD -i labkit0 -j ACCEPT               (from the bridge: to the outside, or a container next to it)
    -A labkit-FORWARD -o labkit0 -j ACCEPT               (to the bridge: answers, and published ports)
    COMMIT
    *nat
    :labkit-POSTROUTING - [0:0]
    -A labkit-POSTROUTING -s 172.29.0.0/16 ! -o labkit0 -j MASQUERADE   (outbound NAT: leave with the host's address)
    -A labkit-POSTROUTING -s 127.0.0.0/8 -o labkit0 -j MASQUERADE      (a port reached from the host's loopback)
    :labkit-DNAT - [0:0]
    -A labkit-DNAT -p tcp --dport 8080 -j DNAT --to-destination 172.29.0.2:80   (a published port)
    COMMIT
    *raw
    :labkit-PREROUTING - [0:0]
    -A labkit-PREROUTING -d 127.0.0.0/8 ! -i lo -j DROP    (the host's loopback is reached from the host alone)
    COMMIT

and, once, the jumps into them from the kernel's own chains (JUMPS): FORWARD, POSTROUTING, and
PREROUTING and OUTPUT for packets to one of the host's own addresses (OUTPUT: from the host itself,
127.0.0.1 included), and raw PREROUTING. Every chain carries the lab's tag, so `labkit reset` finds
them by name.

Why the raw rule (CVE-2020-8558, kube-proxy's; moby#41872, Docker's): route_localnet=1 on each
bridge lets a published port answer on the host's 127.0.0.1 (the DNAT'd packet leaves through the
bridge with a loopback source). It also makes the kernel accept, on that bridge, a frame a container
addresses to 127.0.0.1 by hand (a raw socket: NET_RAW is a default capability), and so reach
JupyterLab or the Docker API on the host's loopback. And a neighbour on the VM's network can send a
frame to 127.0.0.1:8081 that nat PREROUTING DNATs to a port published on 127.0.0.1 only, before the
kernel's martian check ever sees it. The raw table runs before connection tracking and NAT, on the
address the frame carries: a packet for 127.0.0.0/8 that did not come from lo never came from this
host, and is dropped. The host's own use is untouched: its packets travel on lo, and the answers of a
published port come back to the bridge's address (MASQUERADE), not to 127.0.0.1.
"""

from __future__ import annotations


def chains(tag: str) -> dict[str, str]:
    """The lab's chain names, e.g. {"forward": "labkit-FORWARD", ...}: at most 28 characters
    (iptables' limit): the longest tag, "labkit.3f9c0a1b", leaves 12."""
    return {"forward": f"{tag}-FORWARD", "postrouting": f"{tag}-POSTROUTING", "dnat": f"{tag}-DNAT",
            "raw": f"{tag}-PREROUTING"}


def jumps(tag: str) -> list[tuple[str, list[str]]]:
    """(table, rule) of each jump from a built-in chain into the lab's chains."""
    c = chains(tag)
    local = ["-m", "addrtype", "--dst-type", "LOCAL"]
    return [("filter", ["FORWARD", "-j", c["forward"]]),
            ("nat", ["POSTROUTING", "-j", c["postrouting"]]),
            ("nat", ["PREROUTING", *local, "-j", c["dnat"]]),
            ("nat", ["OUTPUT", *local, "-j", c["dnat"]]),
            ("raw", ["PREROUTING", "-j", c["raw"]])]


def ruleset(tag: str, networks: list[dict], ports: list[dict]) -> str:
    """The text for iptables-restore --noflush. networks: records ({"bridge", "subnet"}); ports:
    {"proto": "tcp", "host_ip": "" or "127.0.0.1", "host_port": 8080, "ip": "172.29.0.2", "port": 80}."""
    c = chains(tag)
    bridges = [n["bridge"] for n in networks]
    lines = ["*filter", f":{c['forward']} - [0:0]"]
    for a in bridges:
        for b in bridges:
            if a != b:
                lines.append(f"-A {c['forward']} -i {a} -o {b} -j DROP")
    for b in bridges:
        lines += [f"-A {c['forward']} -i {b} -j ACCEPT", f"-A {c['forward']} -o {b} -j ACCEPT"]
    lines += ["COMMIT", "*nat", f":{c['postrouting']} - [0:0]"]
    for n in networks:
        lines.append(f"-A {c['postrouting']} -s {n['subnet']} ! -o {n['bridge']} -j MASQUERADE")
        lines.append(f"-A {c['postrouting']} -s 127.0.0.0/8 -o {n['bridge']} -j MASQUERADE")
    lines.append(f":{c['dnat']} - [0:0]")
    for p in ports:
        dest = f"-d {p['host_ip']}/32 " if p.get("host_ip") else ""
        lines.append(f"-A {c['dnat']} {dest}-p {p['proto']} -m {p['proto']} --dport {p['host_port']} "
                     f"-j DNAT --to-destination {p['ip']}:{p['port']}")
    lines += ["COMMIT", "*raw", f":{c['raw']} - [0:0]", f"-A {c['raw']} -d 127.0.0.0/8 ! -i lo -j DROP", "COMMIT"]
    return "\n".join(lines) + "\n"


def by_hand(tag: str, networks: list[dict], ports: list[dict]) -> list[str]:
    """The same rules as `iptables` commands one would type (for topology() and the notebooks)."""
    out = [f"iptables -t {table} -N {rule[-1]}" for table, rule in jumps(tag)[:2]] + [f"iptables -t nat -N {chains(tag)['dnat']}",
                                                                                    f"iptables -t raw -N {chains(tag)['raw']}"]
    table = ""
    for line in ruleset(tag, networks, ports).splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A "):
            out.append(f"iptables -t {table} {line}")
    out += [f"iptables -t {table} -A {' '.join(rule)}" for table, rule in jumps(tag)]
    return out
