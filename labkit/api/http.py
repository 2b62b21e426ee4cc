"""HTTP/1.1 on one of labkitd's non-blocking connections: just what the Docker Engine API's
clients send and expect (the docker CLI, docker-py). One request per connection.

    POST /v1.47/containers/create?name=web HTTP/1.1\\r\\n                     what arrives
    Host: api\\r\\nContent-Type: application/json\\r\\nContent-Length: 312\\r\\n\\r\\n{"Image": "busybox", ...}

    HTTP/1.1 201 Created\\r\\n                                                 what goes back
    Api-Version: 1.47\\r\\nContent-Type: application/json\\r\\nContent-Length: 88\\r\\nConnection: close\\r\\n\\r\\n{"Id": ...}

Three ways to answer: respond() (a whole body), open_stream() then the body as it comes and
close (`wait`: the headers at once, the exit code at exit: the CLI sends wait before start and
blocks until its headers arrive), and upgrade() (`attach`: 101, then the raw multiplexed stream).
A request that is too large, too slow or not HTTP gets a 400 and the connection closes; nothing
here waits (connection.py's rules).
"""

from __future__ import annotations

import json
import os
import time
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

from .. import errors
from ..runtime.daemon.connection import Connection

API_VERSION = "1.47"  #: advertised: current CLIs refuse servers below 1.44
MIN_API_VERSION = "1.24"
MAX_HEAD = 64 << 10  # bytes of request line and headers
MAX_BODY = 4 << 20  # bytes of body (a create is a few KiB)


def status_of(e: BaseException) -> int:
    """The HTTP status dockerd answers an error with, by the error's class (its nearest listed base):
    ContainerNotFound, ImageNotFound, NetworkNotFound -> 404; Conflict (a name taken, not running) -> 409;
    InvalidArgument -> 400; NotPermitted (Unauthorized too) -> 403; anything else -> 500."""
    from ..images.registry import Offline

    for cls, status in ((errors.NotFound, 404), (errors.Conflict, 409), (errors.InvalidArgument, 400),
                        (errors.NotPermitted, 403), (Offline, 403)):
        if isinstance(e, cls):
            return status
    return 500


class Request:
    def __init__(self, method: str, target: str, headers: dict[str, str], body: bytes):
        self.method, self.headers, self.body = method, headers, body
        parts = urlsplit(target)
        path = unquote(parts.path)
        # "/v1.47/containers/json" -> version "1.47", path "/containers/json"
        self.version = None
        if path.startswith("/v") and "/" in path[1:]:
            head, rest = path[1:].split("/", 1)
            if head[1:].replace(".", "").isdigit():
                self.version, path = head[1:], "/" + rest
        self.path = path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}

    def json(self):
        if not self.body:
            return {}
        return json.loads(self.body)

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.query.get(name)
        if value is None:
            return default
        return value.lower() in ("1", "true", "yes")


