"""docker's -p: a container's port published on the host, checked on the client before anything is made.

    parse_ports(["8080:80", "127.0.0.1:5353:53/udp"])
      -> [{"proto": "tcp", "host_ip": "", "host_port": 8080, "port": 80},
          {"proto": "udp", "host_ip": "127.0.0.1", "host_port": 5353, "port": 53}]

labkitd adds the container's address ("ip") and turns each into a DNAT rule (rules.py).
"""

from __future__ import annotations

import socket

from ..errors import Conflict, InvalidArgument


def parse_ports(specs) -> list[dict]:
    """docker's -p, checked: "8080:80", "127.0.0.1:8080:80", "8080:80/udp", "80" (a free host port
    is picked) -> [{"proto": "tcp", "host_ip": "", "host_port": 8080, "port": 80}]. docker-py's
    dict form too: {"80/tcp": 8080, "53/udp": ("127.0.0.1", 5353)}."""
    import ipaddress

    if specs is None:
        return []
    if isinstance(specs, dict):
        items = []
        for cport, host in specs.items():
            hip, hport = (host if isinstance(host, (list, tuple)) else ("", host))
            port, _, proto = str(cport).partition("/")
            items.append(f"{hip + ':' if hip else ''}{hport if hport is not None else ''}:{port}/{proto or 'tcp'}")
        specs = items
    if isinstance(specs, str) or not isinstance(specs, (list, tuple)):
        specs = [specs]
    out = []
    for spec in specs:
        if not isinstance(spec, str):
            # A number alone is the commonest slip (ports=8080): say what each part of the text means,
            # and show the loopback form, which publishes to this machine only.
            raise InvalidArgument("error.network.published-port-text", spec=spec)
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp"):
            raise InvalidArgument("error.network.published-port-protocol-tcp", spec=spec, proto=proto)
        parts = body.rsplit(":", 2)
        hip, hport, cport = ("", "", parts[0]) if len(parts) == 1 else ("", *parts) if len(parts) == 2 else parts
        try:
            cport_n = int(cport)
            hport_n = int(hport) if hport else 0
            if not (0 < cport_n < 65536 and 0 <= hport_n < 65536):
                raise ValueError
            if hip:
                ipaddress.IPv4Address(hip)
        except ValueError:
            raise InvalidArgument("error.network.published-port-host-ip", spec=spec) from None
        if not hport_n:
            hport_n = _free_port(proto)
        out.append({"proto": proto, "host_ip": hip, "host_port": hport_n, "port": cport_n})
    return _once_each(out)


def check_published(ports) -> list[dict]:
    """parse_ports' answer, as it reaches labkitd, checked again in that form (no text round trip):
    [{"proto": "tcp", "host_ip": "", "host_port": 8080, "port": 80}]. The host port is a number by
    now: the client picked a free one for "80"."""
    import ipaddress

    if not isinstance(ports, list) or not all(isinstance(p, dict) for p in ports):
        raise InvalidArgument("error.network.ports-are-list-published", ports=ports)
    out = []
    for p in ports:
        try:
            proto, hip, hport, port = p["proto"], p.get("host_ip") or "", p["host_port"], p["port"]
            if proto not in ("tcp", "udp") or not all(type(n) is int and 0 < n < 65536 for n in (hport, port)):
                raise ValueError
            if hip:
                ipaddress.IPv4Address(hip)
        except (KeyError, TypeError, ValueError):
            raise InvalidArgument("error.network.published-port-one", p=p) from None
        out.append({"proto": proto, "host_ip": hip, "host_port": hport, "port": port})
    return _once_each(out)


def _once_each(ports: list[dict]) -> list[dict]:
    seen = set()
    for p in ports:
        key = (p["proto"], p["host_ip"], p["host_port"])
        if key in seen:
            raise InvalidArgument("error.network.host-port-published-twice", p_host_port=p['host_port'], p_proto=p['proto'])
        seen.add(key)
    return ports


def _free_port(proto: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_host_port_free(p: dict) -> None:
    """Refuse a publication whose host port a program on the host holds, as Docker refuses it ("address
    already in use"): its DNAT rule would take that program's connections from it, the host's own to
    127.0.0.1 included. Asked the kernel's way: bind a socket where the publication would answer
    (0.0.0.0:8080 for "8080:80", 127.0.0.1:8080 for "127.0.0.1:8080:80"), then let it go. A bind to
    0.0.0.0 meets every address of the port (127.0.0.1:8080, [::]:8080 dual-stack); a TCP socket takes
    SO_REUSEADDR, as a Go listener (docker-proxy) does, so that only listeners count, not the
    TIME_WAIT left by an earlier connection."""
    import errno

    kind = socket.SOCK_STREAM if p["proto"] == "tcp" else socket.SOCK_DGRAM
    where = (p.get("host_ip") or "0.0.0.0", p["host_port"])
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(where)  # never listen(): not one connection of the host's may land here
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise Conflict("error.network.host-port-use-program", where_0=where[0], where_1=where[1], p_proto=p['proto'], where_1_1=where[1] + 1, p_port=p['port']) from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument("error.network.host-address-p-one", where_0=where[0], where_1=where[1], p_port=p['port']) from None
            raise
