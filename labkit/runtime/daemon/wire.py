"""What goes back to a client: an exit as a reply, any error as a typed one (the client raises the same
LabkitError class with its hint). A starting process's failed step becomes its error in failures.py.
"""

from __future__ import annotations

import time
import traceback

from ...errors import LabkitError


def exit_reply(rec: dict) -> dict:
    reply = {"id": rec["id"], "exit_code": rec.get("exit_code"), "oom_killed": rec.get("oom_killed", False),
             "finished_at": rec.get("finished_at"), "t": time.monotonic()}
    if rec.get("error"):  # e.g. its exit was not seen: labkitd and its keeper were both gone
        reply["error"] = rec["error"]
    return reply


def error_reply(e: BaseException, lang: str | None = None) -> dict:
    """The error as a client reads it: its class, its words in `lang` (the quick client prints them as
    they are) and as catalog keys with values, that a full client shows in its own language."""
    if isinstance(e, LabkitError):
        from ...catalog import Text, speaking

        with speaking(lang):
            message, hint, hint_line = e.message, e.hint, e.hint_line()
        made, hint_made = e.text(), e.hint_text()
        # "types": the class and its bases, most specific first, e.g. ["UnsafeLayer", "LabkitError"]: the
        # client takes the first it knows (errors defined in images/ are not all imported there).
        # "modules": where each is defined, so a client that has that module loaded keeps the exact class.
        mro = [c for c in type(e).__mro__ if issubclass(c, LabkitError)]
        return {"error": {"type": type(e).__name__, "types": [c.__name__ for c in mro],
                          "modules": [c.__module__ for c in mro],
                          "message": message, "hint": hint, "hint_line": hint_line, "exit_code": e.exit_code,
                          "text": made.wire() if made is not None else None,
                          "hint_text": hint_made.wire() if isinstance(hint_made, Text) else None}}
    if isinstance(e, OSError):
        from ...errors import translate_oserror

        traceback.print_exc()  # unexpected here: the log shows where
        return error_reply(translate_oserror(e, "serve-request"), lang)
    traceback.print_exc()
    return error_reply(LabkitError("error.runtime.labkitd-failed", kind=type(e).__name__, what=str(e)), lang)
