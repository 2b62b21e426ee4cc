"""Which exercises a learner has passed, kept under the lab's data root, one file per learner:

    /var/lib/labkit/progress/alice.json   {"02.uts-not-pid": {"status": "passed", "time": 1796000000.0, "tries": 2},
                                           "predictions": {"03.oom-threshold": {"guess": 40, "answer": 38.1, "right": true}}}

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

PREDICTIONS = "predictions"  # the section of a learner's file that keeps their guesses (predictions.py)


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
    _save(path, data)


def update(section: str, key: str, entry: dict, inst: Instance | None = None) -> None:
    """Keep `entry` under data[section][key], e.g. a prediction: ("predictions", "03.oom-threshold", {"guess": 40})."""
    inst = inst or instance()
    path = _path(inst, learner())
    path.parent.mkdir(parents=True, exist_ok=True)
    data = load(inst)
    if not isinstance(data.get(section), dict):
        data[section] = {}
    data[section][key] = entry
    _save(path, data)


def _save(path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


class Progress:
    """A learner's (or every learner's) exercises by notebook: passed / all, and the predictions
    written down: "40 -> 38.1 ✔" (the guess, the kernel's answer once revealed, right or not)."""

    def __init__(self, rows: list[tuple]):
        self.rows = rows  # (learner, notebook, passed, total, ids not passed yet, predictions as text)

    def __repr__(self) -> str:
        from ..catalog import pad, text

        head = [text("progress", f"col_{k}").upper() for k in ("learner", "notebook", "passed", "not_yet", "predicted")]
        lines = [f"{pad(head[0], 16)}{pad(head[1], 26)}{pad(head[2], 8, right=True)}  {pad(head[3], 30)} {head[4]}"]
        for who, nb, passed, total, left, predicted in self.rows:
            lines.append(f"{who:<16}{nb:<26}{passed:>3} / {total:<3} {', '.join(left):<30} {predicted}".rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        import html

        body = "".join(
            f"<tr><td>{html.escape(who)}</td><td style='text-align:left'>{html.escape(nb)}</td>"
            f"<td><div style='background:#ddd;width:120px'><div style='background:#2a2;height:10px;"
            f"width:{round(120 * passed / total) if total else 0}px'></div></div></td><td>{passed} / {total}</td>"
            f"<td style='text-align:left'>{html.escape(', '.join(left))}</td>"
            f"<td style='text-align:left'>{html.escape(predicted)}</td></tr>"
            for who, nb, passed, total, left, predicted in self.rows)
        from ..catalog import text

        head = "".join(f"<th>{html.escape(text('progress', f'col_{k}'))}</th>" if k else "<th></th>"
                       for k in ("learner", "notebook", "", "passed", "not_yet", "predicted"))
        return f"<table><tr>{head}</tr>" + body + "</table>"


def _predicted(entries: dict, ids: list[str]) -> str:
    """ "40 -> 38.1 ✔" for each prediction of the notebook the learner wrote down ("40 -> ?" before the reveal)."""
    out = []
    for pid in ids:
        e = entries.get(pid)
        if not isinstance(e, dict) or "guess" not in e:
            continue
        mark = {True: " ✔", False: " ✗"}.get(e.get("right"), "")
        out.append(f"{e['guess']} -> {e['answer'] if 'answer' in e else '?'}{mark}")
    return "; ".join(out)


def summary(everyone: bool = False, inst: Instance | None = None) -> Progress:
    from ..catalog import exercises, predictions

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
    guesses_by_nb: dict[str, list[str]] = {}
    for pid, e in predictions().items():
        guesses_by_nb.setdefault(e.get("notebook", "?"), []).append(pid)
        by_nb.setdefault(e.get("notebook", "?"), [])
    rows = []
    for who in who_all:
        data = load(inst, who)
        done = {k for k, v in data.items() if isinstance(v, dict) and v.get("status") == "passed"}
        said = data.get(PREDICTIONS) if isinstance(data.get(PREDICTIONS), dict) else {}
        for nb, ids in sorted(by_nb.items()):
            rows.append((who, nb, len(done & set(ids)), len(ids), [i for i in ids if i not in done],
                         _predicted(said, guesses_by_nb.get(nb, []))))
    return Progress(rows)


def cmd_progress(args) -> int:
    print(summary(everyone=args.all))
    return 0
