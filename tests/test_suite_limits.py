"""The suite's own hard limit (conftest.py): a test that hangs, in a blocking read or in a child
it waits for, fails on its own, names itself and shows its stack, and the tests after it run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

from conftest import REPO

HANGING = '''
import os, subprocess, pytest

@pytest.mark.limit(2)
def test_blocks_in_a_read():
    r, w = os.pipe()
    os.read(r, 1)  # nothing will ever come

@pytest.mark.limit(2)
def test_waits_for_a_child_and_swallows_errors():
    try:
        subprocess.run(["sleep", "60"])
    except Exception:
        pass

def test_after_them():
    assert True
'''


def test_a_hanging_test_fails_by_itself_and_the_run_goes_on(tmp_path):
    for name in ("conftest.py", "leaks.py"):
        shutil.copy(REPO / "tests" / name, tmp_path / name)
    (tmp_path / "test_hangs.py").write_text(HANGING)
    t = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                        "-W", "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path / "test_hangs.py")],
                       capture_output=True, text=True, timeout=100, cwd=tmp_path)
    took = time.monotonic() - t
    assert "2 failed, 1 passed" in r.stdout, r.stdout[-3000:]
    assert "test_blocks_in_a_read: test still running after 2 s" in r.stdout, r.stdout[-3000:]
    assert "os.read(r, 1)" in r.stdout + r.stderr  # where it hung: every thread's stack
    assert took < 90  # not the minute the child would have slept (never a wall-clock figure of labkit's)
