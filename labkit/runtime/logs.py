"""A container's output: two FIFOs, a log file, and whoever is attached.

    /var/lib/labkit/containers/<id>/stdout.fifo, stderr.fifo    the container's fd 1 and fd 2
    /var/lib/labkit/containers/<id>/log.json                    one JSON line per line printed, as
        docker's json-file driver: {"log": "hello\\n", "stream": "stdout", "time": "2026-11-27T23:59:59.123456Z"}

Why FIFOs and not pipes: a pipe's read end lives in one process; if labkitd dies, the container's
next write gets SIGPIPE. A FIFO has a name: the container opens it read-write (so it always counts
as a reader itself and never gets SIGPIPE), labkitd opens it for reading, and a labkitd started
later opens it again by its name and goes on where the last one stopped. While no labkitd reads,
output waits in the FIFO (64 KiB), and then the writer waits: nothing is lost.

Pump (below) runs in labkitd's event loop: it never blocks. Output for an attached client (lk.run
in the foreground, `labkit run` without -d) goes onto the client's connection (connection.py);
while more than MAX_PENDING bytes wait for a slow client, the container's FIFO is not read, so
the container waits rather than labkitd holding its output in memory.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .connection import MAX_PENDING

STREAMS = ("stdout", "stderr")
LOG_NAME = "log.json"
LONG_LINE = 16384  # a line longer than this is logged in pieces, as docker does


def fifo_paths(bundle: Path) -> list[Path]:
    return [bundle / f"{s}.fifo" for s in STREAMS]


def make_fifos(bundle: Path) -> None:
    for p in fifo_paths(bundle):
        if not p.exists():
            os.mkfifo(p, 0o600)


def stamp(now: float | None = None) -> str:
    """RFC 3339 time with microseconds, in UTC, as docker's logs: 2026-11-27T23:59:59.123456Z."""
    now = time.time() if now is None else now
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


class Pump:
    """One container's output on its way to log.json and to an attached client.

    The event loop calls readable(fd) when a FIFO has data; want_read() says which FIFOs to wait
    for. An attached client (a Connection) gets each chunk as a frame; it writes to whatever its
    own stdout is (a file, /dev/null, a pipe, a terminal), so labkitd never touches those."""

    def __init__(self, bundle: Path):
        self.fds = {os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC): s for p, s in zip(fifo_paths(bundle), STREAMS)}
        self.log = os.open(bundle / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.partial = {s: b"" for s in STREAMS}
        self.eof: set[int] = set()  # FIFOs with no writer left: the container's processes are gone
        self.client = None  # the attached client's Connection, while it listens

    def attach_to(self, conn) -> None:
        self.client = conn
        conn.on_hangup.append(self.detach)

    def detach(self) -> None:
        self.client = None

    # -- what to wait for -----------------------------------------------------------------------------
    def want_read(self) -> list[int]:
        if self.client is not None and self.client.pending() > MAX_PENDING:
            return []  # the client is slow: the container waits (its FIFO fills), labkitd does not grow
        return [fd for fd in self.fds if fd not in self.eof]

    # -- events -----------------------------------------------------------------------------------------
    def readable(self, fd: int) -> None:
        stream = self.fds.get(fd)
        if stream is None:  # closed since the loop chose this fd (the container exited in the same batch)
            return
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if data:
            self._take(stream, data)
        else:
            self.eof.add(fd)

    def drain(self) -> None:
        """Read what is left in the FIFOs (the container has exited), then flush the last partial lines."""
        for fd, stream in self.fds.items():
            while True:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if not data:
                    break
                self._take(stream, data)
        for stream in STREAMS:
            if self.partial[stream]:
                self._log(stream, [self.partial[stream]])
                self.partial[stream] = b""

    def close(self) -> None:
        self.client = None
        for fd in list(self.fds) + [self.log]:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = {}

    # -- inside ------------------------------------------------------------------------------------------
    def _take(self, stream: str, data: bytes) -> None:
        *lines, self.partial[stream] = (self.partial[stream] + data).split(b"\n")
        lines = [line + b"\n" for line in lines]
        if len(self.partial[stream]) > LONG_LINE:
            lines.append(self.partial[stream])
            self.partial[stream] = b""
        if lines:
            self._log(stream, lines)
        if self.client is not None:  # after the log: what a client got is in the log, but for a partial line
            self.client.send_frame(1 if stream == "stdout" else 2, data)

    def _log(self, stream: str, lines: list[bytes]) -> None:
        t = stamp()
        os.write(self.log, "".join(json.dumps({"log": line.decode(errors="replace"), "stream": stream, "time": t}) + "\n"
                                   for line in lines).encode())


def replay(bundle: Path, skip: dict[str, int], counted: dict[str, int]):
    """Frames (connection.py) of what log.json holds past the first skip[stream] bytes of each
    stream, read a piece at a time; `counted` ends with the bytes of each stream in the log."""
    from .connection import frame

    for stream in STREAMS:
        counted[stream] = 0
    try:
        f = open(bundle / LOG_NAME, "rb")
    except FileNotFoundError:
        return
    with f:
        rest = b""
        while True:
            data = f.read(1 << 16)
            if not data:
                return
            *lines, rest = (rest + data).split(b"\n")
            out = []
            for line in lines:
                try:
                    entry = json.loads(line)
                    stream, text = entry["stream"], entry["log"].encode()
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if stream not in counted:
                    continue
                before = counted[stream]
                counted[stream] += len(text)
                if counted[stream] > skip.get(stream, 0):
                    out.append(frame(1 if stream == "stdout" else 2, text[max(0, skip.get(stream, 0) - before):]))
            if out:
                yield b"".join(out)


def read_log(bundle: Path, stdout: bool = True, stderr: bool = True, tail: int | None = None) -> list[dict]:
    want = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
    try:
        lines = (bundle / LOG_NAME).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    entries = [e for e in (json.loads(line) for line in lines if line.strip()) if e["stream"] in want]
    return entries[-tail:] if tail else entries


def format_log(entry: dict, timestamps: bool) -> str:
    return f"{entry['time']} {entry['log']}" if timestamps else entry["log"]
