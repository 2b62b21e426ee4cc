"""The texts a learner reads from labkit's code, kept apart from it: one file per language. Exercises
(their checks and hints), lk.check's sentences ("check.*") and the pictures' labels ("picture.*").

    labkit/messages/en.toml
        ["02.uts-not-pid"]
        notebook = "02-namespaces"
        title = "A hostname of its own, the host's process IDs"
        passed = "only the UTS namespace is new: ..."        shown when every condition holds
        uts_new = "the UTS namespace is still the host's: ..."  one text per condition the code checks
        hints = ["a nudge", "the call to use"]              the third tier is the solution (solutions/)

A translation is another file (zh.toml) with the same keys; a key it lacks falls back to English.
The language: the one lk.language("zh") chose in this process, else $LABKIT_LANG ("zh",
"zh_CN.UTF-8" -> "zh"), else the locale ($LC_ALL, $LC_MESSAGES, $LANG, as gettext reads them), else
English; a language with no file here ("C", "fr") is English.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

HERE = Path(__file__).parent / "messages"


#: lk.language("zh") in this process; None: from the environment
_chosen: str | None = None


def available() -> list[str]:
    """The languages the catalog has a file for: ["en", "zh"]."""
    return sorted(_files(HERE))


@lru_cache(maxsize=4)
def _files(folder: Path) -> frozenset[str]:
    """Read once per folder: language() runs for every text shown (a plot's frame asks for twenty)."""
    return frozenset(p.stem for p in folder.glob("*.toml"))


def _code(value: str) -> str:
    """ "zh_CN.UTF-8" -> "zh"; "C.UTF-8" -> "c"; "en" -> "en"."""
    return value.split("_")[0].split(".")[0].split("@")[0].lower()


def language() -> str:
    for value in (_speaking.get(), _chosen, os.environ.get("LABKIT_LANG"), os.environ.get("LC_ALL"), os.environ.get("LC_MESSAGES"),
                  os.environ.get("LANG")):
        if value:  # the first one set decides, as gettext's order does: LC_ALL=C means C, whatever LANG says
            code = _code(value)
            return code if code in _files(HERE) else "en"
    return "en"


def choose(lang: str | None) -> str:
    """lk.language(): set this process's language ("zh", "en"; None: back to the environment's)."""
    global _chosen
    if lang is not None and (not isinstance(lang, str) or _code(lang) not in available()):
        raise ValueError(lang)  # lk.language() says it as an InvalidArgument (errors.py reads this module)
    _chosen = _code(lang) if lang is not None else None
    if _chosen is not None:
        os.environ["LABKIT_LANG"] = _chosen  # processes started from here (a helper, a CLI) speak it too
    return language()


@lru_cache(maxsize=8)
def _load(lang: str) -> dict:
    """One language's texts: messages/en.toml, then each part's folder: the errors' (messages/errors/en.toml,
    kept apart: ~300 errors and their hints would bury the exercises), the CLI's help (messages/cli/)."""
    out: dict = {}
    for path in (HERE / f"{lang}.toml", *sorted(HERE.glob(f"*/{lang}.toml"))):
        try:
            with open(path, "rb") as f:
                out.update(tomllib.load(f))
        except FileNotFoundError:
            pass
    return out


def has(entry_id) -> bool:
    """Whether the catalog has this entry: LabkitError("error.cgroups.write") is a key; a text made
    elsewhere (an old labkitd's reply) is not."""
    return isinstance(entry_id, str) and entry_id in _load("en")


#: The language of the request being served: labkitd answers each client in its own (quick.py sends its env).
_speaking: ContextVar[str | None] = ContextVar("labkit_speaking", default=None)


def of_environment(env: dict) -> str:
    """The language a client's environment asks for: {"LANG": "zh_CN.UTF-8"} -> "zh"."""
    for name in ("LABKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        if env.get(name):
            code = _code(env[name])
            return code if code in _files(HERE) else "en"
    return "en"


class speaking:
    """Texts made inside are in `lang`, whatever this process speaks: `with speaking("zh"): str(err)`."""

    def __init__(self, lang: str | None):
        self.lang = lang

    def __enter__(self):
        self._token = _speaking.set(self.lang)
        return self

    def __exit__(self, *exc):
        _speaking.reset(self._token)


def _shown(value):
    """A value as a text shows it: a Text in the language of the moment, a list of them joined
    ("a veth on bridge ...; 2 published ports"), anything else as it is."""
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Text) for v in value):
        return text("list", "sep").join(str(v) for v in value)
    return value


