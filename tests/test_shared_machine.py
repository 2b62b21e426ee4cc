"""The suite on a machine that is not its alone: another lab running beside it (an instructor's at
/var/lib/labkit, a second checkout's) makes and removes containers while the tests run, and none of
that is taken for the suite's leak, nor touched by it."""

from __future__ import annotations

import os
import subprocess
import sys

import leaks
from labkit.paths import instance

LABKIT = [sys.executable, "-m", "labkit.cli"]


def test_another_labs_containers_are_not_the_suites_leaks_and_stay_untouched(tmp_path, busybox):
    env = dict(os.environ, LABKIT_ROOT=str(tmp_path / "other-lab"))
    other = instance(str(tmp_path / "other-lab"))
    try:
        r = subprocess.run(LABKIT + ["run", "-d", "--name", "theirs", "busybox", "sleep", "300"], env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        # Seen as the suite's: the lab came after the suite began (a test's) ...
        assert any(other.tag in obj for obj in leaks.snapshot())
        # ... and as another's, for a suite that began with it running
        beside = leaks.Others(instance().tag)
        assert other.tag in beside.tags
        mine = [obj for obj in leaks.snapshot() if other.tag not in obj and other.link_prefix not in obj]
        leaks._others, saved = beside, leaks._others
        try:
            assert sorted(leaks.snapshot()) == sorted(mine)  # its group, process, veth and rules left out
        finally:
            leaks._others = saved
        ps = subprocess.run(LABKIT + ["ps", "-q"], env=env, capture_output=True, text=True, timeout=60)
        assert len(ps.stdout.split()) == 1  # still running: nothing of the suite's touched it
    finally:
        subprocess.run(LABKIT + ["reset", "--yes"], env=env, capture_output=True, timeout=120)
