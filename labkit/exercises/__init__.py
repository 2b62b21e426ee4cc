"""Exercises in the notebooks: the learner fills in blanks or writes the code, and a check that asks
the kernel says whether it worked, with a hint for what it found.

An exercise cell starts with its ID, holds blanks (`___`) and ends with its check:

    # exercise: 02.uts-not-pid
    r = lk.unshare(___, "busybox hostname; echo $$", hostname="mine")
    lk.exercise("02.uts-not-pid").verify(uts_new="uts" in r.view.isolated(), pid_shared="pid" in r.view.shared(),
                                         hostname_set=r.inside.get("hostname") == "mine")

A cell that still has a blank is not run: it shows "not yet" and the first hint (ipython.py turns it
into not_yet(ID)), so a notebook run top to bottom as shipped never stops there. verify() shows ✔
with the catalog's "passed" text, or "not yet" with the text of each condition that does not hold
and the hints folded (a nudge, the call to use, then the solution from notebooks/solutions/), and
records the try (progress.py). It never raises: the rest of the notebook runs either way.

A wrong answer may never reach verify(): arguments swapped (ContainerNotFound), a number where a
string goes (TypeError), a command without its quotes (SyntaxError). An exercise cell that raises
or cannot be read shows "not yet" with what went wrong too (stopped(), unreadable(); ipython.py
routes them here), never a traceback: the traceback is folded below it, for whoever wants it.
"""

from __future__ import annotations

import ast
import html
import re
import traceback
from pathlib import Path

from .. import catalog
from . import progress

BLANK = "___"
ID_LINE = re.compile(r"^\s*#\s*exercise:\s*(\S+)", re.M)
PREDICT_LINE = re.compile(r"^\s*#\s*predict:\s*(\S+)", re.M)  # a prediction cell (predictions.py)
SOLUTIONS = Path(__file__).resolve().parents[2] / "notebooks" / "solutions"


def solutions(notebook: str, lang: str | None = None) -> dict[str, str]:
    """The solution cells of a notebook, by exercise ID, from notebooks/solutions/<notebook>.py,
    where each starts with its own "# exercise: ID" line; in Chinese (`lang`, else the learner's
    language) from notebooks/solutions/zh-CN/<notebook>.py: the same code, its comments in Chinese."""
    lang = lang or catalog.language()
    folder = SOLUTIONS / "zh-CN" if lang == "zh" and (SOLUTIONS / "zh-CN" / f"{notebook}.py").exists() else SOLUTIONS
    try:
        text = (folder / f"{notebook}.py").read_text()
    except FileNotFoundError:
        return {}
    marks = list(ID_LINE.finditer(text))
    return {m.group(1): text[m.start():(marks[i + 1].start() if i + 1 < len(marks) else len(text))].strip() + "\n"
            for i, m in enumerate(marks)}


class Outcome:
    def __init__(self, exercise_id: str, passed: bool, found: list[str], texts: dict, details: str = ""):
        self.id, self.passed, self.found, self.texts = exercise_id, passed, found, texts
        self.details = details  # a traceback, folded under the hints (stopped())

    def hints(self) -> list[str]:
        tiers = list(self.texts.get("hints", []))
        solution = solutions(self.texts.get("notebook", "")).get(self.id)
        return tiers + ([f"{general('solution')}\n{solution}"] if solution else [])

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        if self.passed:
            return f"✔ {self.texts.get('passed', self.id)}"
        lines = [f"{general('not_yet')}: {self.texts.get('title', self.id)}"] + [f"  - {f}" for f in self.found]
        first = self.hints()[:1]
        return "\n".join(lines + [f"{general('hint')}: {h}" for h in first])

    def _repr_html_(self) -> str:
        if self.passed:
            return f"<div style='color:#2a2'>✔ {html.escape(self.texts.get('passed', self.id))}</div>"
        found = "".join(f"<li>{html.escape(f)}</li>" for f in self.found)
        tiers = "".join(f"<details><summary>{html.escape(general('hint_n', n=i + 1))}</summary><pre style='white-space:pre-wrap'>{html.escape(h)}</pre>"
                        f"</details>" for i, h in enumerate(self.hints()))
        details = (f"<details><summary>{html.escape(general('traceback'))}</summary><pre style='white-space:pre-wrap'>"
                   f"{html.escape(self.details)}</pre></details>") if self.details else ""
        return (f"<div style='border-left:4px solid #e90;padding-left:8px'><b>{html.escape(general('not_yet'))}</b>: "
                f"{html.escape(self.texts.get('title', self.id))}<ul>{found}</ul>{tiers}{details}</div>")