class Text:
    """A text shown later, in the language of the moment it is shown:

        Text("doing", "mount", path="/var/lib/labkit/x")   -> str(): "mount an overlay on /var/lib/labkit/x"

    Its values may be Texts too (an error's "could not {doing}"). `wire()` is what labkitd sends a
    client, which makes it again with `Text.unwire` and shows it in its own language."""

    __slots__ = ("entry", "field", "values")

    def __init__(self, entry: str, field: str, **values):
        self.entry, self.field, self.values = entry, field, values

    def __str__(self) -> str:
        return text(self.entry, self.field, **{k: _shown(v) for k, v in self.values.items()})

    def __repr__(self) -> str:
        return f"Text({self.entry!r}, {self.field!r}: {str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Text) and (self.entry, self.field, self.values) == (other.entry, other.field, other.values)

    __hash__ = None

    def wire(self) -> dict:
        def plain(v):
            if isinstance(v, Text):
                return v.wire()
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            return v if isinstance(v, (str, int, float, bool)) or v is None else str(v)
        return {"entry": self.entry, "field": self.field, "values": {k: plain(v) for k, v in self.values.items()}}

    @classmethod
    def unwire(cls, data) -> "Text | None":
        """A Text from its wire form; None for anything else (a reply is never trusted to be well formed)."""
        if not isinstance(data, dict) or not has(data.get("entry")) or not isinstance(data.get("field"), str):
            return None
        values = data.get("values") if isinstance(data.get("values"), dict) else {}
        made = {}
        for k, v in values.items():
            if isinstance(k, str) and k.isidentifier():
                made[k] = ([cls.unwire(x) if isinstance(x, dict) else x for x in v] if isinstance(v, list)
                           else cls.unwire(v) if isinstance(v, dict) else v)
        return cls(data["entry"], data["field"], **made)


def entry(exercise_id: str) -> dict:
    """The exercise's texts in the learner's language, English where a translation has no text."""
    base = dict(_load("en").get(exercise_id, {}))
    base.update(_load(language()).get(exercise_id, {}))
    return base


def text(entry_id: str, field: str, default: str | None = None, **values) -> str:
    """One text of an entry in the learner's language, its {placeholders} filled in:
    text("check.exit_code", "passed", name="web", code=0) -> "web exited with 0". A translation that
    names another placeholder is shown as it is; a text missing everywhere shows `default` (or the field)."""
    template = entry(entry_id).get(field, field if default is None else default)
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):
        return template


def speaker(entry_id: str):
    """The texts of one entry, as a function a module keeps: _say = speaker("reset"), then
    _say("removed", n=3) in the learner's language at the time it is called."""
    def say(field: str, default: str | None = None, **values) -> str:
        return text(entry_id, field, default, **values)

    return say


def exercises(lang: str = "en") -> dict[str, dict]:
    """Every exercise of the catalog, by ID: {"02.uts-not-pid": {"notebook": "02-namespaces", ...}}.
    (The catalog holds other texts a learner reads too, e.g. "picture.*" and "check.*": they name no notebook.)"""
    return {k: v for k, v in _load(lang).items() if isinstance(v, dict) and "notebook" in v and v.get("kind") != "prediction"}


def predictions(lang: str = "en") -> dict[str, dict]:
    """Every prediction of the catalog ("kind = prediction"), by ID: {"03.oom-threshold": {"notebook": ...}}."""
    return {k: v for k, v in _load(lang).items() if isinstance(v, dict) and v.get("kind") == "prediction"}


def columns(text: str) -> int:
    """The terminal columns `text` takes: a CJK character takes two ("学员" is 4 wide)."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, width: int, right: bool = False) -> str:
    """`text` padded to `width` terminal columns, which str.ljust does not count: a Chinese table's
    columns would drift."""
    fill = " " * max(0, width - columns(text))
    return fill + text if right else text + fill
