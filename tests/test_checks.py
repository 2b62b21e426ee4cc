"""lk.check asks the kernel: each check passes on the real thing and fails, with a hint, when it is not so."""

from __future__ import annotations

import os

import pytest

import labkit as lk


def test_an_oom_kill_in_a_container_that_goes_on_running_is_counted(box):
    # sh (PID 1) outlives each OOM-killed dd: the kill is in the cgroup's counter, not in an exit record
    c = lk.run("busybox", ["sh", "-c", "while :; do dd if=/dev/zero bs=32M count=1 2>/dev/null | sleep 1; done"],
               detach=True, memory="16M", name="goes-on")
    box.append(c)
    ok = lk.check.oom_killed(c, timeout=30)
    assert "kill(s) so far" in repr(ok) and c.status == "running"


def test_no_oom_kill_is_a_failed_check_with_a_hint(box):
    c = lk.run("busybox", "sleep 600", detach=True, memory="64M", name="calm")
    box.append(c)
    with pytest.raises(lk.CheckFailed) as e:
        lk.check.oom_killed(c, timeout=1)
    assert "memory limit must be below" in e.value.hint
    ended = lk.run("busybox", "true", detach=True, name="ended-well")
    box.append(ended)
    with pytest.raises(lk.CheckFailed):
        lk.check.oom_killed(ended)


def test_the_limit_check_reads_the_kernel_s_file(box):
    c = lk.run("busybox", "sleep 600", detach=True, memory="32M", name="limited")
    box.append(c)
    passed = lk.check.cgroup_limit(c, "memory", 32 << 20)
    assert passed and "32 MiB" in repr(passed) and str(32 << 20) not in repr(passed)  # as a learner reads a size
    with pytest.raises(lk.CheckFailed) as e:
        lk.check.cgroup_limit(c, "memory", 64 << 20)
    assert "32 MiB" in e.value.hint  # what the kernel's file says, in MiB


def test_whiteout_and_copy_up_checks_look_in_the_upper_layer(inst):
    low = inst.root / "check-lower"
    (low / "bin").mkdir(parents=True)
    (low / "bin" / "vi").write_text("vi")
    (low / "motd").write_text("hi")
    with lk.overlay([low], name="check") as ov:
        with pytest.raises(lk.CheckFailed):
            lk.check.whiteout(ov, "bin/vi")
        with pytest.raises(lk.CheckFailed):
            lk.check.in_upper(ov, "motd")  # read, never written: not copied up
        (ov.merged / "motd").read_text()
        with pytest.raises(lk.CheckFailed):
            lk.check.in_upper(ov, "motd")
        os.remove(ov.merged / "bin" / "vi")
        (ov.merged / "motd").write_text("changed")
        assert lk.check.whiteout(ov, "bin/vi") and lk.check.in_upper(ov, "motd")
        with pytest.raises(lk.CheckFailed):
            lk.check.in_upper(ov, "bin/vi")  # a whiteout is not a copy


def test_isolated_compares_namespace_inodes(box):
    c = lk.run("busybox", "sleep 600", detach=True, network="host", name="host-net")
    box.append(c)
    assert lk.check.isolated(c.attrs["pid"], ["pid", "mnt", "uts"])
    with pytest.raises(lk.CheckFailed) as e:
        lk.check.isolated(c.attrs["pid"], ["pid", "net"])
    assert "net" in e.value.hint
    with pytest.raises(lk.CheckFailed):
        lk.check.isolated(os.getpid(), ["pid"])


def test_check_sentences_come_from_the_catalog_in_the_learner_s_language(box, monkeypatch):
    from labkit import checks
    from labkit import catalog

    c = lk.run("busybox", "sleep 600", detach=True, name="spoken")
    box.append(c)
    real = catalog.entry
    zh = {"check.running": {"passed": "{name} 正在运行", "hint": "它现在是 {status}"},
          "check.exit_code": {"passed": "{nom} a fini"}}  # a translation naming a placeholder that is not there
    monkeypatch.setattr(catalog, "entry", lambda key: dict(real(key), **zh.get(key, {})))
    assert repr(lk.check.running(c)) == "✔ spoken 正在运行"
    assert checks.text("exit_code", "passed", name="x", code=0) == "{nom} a fini"  # shown as written, never a KeyError
    c.stop(timeout=1)
    with pytest.raises(lk.CheckFailed) as e:
        lk.check.running(c)
    assert e.value.hint == "它现在是 exited"
