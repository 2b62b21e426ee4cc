"""Predict, then run: the learner writes a guess down before the cell that answers it, and the
kernel's answer is shown beside the guess. The guess is kept with the learner's progress, so that
`lk.progress()` (and an instructor's `labkit progress --all`) shows what each one expected.

    # predict: 03.oom-threshold
    lk.predict("03.oom-threshold", ___)                # the learner's guess, e.g. 40 (MiB)
    ...the cells that run it...
    lk.reveal("03.oom-threshold", peak_mib)             # "you said 40 · the kernel: 38.1", and why

A prediction cell with its blank still in it says "write your guess first" and records nothing
(exercises.hold_blanks). reveal() reads the guess back from the progress file, so it works after
a kernel restart too; without a guess it says so and shows the answer all the same. Whether the
guess was right is decided by reveal's caller (`right=`: a bool, or a function of the guess), or,
given none, by equality. The catalog's entry ("kind = prediction") holds the question, the unit
and the explanation, in each language.

A guess is kept as JSON: a number, a text, True/False; anything else is kept as its repr.
"""

from __future__ import annotations

import html
import json
import time

from .. import catalog
from . import progress

KEY = progress.PREDICTIONS  # progress file: {"predictions": {"03.oom-threshold": {"guess": 40, "answer": 38.1, ...}}}


def _plain(value):
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _texts(prediction_id: str) -> dict:
    return catalog.entry(prediction_id)


def _general(field: str, **values) -> str:
    return catalog.text("prediction.any", field, **values)


def _shown(value, unit: str) -> str:
    if isinstance(value, bool):
        return _general("yes") if value else _general("no")
    if isinstance(value, float):
        value = f"{value:.3g}"
    return f"{value} {unit}".strip()


class Predicted:
    """What lk.predict() shows: the guess, written down."""

    def __init__(self, prediction_id: str, guess):
        self.id, self.guess, self.texts = prediction_id, guess, _texts(prediction_id)

    def __repr__(self) -> str:
        return _general("noted", question=self.texts.get("question", self.id),
                        guess=_shown(self.guess, self.texts.get("unit", "")))

    def _repr_html_(self) -> str:
        return f"<div style='border-left:4px solid #48c;padding-left:8px'>✎ {html.escape(repr(self))}</div>"


class Revealed:
    """What lk.reveal() shows: the guess and the kernel's answer side by side, and why."""

    def __init__(self, prediction_id: str, guess, answer, right: bool | None):
        self.id, self.guess, self.answer, self.right = prediction_id, guess, answer, right
        self.texts = _texts(prediction_id)

    def _verdict(self) -> str:
        if self.right is None:
            return _general("no_guess")
        return _general("right") if self.right else _general("surprise")

    def __repr__(self) -> str:
        unit = self.texts.get("unit", "")
        guess = _shown(self.guess, unit) if self.right is not None else "—"
        return "\n".join([self.texts.get("question", self.id),
                          f"  {_general('you')}: {guess}",
                          f"  {_general('kernel')}: {_shown(self.answer, unit)}",
                          f"  {self._verdict()} {self.texts.get('why', '')}".rstrip()])

    def _repr_html_(self) -> str:
        unit = self.texts.get("unit", "")
        guess = html.escape(_shown(self.guess, unit)) if self.right is not None else "—"
        color = "#2a2" if self.right else "#e90"
        cell = "padding:4px 14px;font-size:1.3em"
        return (f"<div style='border-left:4px solid {color};padding-left:8px'>"
                f"<b>{html.escape(self.texts.get('question', self.id))}</b>"
                f"<table><tr><th>{html.escape(_general('you'))}</th><th>{html.escape(_general('kernel'))}</th></tr>"
                f"<tr><td style='{cell}'>{guess}</td><td style='{cell}'>{html.escape(_shown(self.answer, unit))}</td></tr>"
                f"</table>{html.escape(self._verdict())} {html.escape(self.texts.get('why', ''))}</div>")


class Blank:
    """What a prediction cell shows while its blank is still in it: write the guess first."""

    def __init__(self, prediction_id: str):
        self.id, self.texts = prediction_id, _texts(prediction_id)

    def __repr__(self) -> str:
        return _general("blank", question=self.texts.get("question", self.id))

    def _repr_html_(self) -> str:
        return f"<div style='border-left:4px solid #48c;padding-left:8px'>✎ {html.escape(repr(self))}</div>"


def predict(prediction_id: str, guess) -> Predicted:
    """Write the learner's guess down (again: the last guess counts)."""
    guess = _plain(guess)
    entry = {"guess": guess, "time": time.time()}
    try:
        progress.update(KEY, prediction_id, entry)
    except OSError:
        pass  # a read-only data root: the guess is still shown
    return Predicted(prediction_id, guess)


def guess_of(prediction_id: str, who: str | None = None):
    """(True, guess) if the learner wrote one down, else (False, None)."""
    entry = progress.load(who=who).get(KEY, {}).get(prediction_id)
    return (True, entry["guess"]) if entry and "guess" in entry else (False, None)


def reveal(prediction_id: str, answer, right=None) -> Revealed:
    """Show the learner's guess beside the kernel's `answer`. right: True/False, or a function of
    the guess (e.g. lambda g: abs(g - answer) <= 8); None: the guess equals the answer."""
    answer = _plain(answer)
    known, guess = guess_of(prediction_id)
    verdict = None
    if known:
        try:
            verdict = bool(right(guess)) if callable(right) else (bool(right) if right is not None else guess == answer)
        except (TypeError, ValueError):  # a guess of another type than the answer ("forty" for 40)
            verdict = False
        try:
            progress.update(KEY, prediction_id, {"guess": guess, "answer": answer, "right": verdict, "time": time.time()})
        except OSError:
            pass
    return Revealed(prediction_id, guess, answer, verdict)


predictions = catalog.predictions  # every prediction of the catalog, by ID
