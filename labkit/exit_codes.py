"""A process's exit code, as docker and a shell give it, decided here once:

    0-255   the code it exited with                       exit 3        -> 3
    128+N   killed by signal N                            SIGKILL (9)   -> 137, SIGTERM (15) -> 143
    125     it did not start: a step before exec failed   a -w that is a file, a refused mount
    126     its command exists but cannot be executed     /etc/passwd as the command
    127     its command was not found                     no such program on PATH
"""

from __future__ import annotations

import errno
import os

FAILED_TO_START, NOT_EXECUTABLE, NOT_FOUND = 125, 126, 127


def of_wait_status(status: int) -> int:
    """waitpid's status -> the exit code: 0x0300 -> 3, killed by SIGKILL -> 137."""
    return of_returncode(os.waitstatus_to_exitcode(status))


def of_returncode(returncode: int) -> int:
    """subprocess's returncode (-9: killed by SIGKILL) -> the shell's and docker's exit code (137)."""
    return 128 - returncode if returncode < 0 else returncode


def of_exec_error(number: int | None) -> int:
    """execve's errno -> 127 for ENOENT (not found), 126 for any other (EACCES, ENOEXEC, ...)."""
    return NOT_FOUND if number == errno.ENOENT else NOT_EXECUTABLE
