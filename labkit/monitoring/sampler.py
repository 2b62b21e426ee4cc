"""A sampler: every `interval` seconds, each target's cgroup figures, kept in bounded ring buffers.

    s = Sampler(c1, c2, interval=0.1)      # Containers, names, lk.cgroup groups, or cgroups.Group
    s.start()                              # a background thread: the notebook stays free
    s.series("web")["memory_current"]      # -> [7340032, 7344128, ...], beside s.series("web")["t"]
    s.events                               # [(t, "web", "oom", "OOM kill #1"), (t, "web", "limit", "memory 64.0MiB -> 32.0MiB")]
    s.stop(); s.to_csv("run.csv")

It stops by itself once none of its targets has a cgroup any more (containers exited or removed).
Memory stays bounded whatever the run length: `keep` samples per target, the newest.
Each sample is the Probe's figures plus cpu_percent (% of one core since the last sample), and the
host's CPU % and used memory from psutil, for comparison.
"""

from __future__ import annotations

import collections
import csv
import threading
import time

from .. import cgroups
from ..errors import InvalidArgument, LabkitError
from ..catalog import speaker
from .probe import Gone, Probe

_say = speaker("plot")  # the marks' texts, in the learner's language

FIGURES = ("memory_current", "memory_peak", "memory_limit", "oom_kills", "cpu_percent", "cpu_usage_us",
           "cpu_throttled_us", "cpu_limit", "pids_current", "pids_limit", "io_read_bytes", "io_write_bytes",
           "memory_pressure", "cpu_pressure", "host_cpu_percent", "host_memory_used")
GONE_AFTER = 2.0  # seconds without any target's cgroup before the sampler stops by itself


class Target:
    """One thing sampled: a label, and how to find its cgroup again (a container restarts in a new one)."""

    def __init__(self, label: str, find, ended=None):
        self.label, self.find = label, find  # find() -> a cgroups.Group, or None while there is none
        # ended() -> how it ended, once its group is gone: {"exit_code": 137, "oom_killed": True}, or None
        self.ended = ended or (lambda: None)
        self.oom_seen = False
        self.probe: Probe | None = None
        self.last: dict | None = None
        self.last_t = 0.0

    def read(self) -> dict | None:
        if self.probe is None:
            group = self.find()
            if group is None or not group.exists():
                return None
            try:
                self.probe = Probe(group)
            except Gone:
                return None
        try:
            return self.probe.read()
        except Gone:
            self.probe.close()
            self.probe = None
            return None


def target_for(thing, inst=None) -> Target:
    """A Target for a Container, a container's name or ID, an lk.cgroup(...) group or a cgroups.Group."""
    from ..runtime.client.containers import Container

    if isinstance(thing, str):
        from ..runtime.client.containers import get

        thing = get(thing, inst)
    if isinstance(thing, Container):
        from ..runtime import state

        c = thing

        def find():
            rec = state.read(c.inst, c.id)
            return cgroups.group(rec["cgroup"]) if rec and rec["status"] == "running" else None

        def ended():
            rec = state.read(c.inst, c.id)
            return rec if rec and rec["status"] == "exited" else None

        return Target(c.name, find, ended)
    group = getattr(thing, "group", thing)  # lk.cgroup(...) wraps a cgroups.Group
    if hasattr(group, "dirs") and hasattr(group, "exists"):
        label = getattr(thing, "name", None) or group.name
        return Target(label.rsplit("/", 1)[-1], lambda: group)
    raise InvalidArgument("error.monitoring.cannot-sample", thing=thing)