class Exercise:
    def __init__(self, exercise_id: str):
        self.id = exercise_id
        self.texts = catalog.entry(exercise_id)

    def verify(self, **conditions: bool) -> Outcome:
        """Each keyword is a condition the learner's work must meet, named as in the catalog:
        verify(uts_new=..., pid_shared=...). All true: passed."""
        found = [self.texts.get(name, name.replace("_", " ")) for name, ok in conditions.items() if not ok]
        out = Outcome(self.id, not found, found, self.texts)
        try:
            progress.record(self.id, out.passed)
        except OSError:
            pass  # progress is a record, not the lesson: a read-only data root does not stop the notebook
        return out

    def __repr__(self) -> str:
        return f"Exercise({self.id!r}: {self.texts.get('title', '')})"


def exercise(exercise_id: str) -> Exercise:
    return Exercise(exercise_id)


def general(field: str, **values) -> str:
    """A text of the catalog's "exercise.any" entry, filled in: general("raised", error="...")."""
    return catalog.text("exercise.any", field, **values)


def _tried(exercise_id: str | None, found: list[str], details: str = "") -> Outcome:
    texts = catalog.entry(exercise_id) if exercise_id else {}
    out = Outcome(exercise_id or "exercise", False, found, texts, details)
    if exercise_id:
        try:
            progress.record(exercise_id, False)
        except OSError:
            pass
    return out


def not_yet(exercise_id: str | None, why: str | None = None) -> Outcome:
    """What a cell with blanks (or one Python cannot read: why) shows instead of running (ipython.py)."""
    return _tried(exercise_id, [why or general("blanks", blank=BLANK)])


def stopped(exercise_id: str, error: BaseException) -> Outcome:
    """What an exercise cell shows when the learner's code raised before its check: the error in a
    sentence, its hint (a labkit error has one), and the traceback folded.
    ContainerNotFound("no container named 'nb09-web'") -> "not yet: ... the cell stopped at an error:
    ContainerNotFound: no container named 'nb09-web' (run the cells above it first ...)"."""
    from ..errors import ContainerNotFound, LabkitError
    from ..filesystems.volumes import VolumeNotFound
    from ..network.networks import NetworkNotFound

    message = (error.message if isinstance(error, LabkitError) else str(error)).strip()
    found = [general("raised", error=f"{type(error).__name__}: {message}" if message else type(error).__name__)]
    if getattr(error, "hint", ""):
        found.append(error.hint)
    if isinstance(error, (ContainerNotFound, NetworkNotFound, VolumeNotFound, NameError)):
        found.append(general("run_above"))  # made by a cell above (or a clean-up cell removed it)
    details = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return _tried(exercise_id, found, details)


def unreadable(error: SyntaxError) -> str:
    """Why Python cannot run an exercise cell: where, and the usual cause (a text without its quotes)."""
    return general("unreadable", line=error.lineno or "?", error=error.msg or "invalid syntax",
                   text=(error.text or "").strip())


def exercise_id(source: str) -> str | None:
    m = ID_LINE.search(source)
    return m.group(1) if m else None


def hold_blanks(lines: list[str]) -> list[str]:
    """IPython input transformer for exercise cells: one with a blank becomes `not_yet(its ID)`, one
    Python cannot parse (a command without its quotes) `not_yet(its ID, why)`; any other cell runs
    as written. `___` is never a name a learner's code needs (IPython keeps it for the third-last
    output, which no exercise uses)."""
    source = "".join(lines)
    ex = exercise_id(source)
    if ex is None:
        m = PREDICT_LINE.search(source) if BLANK in source else None
        if m:  # a guess not written yet: say so, keep nothing
            return [f"__import__('labkit.exercises.predictions', fromlist=['Blank']).Blank({m.group(1)!r})\n"]
        return lines
    call = "__import__('labkit.exercises', fromlist=['not_yet']).not_yet"
    if BLANK in source:
        return [f"{call}({ex!r})\n"]
    try:
        compile(source, "<exercise>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as e:
        return [f"{call}({ex!r}, {unreadable(e)!r})\n"]
    return lines
