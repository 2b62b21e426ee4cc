"""LXD's REST API over its unix socket: what a room needs of LXD, and nothing more.

    api = Lxd()                                   # $LXD_DIR/unix.socket, else /var/lib/lxd/unix.socket
    api.create("lk-ada", image="labkit-learner", config={"limits.memory": "2GiB"})
    api.start("lk-ada")
    api.exec("lk-ada", ["cat", "/etc/hostname"])  # Done(code=0, stdout=b"lk-ada\\n", stderr=b"")
    api.read("lk-ada", "/root/.local/share/labkit/progress.json")
    api.usage("lk-ada")                           # Usage(memory=..., cpu_ns=..., processes=...)

Each call is one HTTP request. A synchronous one answers 200 and its metadata; an asynchronous one
(create, start, stop, delete, exec) answers 202 and an operation, which is then waited on. What
LXD 5.0 sends (`lxc --debug` shows the same):

    POST /1.0/instances {"name": "lk-ada", "source": {"type": "image", "alias": "labkit-learner"}, ...}
    <- 202 {"type": "async", "operation": "/1.0/operations/17f2...", ...}
    GET /1.0/operations/17f2.../wait?timeout=120
    <- 200 {"metadata": {"status": "Success", "metadata": {"return": 3, "output": {"1": "/1.0/.../exec_17f2.stdout"}}}}
    GET /1.0/instances/nosuch
    <- 404 {"type": "error", "error": "Instance not found", "error_code": 404}

LXD's own sentence ("Instance not found") travels as a value of a catalog error that says what the
room was doing. Names are checked before any request: nothing is sent for a name LXD would refuse.
Why not pylxd: it pulls in requests, ws4py and cryptography for the five calls a room makes.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import Conflict, FeatureMissing, InvalidArgument, LabkitError, NotFound, TimedOut

#: LXD's rule for an instance's name (a hostname label): letters, digits and hyphens, a letter first,
#: no hyphen last, at most 63
NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def socket_path() -> Path:
    """LXD's socket: $LXD_DIR/unix.socket (a daemon started by hand, the tests'), else Debian's."""
    return Path(os.environ.get("LXD_DIR") or "/var/lib/lxd") / "unix.socket"


@dataclass(frozen=True)
class Done:
    """A command run in an instance: its exit status and what it wrote."""

    code: int
    stdout: bytes
    stderr: bytes


@dataclass(frozen=True)
class Usage:
    """What an instance uses now, from its cgroup (LXD reads it): bytes, CPU nanoseconds, processes."""

    status: str  # "Running", "Stopped", ...
    memory: int
    cpu_ns: int
    processes: int


