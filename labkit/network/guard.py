"""Each container to its own addresses: a BPF program on its bridge port, as the kernel runs it.

On a bridge, a container with NET_RAW (a default capability) can send any frame: another container's
IP as its source, or a gratuitous ARP that moves the host's neighbour entry for another address to
its own MAC (as on Docker's bridge). So the host end of each container's veth gets a classifier on
its ingress (what the container sends), before the bridge sees the frame:

    tc qdisc add dev lk-3f9a0c1b2d0 ingress
    tc filter add dev lk-3f9a0c1b2d0 ingress bpf direct-action obj <program below>

and the program lets through IPv4 from its own MAC and address, and ARP that says the same, and
drops everything else (IPv6, VLAN tags, other MACs and addresses):

      0: r6 = r1                      ; the frame (struct __sk_buff)
      1: r0 = *(u32 *)(r6 + 0)        ; its length
      2: if r0 < 34 goto drop         ; shorter than Ethernet + IPv4
      3: r0 = ntohs(frame[12])        ; EtherType
      ...                             ; IPv4: Ethernet source == its MAC, IP source == its address
      ...                             ; ARP: Ethernet source, sender MAC and sender IP the same
     27: r0 = 0 (TC_ACT_OK); exit     ; 29: r0 = 2 (TC_ACT_SHOT); exit

Why BPF on the port and not ebtables rules in a chain: a chain is walked by every frame of every
container (3 rules each: at 1,000 containers, 3,000), and each change rewrites a table that grows
with them (ebtables-nft: ~5 ms at 10 containers, ~16 ms at 1,000 measured here). A program per
port costs the same with one container or a thousand, and dies with its veth: nothing to remove.
Attached over netlink by labkitd (kernel/rtnetlink.py), loaded by bpf(2) (kernel/syscalls.py).
"""

from __future__ import annotations

import ipaddress
import os

from ..kernel import syscalls as sc
from ..security.devices import assemble  # struct bpf_insn[], the same encoding as the device program's

BPF_PROG_TYPE_SCHED_CLS = 3
TC_ACT_OK, TC_ACT_SHOT = 0, 2
TCA_BPF_FLAG_ACT_DIRECT = 1
NAME = "labkit-guard"  # the filter's name, then its MAC and address: "labkit-guard 02:42:ac:1d:00:02 172.29.0.2"

# struct bpf_insn { __u8 code; __u8 dst_reg:4, src_reg:4; __s16 off; __s32 imm; }
MOV_X, MOV_K, LDX_W, LD_ABS_H, LD_ABS_W = 0xBF, 0xB7, 0x61, 0x28, 0x20
JLT_K, JEQ32_K, JNE32_K, JA, EXIT = 0xA5, 0x16, 0x56, 0x05, 0x95
ETH_P_IP, ETH_P_ARP = 0x0800, 0x0806


def _s32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


def program(mac: str, ip: str) -> list[tuple[int, int, int, int, int, str]]:
    """The instructions (code, dst, src, off, imm, comment) for the port of MAC `mac` and address
    `ip`. Loads are the classic LD_ABS (network order, turned to the host's); compares are 32-bit
    (JMP32), so an address above 2**31 compares as itself."""
    m = bytes.fromhex(mac.replace(":", ""))
    hi, lo = int.from_bytes(m[:4], "big"), int.from_bytes(m[4:], "big")
    addr = int(ipaddress.IPv4Address(ip))
    drop = "drop"  # jump targets by label, resolved below
    same_mac = [(LD_ABS_W, 0, 0, 0, 6, "r0 = Ethernet source, first 4 bytes"),
                (JNE32_K, 0, 0, drop, _s32(hi), f"not {mac}? drop"),
                (LD_ABS_H, 0, 0, 0, 10, "r0 = Ethernet source, last 2 bytes"),
                (JNE32_K, 0, 0, drop, lo, f"not {mac}? drop")]
    prog = [(MOV_X, 6, 1, 0, 0, "r6 = the frame (LD_ABS reads through r6)"),
            (LDX_W, 0, 6, 0, 0, "r0 = its length"),
            (JLT_K, 0, 0, drop, 34, "shorter than Ethernet + IPv4? drop"),
            (LD_ABS_H, 0, 0, 0, 12, "r0 = EtherType"),
            (JEQ32_K, 0, 0, "ipv4", ETH_P_IP, "IPv4?"),
            (JNE32_K, 0, 0, drop, ETH_P_ARP, "not ARP either? drop"),
            (LDX_W, 0, 6, 0, 0, "ARP: r0 = the length"),
            (JLT_K, 0, 0, drop, 42, "shorter than Ethernet + ARP? drop"),
            *same_mac,
            (LD_ABS_W, 0, 0, 0, 22, "r0 = ARP sender MAC, first 4 bytes"),
            (JNE32_K, 0, 0, drop, _s32(hi), f"not {mac}? drop"),
            (LD_ABS_H, 0, 0, 0, 26, "r0 = ARP sender MAC, last 2 bytes"),
            (JNE32_K, 0, 0, drop, lo, f"not {mac}? drop"),
            (LD_ABS_W, 0, 0, 0, 28, "r0 = ARP sender address"),
            (JNE32_K, 0, 0, drop, _s32(addr), f"not {ip}? drop"),
            (JA, 0, 0, "ok", 0, "its own ARP: let it through"),
            ("ipv4",),
            *same_mac,
            (LD_ABS_W, 0, 0, 0, 26, "r0 = IPv4 source address"),
            (JNE32_K, 0, 0, drop, _s32(addr), f"not {ip}? drop"),
            ("ok",),
            (MOV_K, 0, 0, 0, TC_ACT_OK, "TC_ACT_OK: on to the bridge"),
            (EXIT, 0, 0, 0, 0, "return r0"),
            ("drop",),
            (MOV_K, 0, 0, 0, TC_ACT_SHOT, "TC_ACT_SHOT: dropped"),
            (EXIT, 0, 0, 0, 0, "return r0")]
    return _resolved(prog, jumps=(3,))