class HttpConnection(Connection):
    """A Connection whose request is HTTP; `request` becomes a Request once it is all here."""

    #: labkitd's log of every answer, one line each (docker_api.py sets it): what a learner reads to
    #: see the docker CLI's requests, e.g. "22:50:01.123  POST /v1.47/containers/create  201  2.9 ms".
    request_log = None
    started = 0.0  # when the request was all here
    target = ""  # the request line's target as sent: "/v1.47/containers/json?all=1"

    def read_request(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            raise EOFError from None
        if not chunk:
            raise EOFError
        self.inbuf += chunk
        end = self.inbuf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.inbuf) > MAX_HEAD:
                raise ValueError("request headers too large")
            return False
        head = self.inbuf[:end].decode("latin-1")
        lines = head.split("\r\n")
        try:
            method, target, proto = lines[0].split(" ", 2)
        except ValueError:
            raise ValueError(f"not an HTTP request line: {lines[0][:80]!r}") from None
        if not proto.startswith("HTTP/1."):
            raise ValueError(f"not HTTP/1.x: {proto[:20]!r}")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = _dechunk(self.inbuf[end + 4:])
            if body is None:
                if len(self.inbuf) > MAX_HEAD + MAX_BODY:
                    raise ValueError("request body too large")
                return False
        else:
            try:
                length = int(headers.get("content-length", "0") or 0)
            except ValueError:
                raise ValueError("bad Content-Length") from None
            if length < 0 or length > MAX_BODY:
                raise ValueError("request body too large")
            if len(self.inbuf) - end - 4 < length:
                return False
            body = bytes(self.inbuf[end + 4:end + 4 + length])
        self.request = Request(method.upper(), target, headers, body)
        self.started, self.target = time.monotonic(), target
        return True

    def readable_after_request(self) -> None:
        """After the request a Docker client may half-close (shutdown(SHUT_WR)): that is not a hang-up,
        the answer (an attached container's output, a wait's exit code) still goes to it."""
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.hangup()
            return
        if not data:
            self.read_closed = True  # the loop stops waiting to read (connection.py's loop_wants)
        self.take_input(data)  # an attach with stdin=1: the container's input (daemon/stdin.py)

    # -- answers -------------------------------------------------------------------------------------
    def _log(self, status: int) -> None:
        """One line per answer, appended (O_APPEND: whole lines, in order); the file is turned over
        at 1 MiB, so a chatty client never fills the disk."""
        if self.request_log is None or self.request is None:
            return
        now = time.time()
        line = (f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d}  {self.request.method:<6} "
                f"{self.target or self.request.path}  {status}  {(time.monotonic() - self.started) * 1000:.1f} ms\n")
        try:
            if os.path.getsize(self.request_log) > 1 << 20:
                os.replace(self.request_log, str(self.request_log) + ".1")
        except OSError:
            pass
        try:
            fd = os.open(self.request_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.write(fd, line.encode(errors="replace"))
            finally:
                os.close(fd)
        except OSError:
            pass

    def _head(self, status: int, headers: dict) -> bytes:
        self._log(status)
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {status} {phrase}", f"Api-Version: {API_VERSION}", "Docker-Experimental: false",
                 "Ostype: linux", "Server: labkitd", f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime())}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def respond(self, status: int, body=None, content_type: str = "application/json") -> None:
        """A whole answer; a dict or list body is sent as JSON."""
        data = b"" if body is None else body if isinstance(body, bytes) else (json.dumps(body) + "\n").encode()
        headers = {"Content-Length": str(len(data)), "Connection": "close"}
        if data:
            headers["Content-Type"] = content_type
        self._queue(self._head(status, headers) + (data if self.request.method != "HEAD" else b""), True)

    def send_output(self, stream: int, data: bytes, terminal: bool = False) -> None:
        """Docker's attach: frames, but the raw stream for a container with a terminal."""
        if terminal:
            self.send_raw(data)
        else:
            self.send_frame(stream, data)

    def refuse(self, message: str) -> None:
        """A request that could not be read: 400, in Docker's shape."""
        self.request = self.request or Request("GET", "/", {}, b"")
        self.error(400, message)

    def error(self, status: int, message: str) -> None:
        """Docker's error shape: {"message": "No such container: web"}."""
        self.respond(status, {"message": message})

    def open_stream(self, status: int = 200, content_type: str = "application/json") -> None:
        """Headers now, the body later (send_raw), ended by closing the connection."""
        self._queue(self._head(status, {"Content-Type": content_type, "Connection": "close"}), False)

    def upgrade(self, content_type: str = "application/vnd.docker.multiplexed-stream") -> None:
        """attach: the connection becomes the container's output stream (frames, connection.py)."""
        self._queue(self._head(101, {"Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"}), False)

    def send_raw(self, data: bytes, last: bool = False) -> None:
        self._queue(data, last)

    # The labkit protocol's calls, as an attached stream uses them (pump, waiters): frames go
    # through as they are (the same header as Docker's); the last reply ends the stream.
    def send_last_frame(self, reply: dict) -> None:
        self._queue(b"", True)
        if not self.out:
            self.close()


def _dechunk(data: bytes) -> bytes | None:
    """The body of a chunked request, or None if not all of it is here yet."""
    out, pos = bytearray(), 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(data[pos:eol].split(b";")[0], 16)
        except ValueError:
            raise ValueError("bad chunk size") from None
        if size == 0:
            return bytes(out)
        if len(data) < eol + 2 + size + 2:
            return None
        out += data[eol + 2:eol + 2 + size]
        pos = eol + 2 + size + 2
        if len(out) > MAX_BODY:
            raise ValueError("request body too large")
