"""The instructor's view of a room, one row per learner: is their container up, what it uses, which
exercises they passed, notebook by notebook, and whether they look stuck.

Progress is the learner's own record (lk.progress: /var/lib/labkit/progress/<login>.json inside their
container), read by LXD from outside the container, never asked of the learner's server:

    {"03.memory-limits": {"status": "passed", "time": 1796000000.0, "tries": 2},
     "04.level-4": {"status": "not yet", "time": 1796000300.0, "tries": 5}, "predictions": {...}}

Stuck (the room's [stuck] settings): an exercise tried `failures` times and not passed yet, or no
exercise passed for `idle_minutes` while the container runs (counted from the first try, so a learner
who has not begun is "not started", not stuck).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from ..catalog import exercises
from ..errors import LabkitError
from .lxd import Lxd
from .roster import Learner
from .settings import Stuck

PROGRESS = "/var/lib/labkit/progress/{login}.json"


@dataclass(frozen=True)
class View:
    login: str
    container: str
    status: str  # LXD's: "Running", "Stopped", or "missing" (not made yet)
    memory: int = 0
    cpu_ns: int = 0
    passed: dict[str, tuple[int, int]] = field(default_factory=dict)  # notebook -> (passed, of)
    last: float | None = None  # the last try's time
    stuck: tuple = ()  # () or why, as an ID and its values: ("tries", "04.level-4", 5), ("idle", 12)

    @property
    def done(self) -> int:
        return sum(p for p, _ in self.passed.values())

    def stuck_said(self) -> str:
        """Why, in the instructor's language: "04.level-4 tried 5 times, not passed yet"."""
        from ..catalog import text

        if not self.stuck:
            return ""
        if self.stuck[0] == "tries":
            return text("room.watch", "stuck_tries", exercise=self.stuck[1], n=self.stuck[2])
        return text("room.watch", "stuck_idle", minutes=self.stuck[1])


def stuck_reason(record: dict, rule: Stuck, now: float) -> tuple:
    """Why a learner looks stuck, from their progress record (() when they do not)."""
    tries = {k: v for k, v in record.items() if isinstance(v, dict) and "status" in v}
    for ex_id, entry in sorted(tries.items()):
        if entry.get("status") != "passed" and int(entry.get("tries", 0)) >= rule.failures:
            return ("tries", ex_id, int(entry["tries"]))
    if not tries:
        return ()
    passes = [float(v.get("time", 0)) for v in tries.values() if v.get("status") == "passed"]
    since = max(passes) if passes else min(float(v.get("time", now)) for v in tries.values())
    idle = (now - since) / 60
    return ("idle", int(idle)) if idle >= rule.idle_minutes else ()


def by_notebook(record: dict) -> dict[str, tuple[int, int]]:
    """notebook -> (passed, exercises it has), for every notebook with exercises."""
    out: dict[str, list[int]] = {}
    for ex_id, ex in exercises().items():
        row = out.setdefault(ex["notebook"], [0, 0])
        row[1] += 1
        entry = record.get(ex_id)
        if isinstance(entry, dict) and entry.get("status") == "passed":
            row[0] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def look(api: Lxd, learners: list[Learner], rule: Stuck, now: float | None = None) -> list[View]:
    """One view per learner, from LXD alone."""
    now = time.time() if now is None else now
    have = set(api.names())
    views = []
    for x in learners:
        if x.container not in have:
            views.append(View(x.login, x.container, "missing", passed=by_notebook({})))
            continue
        use = api.usage(x.container)
        record: dict = {}
        try:
            record = json.loads(api.read(x.container, PROGRESS.format(login=x.login)))
        except (LabkitError, ValueError):
            record = {}  # no record yet (nothing tried), or one the learner broke
        if not isinstance(record, dict):
            record = {}
        times = [float(v["time"]) for v in record.values() if isinstance(v, dict) and isinstance(v.get("time"), (int, float))]
        views.append(View(x.login, x.container, use.status, use.memory, use.cpu_ns, by_notebook(record),
                          max(times) if times else None,
                          stuck_reason(record, rule, now) if use.status == "Running" else ()))
    return views