class _Connection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float):
        super().__init__("lxd", timeout=timeout)  # the host name is only the Host header's
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Lxd:
    def __init__(self, path: Path | str | None = None, timeout: float = 30):
        self.path = Path(path) if path else socket_path()
        self.timeout = timeout  # one request's, seconds; an operation's wait has its own

    def __repr__(self) -> str:
        return f"<LXD at {self.path}>"

    # -- the wire ---------------------------------------------------------------------------------
    def request(self, method: str, url: str, body=None, raw: bool = False, timeout: float | None = None,
                data: bytes | None = None, headers: dict | None = None):
        """One request; the response's metadata (the body itself with raw=True: a file, a log). `data`
        and `headers`: a body sent as it is (a file's bytes) instead of `body` as JSON."""
        conn = _Connection(self.path, timeout or self.timeout)
        try:
            if data is not None:
                conn.request(method, url, body=data, headers={"Content-Type": "application/octet-stream", **(headers or {})})
            else:
                conn.request(method, url, body=None if body is None else json.dumps(body),
                             headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
        except (FileNotFoundError, ConnectionRefusedError):  # no socket, or no daemon behind it
            raise FeatureMissing("error.room.lxd-absent", path=self.path) from None
        except (socket.timeout, TimeoutError):
            raise TimedOut("error.room.lxd-timed-out", method=method, url=url, seconds=timeout or self.timeout) from None
        except OSError as e:
            raise LabkitError("error.room.lxd-unreachable", path=self.path, strerror=e.strerror or str(e)) from None
        finally:
            conn.close()
        if raw and resp.status == 200:
            return data
        try:
            doc = json.loads(data)
        except ValueError:
            doc = {"error": data[:200].decode(errors="replace")}
        if resp.status >= 400 or doc.get("type") == "error":
            raise _refused(resp.status, doc.get("error", ""), method, url)
        if resp.status == 202:
            return doc  # an operation: wait() takes it
        return doc.get("metadata")

    def wait(self, op: dict, timeout: float = 120) -> dict:
        """Wait for an operation (a 202's body) to end; its metadata ("return", "output" for exec)."""
        url = op["operation"]
        deadline = time.monotonic() + timeout
        while True:
            left = max(1, int(deadline - time.monotonic()))
            done = self.request("GET", f"{url}/wait?timeout={left}", timeout=left + 10)
            if done.get("status") == "Success":
                return done.get("metadata") or {}
            if done.get("status") in ("Failure", "Cancelled"):
                raise LabkitError("error.room.lxd-failed", what=done.get("description", url), said=done.get("err", ""))
            if time.monotonic() >= deadline:
                raise TimedOut("error.room.lxd-timed-out", method="wait", url=url, seconds=timeout)

    # -- instances --------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every instance's name."""
        return [u.rsplit("/", 1)[-1] for u in self.request("GET", "/1.0/instances") or []]

    def info(self, name: str) -> dict:
        """An instance's record: its config, devices, status, location (the cluster member)."""
        return self.request("GET", f"/1.0/instances/{_checked(name)}")

    def create(self, name: str, image: str, config: dict | None = None, devices: dict | None = None,
               profiles: list[str] | None = None, target: str | None = None, timeout: float = 300) -> None:
        """Make an instance from a local image alias; on a cluster, `target` names the member (else
        LXD places it)."""
        body = {"name": _checked(name), "source": {"type": "image", "alias": image},
                "config": {k: str(v) for k, v in (config or {}).items()}, "devices": devices or {},
                "profiles": profiles if profiles is not None else ["default"]}
        where = f"?target={quote(_checked(target))}" if target else ""
        if name in self.names():  # LXD says so only once its operation fails, in a database's words
            raise Conflict("error.room.lxd-conflict", url=f"/1.0/instances/{name}", said="exists")
        self.wait(self.request("POST", f"/1.0/instances{where}", body), timeout)

    def _state(self, name: str, action: str, timeout: float, force: bool = False) -> None:
        op = self.request("PUT", f"/1.0/instances/{_checked(name)}/state",
                          {"action": action, "timeout": int(timeout), "force": force})
        self.wait(op, timeout + 30)

    def start(self, name: str, timeout: float = 60) -> None:
        self._state(name, "start", timeout)

    def stop(self, name: str, timeout: float = 30, force: bool = True) -> None:
        self._state(name, "stop", timeout, force)

    def delete(self, name: str, timeout: float = 120) -> None:
        """Remove an instance (stopped first if it runs)."""
        if self.usage(name).status == "Running":
            self.stop(name)
        self.wait(self.request("DELETE", f"/1.0/instances/{_checked(name)}"), timeout)

    def usage(self, name: str) -> Usage:
        s = self.request("GET", f"/1.0/instances/{_checked(name)}/state") or {}
        return Usage(s.get("status", "?"), int((s.get("memory") or {}).get("usage", 0)),
                     int((s.get("cpu") or {}).get("usage", 0)), int(s.get("processes") or 0))

    def exec(self, name: str, command: list[str], env: dict | None = None, timeout: float = 120) -> Done:
        """Run a command in a running instance and wait for it; its output is LXD's record of it,
        read and then removed (each exec leaves two log files in LXD otherwise)."""
        op = self.request("POST", f"/1.0/instances/{_checked(name)}/exec",
                          {"command": [str(a) for a in command], "environment": env or {}, "record-output": True,
                           "wait-for-websocket": False, "interactive": False})
        meta = self.wait(op, timeout)
        out = {}
        for fd, url in (meta.get("output") or {}).items():
            out[fd] = self.request("GET", url, raw=True)
            try:
                self.request("DELETE", url)
            except LabkitError:
                pass  # a log LXD removed itself
        return Done(int(meta.get("return", -1)), out.get("1", b""), out.get("2", b""))

    def read(self, name: str, path: str) -> bytes:
        """A file of an instance, read by LXD from outside it (never through the learner's page)."""
        return self.request("GET", f"/1.0/instances/{_checked(name)}/files?path={quote(path)}", raw=True)

    def write(self, name: str, path: str, content: bytes, mode: int = 0o644) -> None:
        """Put a file into an instance (stopped or running), owned by its root."""
        self.request("POST", f"/1.0/instances/{_checked(name)}/files?path={quote(path)}", data=content,
                     headers={"X-LXD-uid": "0", "X-LXD-gid": "0", "X-LXD-mode": f"{mode:04o}", "X-LXD-type": "file",
                              "X-LXD-write": "overwrite"})

    def add_device(self, name: str, device: str, config: dict) -> None:
        """Add a device to an instance's own config (a proxy, a disk), keeping the others."""
        info = self.info(name)
        devices = dict(info.get("devices") or {})
        devices[device] = {k: str(v) for k, v in config.items()}
        self.wait_or_none(self.request("PATCH", f"/1.0/instances/{name}", {"devices": devices}))

    def wait_or_none(self, answer) -> dict | None:
        """A call that LXD answers at once (200) or as an operation (202): waited for, either way."""
        if isinstance(answer, dict) and answer.get("type") == "async":
            return self.wait(answer)
        return answer

    # -- a cluster --------------------------------------------------------------------------------
    def members(self) -> list[str]:
        """The cluster's members (each able to hold learners); [] when LXD is not clustered."""
        if not (self.request("GET", "/1.0/cluster") or {}).get("enabled"):
            return []
        return [u.rsplit("/", 1)[-1] for u in self.request("GET", "/1.0/cluster/members") or []]


def _checked(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise InvalidArgument("error.room.lxd-bad-name", name=name)
    return name


def _refused(status: int, said: str, method: str, url: str) -> LabkitError:
    if status == 404:
        return NotFound("error.room.lxd-not-found", url=url, said=said)
    if status == 409:
        return Conflict("error.room.lxd-conflict", url=url, said=said)
    return LabkitError("error.room.lxd-refused", method=method, url=url, said=said, status=status)
