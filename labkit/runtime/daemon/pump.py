"""The output pump: a container's FIFOs read in labkitd's loop, written to its log (log.json,
../logs.py says the format) and framed to whoever is attached; and the log sent back as frames.

It never blocks. Output for an attached client (lk.run in the foreground, `labkit run` without -d)
goes onto the client's connection (connection.py); while more than MAX_PENDING bytes wait for a
slow client, the container's FIFO is not read, so the container waits rather than labkitd holding
its output in memory.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

from ..logs import (DROPPED, LOG_NAME, LONG_LINE, MAX_FILE, MAX_SIZE, STREAMS, entries, fifo_paths, file_entries,
                    format_log, log_files, picked, read_dropped, stamp)
from .connection import MAX_PENDING, frame
from .journal import log as log_line


class Pump:
    """One container's output on its way to log.json and to an attached client.

    The event loop calls readable(fd) when a FIFO has data; want_read() says which FIFOs to wait
    for. An attached client (a Connection) gets each chunk as a frame; it writes to whatever its
    own stdout is (a file, /dev/null, a pipe, a terminal), so labkitd never touches those."""

    def __init__(self, bundle: Path, max_size: int = MAX_SIZE, max_file: int = MAX_FILE):
        self.fds = {os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC): s for p, s in zip(fifo_paths(bundle), STREAMS)}
        self.tty = None  # -t: the terminal's master, the container's one output, logged as stdout (use_terminal)
        self.bundle, self.max_size, self.max_file = bundle, max_size, max(1, max_file)
        self.log = os.open(bundle / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.size = os.fstat(self.log).st_size
        self.lost = 0  # bytes of log lines a full disk refused
        # Bytes of log text per stream in each log file, oldest first, e.g. [{"stdout": 10485700}, {"stdout": 312}]:
        # rotation adds the oldest's to log.dropped without reading it. None: a file from before this
        # Pump (labkitd restarted), counted from the file if it is ever dropped.
        self.counts: list[dict | None] = [None] * (len(log_files(bundle, self.max_file)) - 1) + [None if self.size else {}]
        self.partial = {s: b"" for s in STREAMS}
        self.eof: set[int] = set()  # FIFOs with no writer left: the container's processes are gone
        self.client = None  # the attached client's Connection, while it listens
        # `docker logs -f`: (Connection, with timestamps) each. Sent whole lines as they are logged; a
        # follower never slows the container: one that falls MAX_PENDING behind is cut off.
        self.followers: list[tuple] = []

    def use_terminal(self, master: int) -> None:
        """-t: the container's output is its terminal's, from now on (its FIFOs are no longer its
        fds 1 and 2). Called before the loop watches this pump."""
        for fd in self.fds:
            os.close(fd)
        self.tty, self.fds, self.eof = master, {master: "stdout"}, set()

    def attach_to(self, conn) -> None:
        self.client = conn
        conn.on_hangup.append(self.detach)

    def detach(self) -> None:
        self.client = None

    def follow(self, conn, timestamps: bool = False) -> None:
        self.followers.append((conn, timestamps))
        conn.on_hangup.append(lambda: self.unfollow(conn))

    def unfollow(self, conn) -> None:
        self.followers = [f for f in self.followers if f[0] is not conn]

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
        except OSError:  # EIO: a terminal whose every slave end is closed (the container's processes are gone)
            data = b""
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
                except OSError:  # nothing more now (EAGAIN), or EIO: a terminal with no slave left
                    break
                if not data:
                    break
                self._take(stream, data)
        for stream in STREAMS:
            if self.partial[stream]:
                self._log(stream, [self.partial[stream]])
                self.partial[stream] = b""

    def close(self) -> None:
        self.client, self.followers = None, []
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
            self.client.send_output(1 if stream == "stdout" else 2, data, terminal=self.tty is not None)

    def _log(self, stream: str, lines: list[bytes]) -> None:
        t = stamp()
        texts = [line.decode(errors="replace") for line in lines]
        data = "".join(json.dumps({"log": text, "stream": stream, "time": t}) + "\n" for text in texts).encode()
        if self.size and self.size + len(data) > self.max_size:
            try:
                self._rotate()
            except OSError:
                pass  # a full disk may refuse the rotation's files too: write on into this one
        counted = self._write_log(data)
        if counted:
            self.size += len(data)
        for conn, timestamps in list(self.followers):
            if conn.pending() > MAX_PENDING:
                self.unfollow(conn)
                conn.send_last_frame({})  # ends the HTTP stream
                continue
            for line in lines:
                conn.send_frame(1 if stream == "stdout" else 2, (t + " ").encode() + line if timestamps else line)
        if counted and self.counts[-1] is not None:
            self.counts[-1][stream] = self.counts[-1].get(stream, 0) + sum(len(text.encode()) for text in texts)

    def _write_log(self, data: bytes) -> bool:
        """Append whole lines to log.json, or nothing: a disk that takes only part of them (ENOSPC, EIO,
        a short write) has the part cut off again, so the log never holds half a JSON line. The output
        still reaches the attached client and the followers; only the log misses it, and labkitd's own
        log says so once per container."""
        try:
            if os.write(self.log, data) == len(data):
                return True
            raise OSError(errno.ENOSPC, "short write")
        except OSError as e:
            try:
                os.ftruncate(self.log, self.size)
            except OSError:
                pass
            if not self.lost:
                log_line(f"labkitd {os.getpid()} could not write {self.bundle.name[:12]}'s log.json ({e.strerror or e}): "
                         "its output goes on to its clients, not into the log")
            self.lost += len(data)
            return False

    def _rotate(self) -> None:
        """log.json -> log.json.1 -> ... -> log.json.<MAX_FILE-1>; the oldest goes, and what it held
        is added to log.dropped, so a reader's byte offsets (attach's "seen") stay true."""
        paths = log_files(self.bundle, self.max_file)  # oldest first, log.json last
        if len(self.counts) != len(paths):  # files went missing under us: count what is there if need be
            self.counts = [None] * len(paths)
        if len(paths) >= self.max_file:
            oldest = paths[0]
            counted = self.counts.pop(0)
            if counted is None:
                counted = {}
                for entry in file_entries(oldest):
                    stream = entry.get("stream")
                    counted[stream] = counted.get(stream, 0) + len(str(entry.get("log", "")).encode())
            dropped = read_dropped(self.bundle)
            for stream in dropped:
                dropped[stream] += counted.get(stream, 0)
            tmp = self.bundle / (DROPPED + ".tmp")
            tmp.write_text(json.dumps(dropped))
            os.rename(tmp, self.bundle / DROPPED)
            oldest.unlink()
        for n in range(self.max_file - 1, 0, -1):
            src = self.bundle / (LOG_NAME if n == 1 else f"{LOG_NAME}.{n - 1}")
            if src.exists():
                os.rename(src, self.bundle / f"{LOG_NAME}.{n}")
        os.close(self.log)
        self.log = os.open(self.bundle / LOG_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self.size = 0
        self.counts.append({})


def replay(bundle: Path, skip: dict[str, int], counted: dict[str, int]):
    """Frames (connection.py) of what the log holds past the first skip[stream] bytes of each stream,
    read a piece at a time; `counted` ends with the bytes of each stream up to the log's end."""
    counted.update(read_dropped(bundle))  # what rotation dropped counts, though it cannot be sent

    def frames():
        for entry in entries(bundle):
            stream, text = entry["stream"], entry["log"].encode()
            before = counted[stream]
            counted[stream] += len(text)
            if counted[stream] > skip.get(stream, 0):
                yield frame(1 if stream == "stdout" else 2, text[max(0, skip.get(stream, 0) - before):])

    return _batched(frames())


def _batched(frames):
    """Frames joined into pieces of about 64 KiB: one send per piece, never the whole log in memory."""
    out, size = [], 0
    for f in frames:
        out.append(f)
        size += len(f)
        if size >= 1 << 16:
            yield b"".join(out)
            out, size = [], 0
    if out:
        yield b"".join(out)


def log_frames(bundle: Path, stdout: bool = True, stderr: bool = True, tail: int | None = None,
               timestamps: bool = False):
    """`docker logs [--tail N] [-t]`'s body: the log's lines as frames (connection.py), read and sent
    a piece at a time, e.g. frame(1, b"2026-12-05T22:30:00.000001Z hello\n") with timestamps."""
    return _batched(frame(1 if e["stream"] == "stdout" else 2, format_log(e, timestamps).encode())
                    for e in picked(bundle, stdout, stderr, tail))


