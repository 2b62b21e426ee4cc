"""Reset finds labkit's objects in the kernel by name and removes them, even with the state files gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import labkit as lk
from labkit import cgroups
from labkit.cgroups.base import read_pids
from labkit.filesystems.mounts import mounts
from labkit.kernel import syscalls as sc
from labkit.paths import instance



def _sh(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


def _break_everything(inst):
    """Leave one object of each kind, as a crashed lab would, and lose the state files."""
    made = {}
    # A process in one of the lab's cgroups, as a container whose supervisor died.
    g = cgroups.group(f"{inst.tag}/stray")
    g.create()
    sleeper = subprocess.Popen(["sleep", "600"])
    g.add(sleeper.pid)
    made["process"] = sleeper
    # A mount under the data root, named by the instance.
    mnt = inst.root / "stray-mount"
    mnt.mkdir(parents=True, exist_ok=True)
    sc.mount(inst.tag, str(mnt), "tmpfs", 0, "size=1m")
    made["mount"] = str(mnt)
    # A named network namespace and a link.
    if _sh("ip", "netns", "add", inst.object_name("stray")):
        made["netns"] = inst.object_name("stray")
    link = inst.link_prefix + "stray"
    if _sh("ip", "link", "add", link, "type", "dummy"):
        made["link"] = link
    # Firewall: a chain of our own with a rule (hooked into no built-in chain: it filters nothing).
    chain = f"{inst.tag}-TEST"
    if shutil.which("iptables") and _sh("iptables", "-N", chain):
        _sh("iptables", "-A", chain, "-m", "comment", "--comment", inst.tag, "-j", "RETURN")
        made["chain"] = chain
    if shutil.which("nft") and _sh("nft", "add", "table", "inet", inst.tag):
        made["nft"] = inst.tag
    # State: lost containers, a corrupt image index.
    shutil.rmtree(inst.containers, ignore_errors=True)
    inst.images.mkdir(parents=True, exist_ok=True)
    (inst.images / "index.json").write_text("{this is not json")
    return made


@pytest.mark.v2
def test_reset_removes_every_kind_of_object_from_a_broken_state(inst):
    made = _break_everything(inst)
    report = lk.reset()
    made["process"].wait(timeout=10)
    assert made["process"].returncode == -9
    assert made["process"].pid in report.processes
    assert not any(m.mountpoint == made["mount"] for m in mounts())
    assert not [d for d in cgroups.labkit_dirs() if d.name == inst.tag]
    if "netns" in made:
        assert made["netns"] in report.netns and not os.path.exists(f"/run/netns/{made['netns']}")
    if "link" in made:
        assert made["link"] in report.links and not os.path.exists(f"/sys/class/net/{made['link']}")
    if "chain" in made:
        assert made["chain"] not in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    if "nft" in made:
        assert f"table inet {made['nft']}" not in subprocess.run(["nft", "list", "tables"], capture_output=True,
                                                                  text=True).stdout
    assert not (inst.images / "index.json").exists()  # the corrupt store is removed ...
    assert not report.problems, report.problems
    r = lk.run("busybox", "echo rebuilt", rm=True, stream=False)  # ... and the default image comes back on use
    assert r.stdout == "rebuilt\n"


def test_reset_twice_and_concurrently_with_nothing_to_do(inst):
    lk.reset()
    assert lk.reset().removed == 0
    results, errors = [], []

    def go():
        try:
            results.append(lk.reset())
        except Exception as e:  # pragma: no cover - the assertion below shows it
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and all(not r.problems for r in results)
    procs = [subprocess.Popen([sys.executable, "-m", "labkit", "reset", "--yes"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]


@pytest.mark.v2
def test_reset_leaves_other_instances_alone(inst, tmp_path):
    other = instance(tmp_path / "other-lab")
    g = cgroups.group(f"{other.tag}/keep")
    g.create()
    try:
        lk.reset()
        assert g.exists(), "reset of one lab removed another lab's cgroup"
    finally:
        g.remove()


@pytest.mark.v2
def test_reset_kills_a_running_container_and_removes_its_cgroup(busybox, inst):
    box = {}

    def run():
        try:
            box["r"] = lk.run("busybox", "sleep 600", stream=False, rm=True)
        except Exception as e:  # shown by the assertion below
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 120  # the v2 VM runs under software emulation: be patient
    while not any(_pids_below(d) for d in cgroups.labkit_dirs(tag=inst.tag)):
        assert time.monotonic() < deadline and t.is_alive(), f"the container never started: {box}"
        time.sleep(0.02)
    report = lk.reset()
    t.join(timeout=60)
    # reset took labkitd and the container's record with it: the caller is told, it does not hang.
    assert isinstance(box.get("error"), lk.ContainerError), box
    assert "reset" in str(box["error"])  # whether it had started or not when reset came
    assert report.processes


def _pids_below(d):
    """PIDs in a lab's cgroups, but for labkitd's own group (it runs whenever the lab is in use)."""
    return [p for sub, _dirs, _files in os.walk(d) if Path(sub).name != "labkitd" for p in read_pids(Path(sub))]


def test_cli_reset_asks_and_yes_skips_the_question(inst):
    no = subprocess.run([sys.executable, "-m", "labkit", "reset"], input="n\n", capture_output=True, text=True)
    assert no.returncode == 1 and "nothing removed" in no.stderr
    yes = subprocess.run([sys.executable, "-m", "labkit", "reset"], input="y\n", capture_output=True, text=True)
    assert yes.returncode == 0 and "reset" in yes.stdout
    quiet = subprocess.run([sys.executable, "-m", "labkit", "reset", "--yes"], capture_output=True, text=True)
    assert quiet.returncode == 0


def test_reset_keeps_a_filesystem_mounted_at_the_data_root_itself(tmp_path):
    # An admin may give the lab a tmpfs as its data root (the v2 VM does): that mount is not labkit's.
    root = tmp_path / "root"
    root.mkdir()
    sc.mount("admin-tmpfs", str(root), "tmpfs", 0, "size=4m")
    try:
        inner = root / "containers" / "x" / "rootfs"
        inner.mkdir(parents=True)
        other = instance(root)
        sc.mount(other.tag, str(inner), "tmpfs", 0, "size=1m")  # one of the lab's own, below the root
        from labkit.host.reset import reset

        report = reset(inst=other)  # another lab's root: lk.reset() resets this one
        points = {m.mountpoint for m in mounts()}
        assert str(root) in points, "reset unmounted the data root's own filesystem"
        assert str(inner) not in points and len(report.mounts) == 1
    finally:
        sc.umount2(str(root), sc.MNT_DETACH)


def test_the_reset_and_tidy_tables_speak_the_learners_language(monkeypatch):
    from labkit.host.reset import ResetReport
    from labkit.host.tidy import Tidied

    report = ResetReport(processes=[41], names={41: "sleep"}, cgroups=["labkit/c1"], problems=["a mount was busy"])
    tidied = Tidied(["container nb03-bomb", "cgroup nb03-demo"])
    assert str(report).splitlines()[0] == "reset: removed 2 object(s)" and "processes  41 (sleep)" in str(report)
    assert repr(tidied) == "removed what an earlier run left: container nb03-bomb, cgroup nb03-demo"
    monkeypatch.setenv("LABKIT_LANG", "zh")
    lines = str(report).splitlines()
    assert lines[0] == "reset：删除了 2 个对象" and lines[1].split()[:2] == ["进程", "41"] and lines[-1].split()[0] == "问题"
    assert repr(tidied) == "清理了上次运行留下的：容器 nb03-bomb，控制组 nb03-demo"
    assert "种类" in report._repr_html_() and repr(Tidied()) == "上次运行没有留下什么"
