"""Talk to labkitd (supervisor.py): the client half of the seed's client/server architecture.

    reply = call("ps", all=True)                      # one request, one JSON reply
    conn = open_call("run", fds=(w_out, w_err), options=..., attach=True)
    started = conn.reply(); ...; exited = conn.reply()  # a second reply when the container exits

The first call on a host starts labkitd if none runs (it outlives the caller). This module imports
little (no cgroups, no image store), so the CLI's `labkit ps` stays quick.
"""

from __future__ import annotations

import json
import socket

from ... import errors
from ...paths import Instance, instance as current_instance

SOCKET = "labkitd.sock"


class Call:
    """One request on its own connection; reply() reads the next JSON line (a typed error raises)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def reply(self, timeout: float | None = None) -> dict:
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise errors.TimedOut("error.runtime.no-answer-within-s", timeout=timeout) from None
            except OSError:  # reset: labkitd died while serving us (its keeper starts a new one)
                chunk = b""
            if not chunk:
                raise errors.ServerGone("error.runtime.labkitd-closed-connection-without")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        msg = json.loads(line)
        if "error" in msg:
            raise remote_error(msg["error"])
        return msg

    def frame(self, timeout: float | None = None) -> tuple[int, bytes]:
        """After an attached start's first reply: the next frame, (1, stdout bytes), (2, stderr bytes)
        or (3, the last reply's JSON). ServerGone if the stream breaks before the last one."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 8:
                stream, size = self.buf[0], int.from_bytes(self.buf[4:8], "big")
                if len(self.buf) >= 8 + size:
                    data, self.buf = self.buf[8 : 8 + size], self.buf[8 + size :]
                    return stream, data
            try:
                chunk = self.sock.recv(1 << 17)
            except socket.timeout:
                raise errors.TimedOut("error.runtime.no-output-within-s", timeout=timeout) from None
            except OSError:
                chunk = b""
            if not chunk:
                raise errors.ServerGone("error.runtime.labkitd-s-stream-ended")
            self.buf += chunk

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def remote_error(info: dict) -> errors.LabkitError:
    """An error labkitd sent, as the same LabkitError class here (with its hint): the first of the
    class and its bases that this process has loaded and that takes (message, hint), e.g.
    NetworkSetupFailed where labkit.network.attach is loaded, else ContainerError; InvalidReference
    (whose constructor wants the reference, a position and a reason) arrives as InvalidArgument."""
    import sys

    names = info.get("types") or [info.get("type", "")]
    modules = info.get("modules") or ["labkit.errors"] * len(names)
    from ...catalog import Text

    # the words as catalog keys and values, shown in this client's language; the server's own words else
    message = Text.unwire(info.get("text")) or str(info.get("message", ""))
    hint = Text.unwire(info.get("hint_text")) or info.get("hint") or None
    e = None
    for name, module in zip(names, modules):
        # only a labkit module this process has loaded already: nothing is imported on a server's word
        home = sys.modules.get(module) if str(module).startswith("labkit.") else None
        cls = getattr(home, name, None) or getattr(errors, name, None)
        if isinstance(cls, type) and issubclass(cls, errors.LabkitError):
            try:
                e = cls(message, hint)
                break
            except TypeError:
                continue
    if e is None:
        e = errors.LabkitError(message, hint)
    if info.get("exit_code") and type(e).exit_code != info["exit_code"]:
        e.exit_code = info["exit_code"]
    return e


def open_call(op: str, fds: tuple[int, ...] = (), inst: Instance | None = None, **args) -> Call:
    inst = inst or current_instance()
    sock = _connect(inst)
    data = json.dumps(dict(args, op=op)).encode() + b"\n"
    try:
        if fds:
            socket.send_fds(sock, [data], list(fds))
        else:
            sock.sendall(data)
    except OSError:
        sock.close()
        raise
    return Call(sock)


#: Operations that change nothing (or wait for something): asked again if labkitd went away meanwhile.
RETRY = frozenset({"ps", "inspect", "ping", "top", "stats", "wait"})


def call(op: str, fds: tuple[int, ...] = (), inst: Instance | None = None, reply_timeout: float | None = None,
         **args) -> dict:
    for attempt in range(3):
        try:
            with open_call(op, fds, inst, **args) as c:
                return c.reply(reply_timeout)
        except errors.ServerGone:
            if op not in RETRY or fds or attempt == 2:
                raise
            import time

            time.sleep(0.1 * (attempt + 1))  # its keeper starts a new labkitd at once
    raise AssertionError("unreachable")


class ServerStartFailed(errors.LabkitError):
    """labkitd could not be started, or does not answer once started (e.g. a reset held its lock)."""


def _connect(inst: Instance) -> socket.socket:
    path = str(inst.run / SOCKET)
    for attempt in range(3):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            if attempt == 2:
                break
            start_supervisor(inst)
        except PermissionError:
            sock.close()
            raise errors.NotPermitted("error.runtime.cannot-talk-labkitd-only", path=path) from None
    raise ServerStartFailed("error.runtime.labkitd-does-answer", path=path, inst_run_labkitd_log=inst.run / 'labkitd.log')


def start_supervisor(inst: Instance) -> None:
    """Start labkitd (through its keeper, keeper.py) for this lab and return once it listens (another client may have won the race:
    then that one serves us)."""
    import subprocess

    errors.require_root("starting-labkitd-container-supervisor")
    from ...helper import interpreter

    failed = inst.run / "labkitd.failed.json"  # daemon/keeper.py's FAILED: why the last try could not start
    try:
        failed.unlink()
    except FileNotFoundError:
        pass
    proc = subprocess.run([*interpreter("labkit.runtime.daemon.keeper"), str(inst.root)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60, close_fds=True)
    if proc.returncode != 0:
        try:
            info = json.loads(failed.read_text())
        except (OSError, ValueError):
            info = None  # none written: a failure the keeper did not foresee, said by its log below
        if isinstance(info, dict):
            raise remote_error(info)
        log = inst.run / "labkitd.log"
        tail = log.read_text()[-1500:] if log.exists() else proc.stderr.decode(errors="replace")[-1500:]
        raise ServerStartFailed("error.runtime.labkitd-did-start-exit", returncode=proc.returncode, tail=tail)
