"""Which exercises a learner has passed, kept under the lab's data root, one file per learner:

    /var/lib/labkit/progress/alice.json   {"02.uts-not-pid": {"status": "passed", "time": 1796000000.0, "tries": 2}}

The learner is $JUPYTERHUB_USER, else $LABKIT_LEARNER, else the login name. `labkit progress` (or
lk.progress()) shows one learner's, notebook by notebook; `labkit progress --all` every learner's,
for an instructor to see where a room stands.
"""

from __future__ import annotations

import getpass
import json
import os
import time

from ..paths import Instance, instance


def learner() -> str:
    name = os.environ.get("JUPYTERHUB_USER") or os.environ.get("LABKIT_LEARNER") or getpass.getuser()
    return "".join(ch for ch in name if ch.isalnum() or ch in "._-")[:64] or "learner"


def _path(inst: Instance, who: str):
    return inst.root / "progress" / f"{who}.json"


def load(inst: Instance | None = None, who: str | None = None) -> dict:
    try:
        return json.loads(_path(inst or instance(), who or learner()).read_text())
    except (OSError, ValueError):
        return {}


def record(exercise_id: str, passed: bool, inst: Instance | None = None) -> None:
    """A try: passed stays passed (a later "not yet", from re-running the notebook as shipped, does not undo it)."""
    inst = inst or instance()
    path = _path(inst, learner())
    path.parent.mkdir(parents=True, exist_ok=True)
    data = load(inst)
    entry = data.get(exercise_id, {"status": "not yet", "tries": 0})
    entry["tries"] = entry.get("tries", 0) + 1
    if passed or entry.get("status") != "passed":
        entry["status"] = "passed" if passed else "not yet"
    entry["time"] = time.time()
    data[exercise_id] = entry
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class Progress:
    """A learner's (or every learner's) exercises by notebook: passed / all."""

    def __init__(self, rows: list[tuple[str, str, int, int, list[str]]]):
        self.rows = rows  # (learner, notebook, passed, total, ids not passed yet)

    def __repr__(self) -> str:
        lines = [f"{'LEARNER':<16}{'NOTEBOOK':<26}{'PASSED':>8}  NOT YET"]
        for who, nb, passed, total, left in self.rows:
            lines.append(f"{who:<16}{nb:<26}{passed:>3} / {total:<3} {', '.join(left)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        body = "".join(
            f"<tr><td>{html.escape(who)}</td><td style='text-align:left'>{html.escape(nb)}</td>"
            f"<td><div style='background:#ddd;width:120px'><div style='background:#2a2;height:10px;"
            f"width:{round(120 * passed / total) if total else 0}px'></div></div></td><td>{passed} / {total}</td>"
            f"<td style='text-align:left'>{html.escape(', '.join(left))}</td></tr>" for who, nb, passed, total, left in self.rows)
        return ("<table><tr><th>learner</th><th>notebook</th><th></th><th>passed</th><th>not yet</th></tr>"
                + body + "</table>")


def summary(everyone: bool = False, inst: Instance | None = None) -> Progress:
    from .catalog import exercises

    inst = inst or instance()
    if everyone:
        try:
            who_all = sorted(p.stem for p in (inst.root / "progress").glob("*.json"))
        except OSError:
            who_all = []
    else:
        who_all = [learner()]
    by_nb: dict[str, list[str]] = {}
    for ex_id, e in exercises().items():
        by_nb.setdefault(e.get("notebook", "?"), []).append(ex_id)
    rows = []
    for who in who_all:
        done = {k for k, v in load(inst, who).items() if v.get("status") == "passed"}
        for nb, ids in sorted(by_nb.items()):
            rows.append((who, nb, len(done & set(ids)), len(ids), [i for i in ids if i not in done]))
    return Progress(rows)


def cmd_progress(args) -> int:
    print(summary(everyone=args.all))
    return 0
