"""docker's -p: a container's port published on the host, checked on the client before anything is made.

    parse_ports(["8080:80", "127.0.0.1:5353:53/udp"])
      -> [{"proto": "tcp", "host_ip": "", "host_port": 8080, "port": 80},
          {"proto": "udp", "host_ip": "127.0.0.1", "host_port": 5353, "port": 53}]

labkitd adds the container's address ("ip") and turns each into a DNAT rule (rules.py).
"""

from __future__ import annotations

import socket

from ..errors import InvalidArgument


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
            raise InvalidArgument(f"published port {spec!r} is not text", hint='e.g. "8080:80".')
        body, _, proto = spec.partition("/")
        proto = proto or "tcp"
        if proto not in ("tcp", "udp"):
            raise InvalidArgument(f"published port {spec!r}: protocol {proto!r} is not tcp or udp", hint='e.g. "8080:80/udp".')
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
            raise InvalidArgument(f"published port {spec!r} is not [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]",
                                  hint='e.g. "8080:80", "127.0.0.1:8080:80" or "5353:53/udp"; ports 1-65535.') from None
        if not hport_n:
            hport_n = _free_port(proto)
        out.append({"proto": proto, "host_ip": hip, "host_port": hport_n, "port": cport_n})
    seen = set()
    for p in out:
        key = (p["proto"], p["host_ip"], p["host_port"])
        if key in seen:
            raise InvalidArgument(f"host port {p['host_port']}/{p['proto']} is published twice")
        seen.add(key)
    return out


def _free_port(proto: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
