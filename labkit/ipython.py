"""In a notebook, a LabkitError shows as its message and hint, not as a traceback, and an exercise
cell that raises shows "not yet" with what went wrong.

Outside exercises, the output is still an error (red, and nbclient still fails a headless run on
it): only the frames from deep inside labkit are left out, since the hint says what to do. In an
exercise cell (one with a "# exercise: ID" line) any Exception is a wrong answer, not a crash:
the learner sees "not yet", why, the exercise's hints, and the traceback folded (exercises.stopped).
KeyboardInterrupt and SystemExit are not caught: the kernel's own stop buttons keep working.
"""

from __future__ import annotations

import sys

#: The exercise ID of the cell being run (None for any other cell): set before each cell runs.
_running: list[str | None] = [None]
#: The error an exercise cell raised and "not yet" showed: after the cell, the run is marked a
#: success, so that the kernel does not abort the cells queued after it (Run All goes on, as
#: after a blank) and a headless run does not stop there.
_answered: list[BaseException | None] = [None]


def install() -> None:
    """Register the handlers with the running IPython, if there is one; otherwise do nothing."""
    ipython_mod = sys.modules.get("IPython")
    ip = ipython_mod.get_ipython() if ipython_mod is not None else None
    if ip is None:
        return
    from . import exercises
    from .errors import LabkitError

    def before(info) -> None:
        _running[0] = exercises.exercise_id(info.raw_cell or "")
        _answered[0] = None

    def after(result) -> None:
        if _answered[0] is not None and result.error_in_exec is _answered[0]:
            result.error_in_exec = None
        _answered[0] = None

    def show(shell, etype, evalue, tb, tb_offset=None):
        ex = _running[0]
        if ex is not None:
            from IPython.display import display

            evalue.__traceback__ = tb
            display(exercises.stopped(ex, evalue))
            _answered[0] = evalue
            return None
        if issubclass(etype, LabkitError):
            shell.showtraceback((etype, evalue, tb), exception_only=True)
        else:
            shell.showtraceback((etype, evalue, tb), tb_offset=tb_offset)
        return None

    if getattr(ip, "_labkit_installed", False):  # `import labkit` again, or importlib.reload: once is enough
        return
    ip._labkit_installed = True
    ip.events.register("pre_run_cell", before)
    ip.events.register("post_run_cell", after)
    ip.set_custom_exc((Exception,), show)
    if exercises.hold_blanks not in ip.input_transformers_post:  # blanks or unreadable: "not yet", runs nothing
        ip.input_transformers_post.append(exercises.hold_blanks)
