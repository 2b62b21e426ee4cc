"""Hand-made Ethernet frames, sent as a hostile container or a hostile neighbour would: a raw
AF_PACKET socket (NET_RAW, one of Docker's default capabilities) and every header written by hand,
so nothing the sender's kernel routes or checks stands in the way.

Run as a script (standard library only: the tests run it with the host's Python inside a busybox
container, the host's /usr bound in read-only):

    rawframes.py udp  IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT        sends one datagram, b"spoofed"
    rawframes.py tcp  IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT        a handshake by hand, then b"spoofed"
    rawframes.py arp  IFACE SRC_MAC SENDER_IP                           a gratuitous ARP reply

It prints what came back ("syn-ack" when a TCP listener answered) and exits 0.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import sys
import time

PAYLOAD = b"spoofed"


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), random.randrange(65536), 0x4000, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + payload


def transport_sum(src: str, dst: str, proto: int, segment: bytes) -> int:
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, len(segment))
    return checksum(pseudo + segment)


def udp(src, dst, sport, dport, data) -> bytes:
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    return ipv4(src, dst, 17, seg[:6] + struct.pack("!H", transport_sum(src, dst, 17, seg)) + seg[8:])


def tcp(src, dst, sport, dport, seq, ack, flags, data=b"") -> bytes:
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 64240, 0, 0) + data
    return ipv4(src, dst, 6, seg[:16] + struct.pack("!H", transport_sum(src, dst, 6, seg)) + seg[18:])


def main(argv: list[str]) -> int:
    kind, iface = argv[0], argv[1]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((iface, 0))
    if kind == "arp":
        src_mac, sender = mac(argv[2]), socket.inet_aton(argv[3])
        body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + src_mac + sender + b"\xff" * 6 + sender
        for _ in range(3):
            s.send(b"\xff" * 6 + src_mac + b"\x08\x06" + body)
            time.sleep(0.05)
        print("sent")
        return 0
    src_mac, dst_mac, src, dst, dport = mac(argv[2]), mac(argv[3]), argv[4], argv[5], int(argv[6])
    eth = dst_mac + src_mac + b"\x08\x00"
    sport = random.randrange(20000, 60000)
    if kind == "udp":
        for _ in range(3):
            s.send(eth + udp(src, dst, sport, dport, PAYLOAD))
            time.sleep(0.05)
        print("sent")
        return 0
    seq = random.randrange(1 << 32)
    s.send(eth + tcp(src, dst, sport, dport, seq, 0, 0x02))
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if not select.select([s], [], [], 0.1)[0]:
            continue
        frame = s.recv(65535)
        if frame[12:14] != b"\x08\x00" or frame[23] != 6:
            continue
        ihl = (frame[14] & 0x0F) * 4
        t = frame[14 + ihl:]
        their_sport, their_dport, their_seq = struct.unpack("!HHI", t[:8])
        if their_sport == dport and their_dport == sport and t[13] & 0x12 == 0x12:
            s.send(eth + tcp(src, dst, sport, dport, seq + 1, their_seq + 1, 0x18, PAYLOAD))  # ACK + PSH, data
            print("syn-ack")
            return 0
    print("no answer")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
