"""What a finished process gives back, the same everywhere a learner runs one: c.exec(...), g.run(...).

    r = c.exec("ps")          r.exit_code, r.stdout, r.stderr, r.ok
    r = g.run("dd ...")       the same; exit_code 137 when SIGKILL ended it (128 + 9), as docker says

lk.run returns a RunResult (runtime/client/run.py): the same four, plus the container's ID, name and timing.
"""

from __future__ import annotations

import shlex


class ProcessResult:
    __slots__ = ("args", "exit_code", "stdout", "stderr")

    def __init__(self, args, exit_code: int, stdout: str, stderr: str):
        self.args = tuple(args) if not isinstance(args, str) else (args,)
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {shlex.join(self.args)!r}: exit {self.exit_code}>"
