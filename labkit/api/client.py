"""lk.api: the Docker Engine API that labkitd serves, seen from a notebook cell.

    lk.api.socket()                         '/run/labkit/docker.sock' (the docker CLI's -H unix://...)
    r = lk.api.request("GET", "/v1.47/containers/json?all=1")
    r.status, r.json()                      200, [{"Id": "3f9a...", "Names": ["/web"], ...}]
    r                                       the request as sent and the answer as received, in a notebook
    lk.api.requests()                       the last requests labkitd answered: the docker CLI's too

What goes over the socket is plain text, HTTP/1.1: the same bytes `docker ps` sends. Nothing here
is needed to use labkit; it is here to be looked at.
"""

from __future__ import annotations

import html
import json
import socket as _socket

from ..paths import Instance, instance


def socket(inst: Instance | None = None) -> str:
    """The API's Unix socket, starting labkitd if it is not running (it listens on both sockets)."""
    from ..runtime.client import labkitd

    inst = inst or instance()
    labkitd.call("ping", inst=inst)
    return str(inst.run / "docker.sock")


def listen_tcp(port: int | None = 2375, inst: Instance | None = None) -> str | None:
    """Also serve the API on tcp://127.0.0.1:port (None: stop), e.g. for a tool that cannot use a Unix
    socket. Prints why that is a risk: the API is root on this host, and every local user can reach it."""
    import sys

    from ..runtime.client import labkitd

    reply = labkitd.call("docker_tcp", inst=inst, port=port)
    if reply.get("warning"):
        print("warning:", reply["warning"], file=sys.stderr)
    return reply.get("tcp")


class Response:
    def __init__(self, sent: bytes, raw: bytes):
        self.sent, self.raw = sent, raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split()[1]) if len(lines[0].split()) > 1 else 0
        self.headers = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}

    def json(self):
        return json.loads(self.body or b"null")

    def __repr__(self) -> str:
        return f"<Response {self.status_line!r}, {len(self.body)} bytes>"

    def _repr_html_(self) -> str:
        def show(b: bytes, limit=1500) -> str:
            text = b.decode("utf-8", errors="replace")
            return html.escape(text[:limit] + ("..." if len(text) > limit else ""))

        return ("<div><b>sent</b><pre style='background:#f4f4f4'>" + show(self.sent) + "</pre>"
                "<b>received</b><pre style='background:#eef6ee'>" + show(self.raw) + "</pre></div>")


def request(method: str, path: str, body=None, inst: Instance | None = None, timeout: float = 30.0) -> Response:
    """Send one HTTP request to labkitd's Docker API and read the whole answer.
    body: a dict (sent as JSON) or bytes. A streaming answer (logs -f, attach) is read until it ends."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    sent = (f"{method.upper()} {path} HTTP/1.1\r\nHost: docker\r\n"
            + ("Content-Type: application/json\r\n" if data else "")
            + f"Content-Length: {len(data)}\r\n\r\n").encode() + data
    s = _socket.socket(_socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(socket(inst))
        s.sendall(sent)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    finally:
        s.close()
    return Response(sent, b"".join(chunks))


class RequestLog(list):
    """The lines of labkitd's request log: "22:50:01.123  POST   /v1.47/containers/create  201  2.9 ms"."""

    def __repr__(self) -> str:
        return "\n".join(self) or "(no request yet)"

    def _repr_html_(self) -> str:
        rows = []
        for line in self:
            parts = line.split()
            if len(parts) >= 6:
                t, method, target, status, ms = parts[0], parts[1], parts[2], parts[3], " ".join(parts[4:])
                color = "#2a7" if status.startswith(("1", "2")) else "#c33"
                rows.append(f"<tr><td>{t}</td><td><b>{html.escape(method)}</b></td><td style='text-align:left'>"
                            f"<code>{html.escape(target)}</code></td><td style='color:{color}'>{status}</td><td>{ms}</td></tr>")
        return ("<table><tr><th>time</th><th>method</th><th>path</th><th>status</th><th>took</th></tr>"
                + "".join(rows) + "</table>") if rows else "<i>no request yet</i>"


def requests(n: int = 20, inst: Instance | None = None) -> RequestLog:
    """The last `n` requests labkitd's Docker API answered, oldest first (run `docker ps` in a terminal,
    then look here)."""
    inst = inst or instance()
    try:
        lines = (inst.run / "docker-api.log").read_text(errors="replace").splitlines()
    except FileNotFoundError:
        lines = []
    return RequestLog(lines[-n:] if n > 0 else [])  # [-0:] would be all of them
