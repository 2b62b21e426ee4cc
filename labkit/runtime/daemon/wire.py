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


def error_reply(e: BaseException) -> dict:
    if isinstance(e, LabkitError):
        # "types": the class and its bases, most specific first, e.g. ["UnsafeLayer", "LabkitError"]: the
        # client takes the first it knows (errors defined in images/ are not all imported there).
        # "modules": where each is defined, so a client that has that module loaded keeps the exact class.
        mro = [c for c in type(e).__mro__ if issubclass(c, LabkitError)]
        return {"error": {"type": type(e).__name__, "types": [c.__name__ for c in mro],
                          "modules": [c.__module__ for c in mro],
                          "message": e.message, "hint": e.hint, "exit_code": e.exit_code}}
    if isinstance(e, OSError):
        from ...errors import translate_oserror

        traceback.print_exc()  # unexpected here: the log shows where
        return error_reply(translate_oserror(e, "serve the request"))
    traceback.print_exc()
    return {"error": {"type": "LabkitError", "message": f"labkitd failed: {type(e).__name__}: {e}",
                      "hint": "its log is labkitd.log in the lab's run folder; `labkit reset` starts afresh."}}