class Sampler:
    def __init__(self, *targets, interval: float = 0.5, keep: int = 1200, host: bool = True, inst=None):
        if not targets:
            raise InvalidArgument("error.monitoring.nothing-sample")
        if not (0.01 <= interval <= 3600):
            raise InvalidArgument("error.monitoring.interval-s-out-range", interval=interval)
        self.targets = [target_for(t, inst) for t in targets]
        self.interval, self.keep, self.host = float(interval), int(keep), host
        self.samples: dict[str, collections.deque] = {t.label: collections.deque(maxlen=self.keep) for t in self.targets}
        self.events: collections.deque = collections.deque(maxlen=max(100, self.keep))
        self.t0 = time.monotonic()
        self.started_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.busy_seconds = 0.0  # CPU time the sampling thread used, for its cost (bench/sampler_cost.py)

    # -- running --------------------------------------------------------------------------------
    def start(self) -> "Sampler":
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="labkit-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        for t in self.targets:
            if t.probe is not None:
                t.probe.close()
                t.probe = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Block until the sampler stops (its targets are gone), or `timeout` seconds."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        import psutil

        if self.host:
            psutil.cpu_percent(None)  # the first call only starts psutil's own interval
        last_seen = time.monotonic()
        next_t = time.monotonic()
        while not self._stop.is_set():
            c0 = time.thread_time()
            seen = self.sample_once(psutil if self.host else None)
            self.busy_seconds += time.thread_time() - c0
            now = time.monotonic()
            if seen:
                last_seen = now
            elif now - last_seen > max(GONE_AFTER, 2 * self.interval):
                break  # every target is gone: stop by ourselves
            next_t += self.interval
            self._stop.wait(max(0.0, next_t - time.monotonic()))

    def sample_once(self, psutil=None) -> int:
        """Take one round of samples now; returns how many targets had a cgroup."""
        host = {}
        if psutil is not None:
            host = {"host_cpu_percent": psutil.cpu_percent(None), "host_memory_used": psutil.virtual_memory().used}
        seen = 0
        for tgt in self.targets:
            now = time.monotonic()
            try:
                fig = tgt.read()
            except (LabkitError, OSError):
                fig = None
            t = now - self.t0
            if fig is None:
                if tgt.last is not None:
                    self._ended(tgt, t)
                    tgt.last = None
                continue
            seen += 1
            prev = tgt.last
            if prev is None:
                self.mark(tgt.label, "start", _say("running"), t)
                fig["cpu_percent"] = None
            else:
                used = (fig.get("cpu_usage_us") or 0) - (prev.get("cpu_usage_us") or 0)
                fig["cpu_percent"] = max(0.0, used / 1e6 / max(now - tgt.last_t, 1e-6) * 100)
                if (fig.get("oom_kills") or 0) > (prev.get("oom_kills") or 0):
                    self.mark(tgt.label, "oom", _say("oom_kill", n=fig["oom_kills"]), t)
                    tgt.oom_seen = True
                for key in ("memory_limit", "cpu_limit", "pids_limit"):
                    if fig.get(key) != prev.get(key):
                        self.mark(tgt.label, "limit", _say(key, old=_show(key, prev.get(key)), new=_show(key, fig.get(key))), t)
            fig.update(host)
            tgt.last, tgt.last_t = fig, now
            with self._lock:
                self.samples[tgt.label].append((t, fig))
        return seen

    def _ended(self, tgt: Target, t: float) -> None:
        """Its cgroup is gone. A container that an OOM kill ended takes its group with it before the next
        sample can count the kill (e.g. 40 ms later): the record labkitd wrote at the exit says so."""
        try:
            rec = tgt.ended()
        except (LabkitError, OSError):
            rec = None
        if rec and rec.get("oom_killed") and not tgt.oom_seen:
            self.mark(tgt.label, "oom", _say("oom_at_exit"), t)
        code = rec.get("exit_code") if rec else None
        self.mark(tgt.label, "stop", _say("stopped") if code is None else _say("exited", code=code), t)

    def mark(self, label: str, kind: str, text: str, t: float | None = None) -> None:
        """Put an event on the time axis: "oom", "limit", "start", "stop" (or your own kind)."""
        with self._lock:
            self.events.append((time.monotonic() - self.t0 if t is None else t, label, kind, text))

    # -- what was seen ------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.targets]

    def series(self, label: str) -> dict[str, list]:
        """{"t": [seconds since start...], "memory_current": [...], ...} for one target."""
        with self._lock:
            rows = list(self.samples[label])
        out: dict[str, list] = {"t": [t for t, _ in rows]}
        for f in FIGURES:
            out[f] = [fig.get(f) for _, fig in rows]
        return out

    def latest(self, label: str) -> dict | None:
        with self._lock:
            rows = self.samples[label]
            return dict(rows[-1][1]) if rows else None

    def to_csv(self, path) -> str:
        """Every sample kept, one row per target per round: time,target,<figures>."""
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t", "target", *FIGURES])
            for label in self.labels:
                s = self.series(label)
                for i, t in enumerate(s["t"]):
                    w.writerow([f"{t:.3f}", label, *("" if s[k][i] is None else s[k][i] for k in FIGURES)])
        return str(path)

    def __repr__(self) -> str:
        n = sum(len(d) for d in self.samples.values())
        return (f"<Sampler {', '.join(self.labels)} every {self.interval:g} s: {n} samples, {len(self.events)} events, "
                f"{'running' if self.running else 'stopped'}>")


def _show(key: str, value) -> str:
    if value is None:
        return _say("none")
    if key == "memory_limit":
        from ..cgroups.units import format_bytes

        return format_bytes(value)
    if key == "cpu_limit":
        return f"{value:g}"
    return str(value)
