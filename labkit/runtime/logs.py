"""A container's output: two FIFOs, a log file, and whoever is attached.

    /var/lib/labkit/containers/<id>/stdout.fifo, stderr.fifo    the container's fd 1 and fd 2
    /var/lib/labkit/containers/<id>/log.json                    one JSON line per line printed, as
        docker's json-file driver: {"log": "hello\\n", "stream": "stdout", "time": "2026-11-27T23:59:59.123456Z"}

Why FIFOs and not pipes: a pipe's read end lives in one process; if labkitd dies, the container's
next write gets SIGPIPE. A FIFO has a name: the container opens it read-write (so it always counts
as a reader itself and never gets SIGPIPE), labkitd opens it for reading, and a labkitd started
later opens it again by its name and goes on where the last one stopped. While no labkitd reads,
output waits in the FIFO (64 KiB), and then the writer waits: nothing is lost.

This module is what both sides read: the paths, the format, the limits. labkitd's side, the pump
that moves output from the FIFOs to the log and to clients, is daemon/pump.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

STREAMS = ("stdout", "stderr")
LOG_NAME = "log.json"
#: The lab's cap on a container's log, as docker's json-file `--log-opt max-size=10m --log-opt max-file=3`:
#: log.json grows to MAX_SIZE, then becomes log.json.1 (log.json.1 becomes .2, ...), and the oldest of
#: MAX_FILE files is dropped. A workshop VM's small root disk never fills with one chatty container.
MAX_SIZE = 10 << 20
MAX_FILE = 3
DROPPED = "log.dropped"  # {"stdout": bytes, "stderr": bytes} rotated away for good: offsets stay true
LONG_LINE = 16384  # a line longer than this is logged in pieces, as docker does


def limits(config: dict) -> tuple[int, int]:
    """(max-size, max-file) for a container: its --log-opt (config.json's annotations
    org.labkit.log.max-size / max-file), else the lab's defaults."""
    ann = config.get("annotations") or {}
    try:
        return int(ann.get("org.labkit.log.max-size", MAX_SIZE)), int(ann.get("org.labkit.log.max-file", MAX_FILE))
    except (TypeError, ValueError):
        return MAX_SIZE, MAX_FILE


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


def log_files(bundle: Path, max_file: int = 64) -> list[Path]:
    """The log's files, oldest first: log.json.2, log.json.1, log.json (those that exist)."""
    rotated = [bundle / f"{LOG_NAME}.{n}" for n in range(max_file, 0, -1)]
    return [p for p in rotated if p.exists()] + ([bundle / LOG_NAME] if (bundle / LOG_NAME).exists() else [])


def read_dropped(bundle: Path) -> dict[str, int]:
    try:
        d = json.loads((bundle / DROPPED).read_text())
        return {s: int(d.get(s, 0)) for s in STREAMS}
    except (OSError, ValueError, TypeError, AttributeError):
        return {s: 0 for s in STREAMS}


def file_entries(path: Path, chunk: int = 1 << 16):
    """The JSON entries of one log file, read a piece at a time (a 200 MB log never sits in memory)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        rest = b""
        while True:
            data = f.read(chunk)
            if not data:
                break
            *lines, rest = (rest + data).split(b"\n")
            for line in lines:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("stream") in STREAMS and isinstance(entry.get("log"), str):
                    yield entry


def entries(bundle: Path):
    """Every entry of a container's log, oldest first, over its rotated files."""
    for path in log_files(bundle):
        yield from file_entries(path)


def picked(bundle: Path, stdout: bool = True, stderr: bool = True, tail: int | None = None):
    """The log's entries of the streams asked for, oldest first; with tail, only the last `tail`
    (a deque of that many: the rest of the log passes through, never held)."""
    from collections import deque

    want = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
    chosen = (e for e in entries(bundle) if e["stream"] in want)
    if tail is None:
        return chosen
    return iter(deque(chosen, maxlen=tail)) if tail > 0 else iter(())


def read_log(bundle: Path, stdout: bool = True, stderr: bool = True, tail: int | None = None) -> list[dict]:
    return list(picked(bundle, stdout, stderr, tail))


def format_log(entry: dict, timestamps: bool) -> str:
    return f"{entry['time']} {entry['log']}" if timestamps else entry["log"]
