"""The few route-netlink messages a container's start sends, written out by hand: a veth pair with
one end in the container's namespace, that end's address and route, and the port guard's tc
qdisc and filter. pyroute2 sends them too (network/attach.py uses it for the rest), but through
an asyncio loop and a generic encoder per call: ~0.7 ms of Python a message, against ~0.05 ms
here. Each message is one sendto() and one recv() of the kernel's answer, on a plain socket.

A message, e.g. `ip addr add 172.29.0.2/16 dev eth0` (RTM_NEWADDR), as bytes:

    struct nlmsghdr   len=40 type=20 (RTM_NEWADDR) flags=REQUEST|ACK|CREATE|EXCL seq pid=0
    struct ifaddrmsg  family=AF_INET prefixlen=16 flags=0 scope=0 index=<eth0's>
    rtattr IFA_LOCAL   len=8  172.29.0.2
    rtattr IFA_ADDRESS len=8  172.29.0.2

and the kernel answers NLMSG_ERROR with error 0 (done) or -errno, raised here as OSError(errno).
Attributes nest: a veth's peer is IFLA_LINKINFO { IFLA_INFO_KIND "veth", IFLA_INFO_DATA {
VETH_INFO_PEER { struct ifinfomsg, IFLA_IFNAME "eth0", IFLA_NET_NS_FD <fd>, IFLA_ADDRESS <mac> } } }.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK, RTM_DELLINK, RTM_SETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 19, 20, 24
RTM_NEWQDISC, RTM_NEWTFILTER = 36, 44
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY = 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT = 6, 7, 8, 1
TCA_BPF_OPS_LEN, TCA_BPF_OPS = 4, 5  # a classic program's length and instructions
TC_H_INGRESS, INGRESS_HANDLE = 0xFFFFFFF1, 0xFFFF0000
ETH_P_ALL = 0x0003
IFF_UP = 0x1

_HDR = struct.Struct("=IHHII")  # struct nlmsghdr
_IFINFO = struct.Struct("=BxHiII")  # struct ifinfomsg: family, type, index, flags, change
_IFADDR = struct.Struct("=BBBBi")  # struct ifaddrmsg: family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")  # struct rtmsg
_TCMSG = struct.Struct("=BxxxiIII")  # struct tcmsg: family, ifindex, handle, parent, info
_seq = itertools.count(1)


def attr(kind: int, payload: bytes) -> bytes:
    """One rtattr, padded to 4 bytes: attr(IFLA_IFNAME, b"eth0\\0") -> b"\\x09\\x00\\x03\\x00eth0\\x00\\0\\0\\0"."""
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * (-size % 4)


def _text(s: str) -> bytes:
    return s.encode() + b"\0"


def _mac(mac: str) -> bytes:
    return bytes(int(b, 16) for b in mac.split(":"))


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return _IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


class Rtnl:
    """A NETLINK_ROUTE socket in the namespace it was made in (socket() takes the caller's)."""

    def __init__(self, sock: socket.socket | None = None):
        self.sock = sock or socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, kind: int, body: bytes, flags: int = 0) -> None:
        """Send one message and wait for the kernel's answer: None, or OSError(errno)."""
        seq = next(_seq)
        self.sock.send(_HDR.pack(_HDR.size + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, seq, 0) + body)
        while True:
            data = self.sock.recv(65536)
            at = 0
            while at + _HDR.size <= len(data):
                size, mtype, _flags, mseq, _pid = _HDR.unpack_from(data, at)
                if mtype == NLMSG_ERROR and mseq == seq:
                    (code,) = struct.unpack_from("=i", data, at + _HDR.size)
                    if code:
                        raise OSError(-code, os.strerror(-code))
                    return
                at += (size + 3) & ~3 if size else len(data)

    # -- the messages of a start ----------------------------------------------------------------------
    def add_veth(self, name: str, peer: str, peer_netns_fd: int, peer_mac: str) -> None:
        """ip link add NAME type veth peer name PEER netns FD address MAC"""
        peer_info = ifinfo() + attr(IFLA_IFNAME, _text(peer)) + attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd)) \
            + attr(IFLA_ADDRESS, _mac(peer_mac))
        info = attr(IFLA_INFO_KIND, _text("veth")) + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
        self.request(RTM_NEWLINK, ifinfo() + attr(IFLA_IFNAME, _text(name)) + attr(IFLA_LINKINFO, info),
                     NLM_F_CREATE | NLM_F_EXCL)

    def delete_link(self, index: int) -> None:
        """`ip link del dev INDEX`: a veth's host end, and with it the end in the container (ENODEV if gone)."""
        self.request(RTM_DELLINK, ifinfo(index))

    def set_link(self, index: int, up: bool = True, master: int | None = None) -> None:
        """ip link set dev INDEX [master MASTER] up"""
        body = ifinfo(index, IFF_UP if up else 0, IFF_UP) + (attr(IFLA_MASTER, struct.pack("=I", master)) if master else b"")
        self.request(RTM_NEWLINK, body)

    def add_address(self, index: int, ip: str, prefix: int) -> None:
        """ip addr add IP/PREFIX dev INDEX"""
        raw = socket.inet_aton(ip)
        self.request(RTM_NEWADDR, _IFADDR.pack(socket.AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, index)
                     + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw), NLM_F_CREATE | NLM_F_EXCL)

    def add_default_route(self, gateway: str) -> None:
        """ip route add default via GATEWAY"""
        self.request(RTM_NEWROUTE, _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
                                               RTN_UNICAST, 0) + attr(RTA_GATEWAY, socket.inet_aton(gateway)),
                     NLM_F_CREATE | NLM_F_EXCL)

    def add_ingress_classic_bpf(self, index: int, insns: bytes, name: str) -> None:
        """tc qdisc add dev INDEX ingress; tc filter add dev INDEX ingress bpf direct-action bytecode INSNS name NAME

        A classic program (struct sock_filter[]: code u16, jt u8, jf u8, k u32) needs no bpf(2): the
        kernel checks it and turns it into eBPF itself, so root of a user namespace may attach one
        (CAP_NET_ADMIN over the link's namespace). In direct-action, what it returns is the verdict
        (TC_ACT_OK, TC_ACT_SHOT), as the eBPF program's is: no tc action module needed (this kernel
        has none built in)."""
        self.request(RTM_NEWQDISC, _TCMSG.pack(socket.AF_UNSPEC, index, INGRESS_HANDLE, TC_H_INGRESS, 0)
                     + attr(TCA_KIND, _text("ingress")), NLM_F_CREATE | NLM_F_EXCL)
        options = attr(TCA_BPF_OPS_LEN, struct.pack("=H", len(insns) // 8)) + attr(TCA_BPF_OPS, insns) \
            + attr(TCA_BPF_NAME, _text(name)) + attr(TCA_BPF_FLAGS, struct.pack("=I", TCA_BPF_FLAG_ACT_DIRECT))
        self.request(RTM_NEWTFILTER, _TCMSG.pack(socket.AF_UNSPEC, index, 1, INGRESS_HANDLE,
                                                 socket.htons(ETH_P_ALL))
                     + attr(TCA_KIND, _text("bpf")) + attr(TCA_OPTIONS, options), NLM_F_CREATE | NLM_F_EXCL)

    def add_ingress_bpf(self, index: int, prog_fd: int, name: str) -> None:
        """tc qdisc add dev INDEX ingress; tc filter add dev INDEX ingress bpf direct-action fd PROG_FD name NAME"""
        self.request(RTM_NEWQDISC, _TCMSG.pack(socket.AF_UNSPEC, index, INGRESS_HANDLE, TC_H_INGRESS, 0)
                     + attr(TCA_KIND, _text("ingress")), NLM_F_CREATE | NLM_F_EXCL)
        options = attr(TCA_BPF_FD, struct.pack("=I", prog_fd)) + attr(TCA_BPF_NAME, _text(name)) \
            + attr(TCA_BPF_FLAGS, struct.pack("=I", TCA_BPF_FLAG_ACT_DIRECT))
        self.request(RTM_NEWTFILTER, _TCMSG.pack(socket.AF_UNSPEC, index, 1, INGRESS_HANDLE,
                                                 socket.htons(ETH_P_ALL))
                     + attr(TCA_KIND, _text("bpf")) + attr(TCA_OPTIONS, options), NLM_F_CREATE | NLM_F_EXCL)