def _resolved(prog, jumps: tuple[int, ...]) -> list[tuple]:
    """Instructions with ("label",) lines among them, their jump fields (at the positions `jumps`)
    naming labels: each label becomes the offset the kernel wants, from the next instruction."""
    labels, out = {}, []
    for ins in prog:
        if len(ins) == 1:
            labels[ins[0]] = len(out)
        else:
            out.append(ins)
    return [tuple(labels[v] - i - 1 if f in jumps and isinstance(v, str) else v for f, v in enumerate(ins))
            for i, ins in enumerate(out)]


def listing(prog) -> list[str]:
    """The program in the kernel's notation, one line per instruction, as `labkit network inspect` shows it."""
    text = {MOV_X: "r{d} = r{s}", MOV_K: "r{d} = {imm}", LDX_W: "r{d} = *(u32 *)(r{s} + {off})",
            LD_ABS_H: "r0 = ntohs(*(u16 *)(frame + {imm}))", LD_ABS_W: "r0 = ntohl(*(u32 *)(frame + {imm}))",
            JLT_K: "if r{d} < {imm} goto +{off}", JEQ32_K: "if w{d} == {uimm:#x} goto +{off}",
            JNE32_K: "if w{d} != {uimm:#x} goto +{off}", JA: "goto +{off}", EXIT: "exit"}
    return [f"{i:3d}: " + f"{text[c].format(d=d, s=s, off=off, imm=imm, uimm=imm & 0xFFFFFFFF):<36} ; {note}"
            for i, (c, d, s, off, imm, note) in enumerate(prog)]


# -- the same checks as a classic program, for root of a user namespace (host/where.py) ----------------
# bpf(2) needs the host's CAP_BPF/CAP_SYS_ADMIN, which an unprivileged container's root lacks; a classic
# program is checked and converted by the kernel itself and attached over netlink alone. In
# direct-action it returns the verdict as the eBPF one does: TC_ACT_OK, or TC_ACT_SHOT to drop.
# struct sock_filter { __u16 code; __u8 jt; __u8 jf; __u32 k; }
C_LD_LEN, C_LDH_ABS, C_LD_ABS, C_JEQ_K, C_JGE_K, C_RET_K = 0x80, 0x28, 0x20, 0x15, 0x35, 0x06
CLASSIC = NAME + "-classic"  # its filter's name: "labkit-guard-classic 02:42:ac:1d:00:02 172.29.0.2"


def classic_program(mac: str, ip: str) -> list[tuple[int, int | str, int | str, int, str]]:
    """(code, jt, jf, k, comment): the eBPF program's checks, jumps by label resolved below."""
    m = bytes.fromhex(mac.replace(":", ""))
    hi, lo = int.from_bytes(m[:4], "big"), int.from_bytes(m[4:], "big")
    addr = int(ipaddress.IPv4Address(ip))
    same_mac = [(C_LD_ABS, 0, 0, 6, "A = Ethernet source, first 4 bytes"),
                (C_JEQ_K, 0, "drop", hi, f"not {mac}? drop"),
                (C_LDH_ABS, 0, 0, 10, "A = Ethernet source, last 2 bytes"),
                (C_JEQ_K, 0, "drop", lo, f"not {mac}? drop")]
    prog = [(C_LD_LEN, 0, 0, 0, "A = the frame's length"),
            (C_JGE_K, 0, "drop", 34, "shorter than Ethernet + IPv4? drop"),
            (C_LDH_ABS, 0, 0, 12, "A = EtherType"),
            (C_JEQ_K, "ipv4", 0, ETH_P_IP, "IPv4?"),
            (C_JEQ_K, 0, "drop", ETH_P_ARP, "not ARP either? drop"),
            (C_LD_LEN, 0, 0, 0, "ARP: A = the length"),
            (C_JGE_K, 0, "drop", 42, "shorter than Ethernet + ARP? drop"),
            *same_mac,
            (C_LD_ABS, 0, 0, 22, "A = ARP sender MAC, first 4 bytes"),
            (C_JEQ_K, 0, "drop", hi, f"not {mac}? drop"),
            (C_LDH_ABS, 0, 0, 26, "A = ARP sender MAC, last 2 bytes"),
            (C_JEQ_K, 0, "drop", lo, f"not {mac}? drop"),
            (C_LD_ABS, 0, 0, 28, "A = ARP sender address"),
            (C_JEQ_K, "ok", "drop", addr, "its own ARP? through; else drop"),
            ("ipv4",),
            *same_mac,
            (C_LD_ABS, 0, 0, 26, "A = IPv4 source address"),
            (C_JEQ_K, "ok", "drop", addr, f"from {ip}? through; else drop"),
            ("ok",),
            (C_RET_K, 0, 0, TC_ACT_OK, "TC_ACT_OK: on to the bridge"),
            ("drop",),
            (C_RET_K, 0, 0, TC_ACT_SHOT, "TC_ACT_SHOT: dropped")]
    return _resolved(prog, jumps=(1, 2))


def classic_bytes(prog) -> bytes:
    import struct

    return b"".join(struct.pack("=HBBI", c, jt, jf, k & 0xFFFFFFFF) for c, jt, jf, k, _ in prog)


def classic_listing(prog) -> list[str]:
    text = {C_LD_LEN: "A = len", C_LDH_ABS: "A = ntohs(*(u16 *)(frame + {k}))", C_LD_ABS: "A = ntohl(*(u32 *)(frame + {k}))",
            C_JEQ_K: "if A == {k:#x} goto +{jt} else +{jf}", C_JGE_K: "if A >= {k} goto +{jt} else +{jf}", C_RET_K: "return {k}"}
    return [f"{i:3d}: " + f"{text[c].format(k=k, jt=jt, jf=jf):<36} ; {note}" for i, (c, jt, jf, k, note) in enumerate(prog)]


def attach(rt, index: int, mac: str, ip: str, classic: bool | None = None) -> None:
    """Load the program for (mac, ip) and attach it to the ingress of link `index` (rt: an Rtnl of
    kernel/rtnetlink.py, in the link's namespace). The filter holds the program: the descriptor is
    closed here. `classic`: the classic program (None: when labkit runs nested, host/where.py)."""
    if classic is None:
        from ..host.where import place

        classic = place().nested
    if classic:
        rt.add_ingress_classic_bpf(index, classic_bytes(classic_program(mac, ip)), f"{CLASSIC} {mac} {ip}")
        return
    fd = sc.bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, assemble(program(mac, ip)), name="labkit_guard")
    try:
        rt.add_ingress_bpf(index, fd, f"{NAME} {mac} {ip}")
    finally:
        os.close(fd)


def shown(ipr, index: int, mac: str | None = None, ip: str | None = None) -> list[str]:
    """What the kernel has on the port now: the filter, and its program's listing; [] if none
    (a stopped container has no veth). A classic filter carries no name in the kernel's answer: it
    is told by its direct-action classic program of the guard's length, shown for the port's (mac, ip)."""
    out = []
    try:
        filters = ipr.get_filters(index=index, parent=0xFFFF0000)
    except Exception:  # noqa: BLE001 - no such link, or no ingress qdisc: nothing on it
        return []
    for f in filters:
        name = f.get_attr("TCA_OPTIONS").get_attr("TCA_BPF_NAME") if f.get_attr("TCA_KIND") == "bpf" and f.get_attr("TCA_OPTIONS") else None
        if name and name.startswith(NAME + " "):
            _, mac, ip = name.split()
            out.append(f"tc filter ingress bpf direct-action {name}")
            out += listing(program(mac, ip))
        elif f.get_attr("TCA_KIND") == "bpf" and f.get_attr("TCA_OPTIONS") and mac and ip:
            opts = f.get_attr("TCA_OPTIONS")
            prog = classic_program(mac, ip)
            if opts.get_attr("TCA_BPF_OPS_LEN") == len(prog) and opts.get_attr("TCA_BPF_FLAGS") == TCA_BPF_FLAG_ACT_DIRECT:
                out.append(f"tc filter ingress bpf direct-action bytecode {CLASSIC} {mac} {ip}")
                out += classic_listing(prog)
    return out


def main() -> None:
    """The doctor's probe (host/doctor_network.py), in a fresh interpreter: in a network namespace of
    its own, a veth pair with the program on one end's ingress; exit 0 if the kernel took it all."""
    import socket

    from ..kernel.rtnetlink import Rtnl

    sc.unshare(sc.CLONE_NEWNET)  # nothing of the host's is touched; all of it goes when this process ends
    here = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    with Rtnl() as rt:
        rt.add_veth("lk-doc0", "lk-doc1", here, "02:42:ac:11:00:02")
        attach(rt, socket.if_nametoindex("lk-doc0"), "02:42:ac:11:00:02", "172.17.0.2")
