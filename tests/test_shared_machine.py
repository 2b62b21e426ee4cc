"""The suite on a machine that is not its alone: another lab running beside it (an instructor's at
/var/lib/labkit, a second checkout's) makes and removes containers while the tests run, and none of
that is taken for the suite's leak, nor touched by it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import bareroot
import leaks
from test_faults import _until
from test_network import free_port, nets  # noqa: F401 (a fixture)
from test_network_walls import neighbour  # noqa: F401 (a fixture)
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


# -- beside a dockerd ---------------------------------------------------------------------------------------
DOCKERD = bareroot.BARE_ROOTS / "dockerd"  # Debian's dockerd and containerd, unpacked by ./lab test's set-up


def _firewall() -> dict[str, list[str]]:
    """{"filter": ["-P FORWARD DROP", "-A FORWARD -j DOCKER-USER", ...], "nat": [...]}: iptables -S."""
    return {t: subprocess.run(["iptables", "-w", "5", "-t", t, "-S"], capture_output=True, text=True,
                              timeout=30).stdout.splitlines() for t in ("filter", "nat")}


def _dockers(rules: dict[str, list[str]]) -> dict[str, list[str]]:
    return {t: [r for r in lines if "DOCKER" in r or "docker0" in r] for t, lines in rules.items()}


@pytest.fixture
def dockerd():
    """A dockerd beside the lab, as on a learner's VM with Docker installed: its bridge (docker0), its
    chains jumped to first from FORWARD, br_netfilter (bridged frames go through iptables), and
    FORWARD's policy DROP, which dockerd sets when it turns forwarding on at boot (here forwarding is
    on already, so the fixture sets it as that dockerd would have, and puts it back after). A dockerd
    already on the machine (its docker0 there) is used as it is, and left alone."""
    before = _firewall()
    policy = next(r for r in before["filter"] if r.startswith("-P FORWARD")).split()[-1]
    proc = log = None
    run = Path(tempfile.mkdtemp(prefix="lkdockerd.", dir="/tmp"))  # short: containerd's socket path has 108 bytes
    if not os.path.exists("/sys/class/net/docker0"):
        assert (DOCKERD / "usr/sbin/dockerd").exists(), f"no {DOCKERD}: ./lab test fetches it at set-up"
        env = dict(os.environ, PATH=f"{DOCKERD}/usr/bin:{DOCKERD}/usr/sbin:{os.environ['PATH']}")
        log = open(run / "log", "wb")
        proc = subprocess.Popen([str(DOCKERD / "usr/sbin/dockerd"), "--data-root", str(run / "data"), "--exec-root",
                                 str(run / "exec"), "-H", f"unix://{run}/docker.sock", "--pidfile", str(run / "pid")],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if proc:
            # Its rules come before its API (the DOCKER-USER jump last of them): "API listen on ..." in its log.
            _until(lambda: b"API listen on" in (run / "log").read_bytes(), timeout=60,
                   what=f"dockerd to start (its log: {run / 'log'})")
        subprocess.run(["iptables", "-w", "5", "-P", "FORWARD", "DROP"], check=True, timeout=30)
        yield proc
    finally:
        subprocess.run(["iptables", "-w", "5", "-P", "FORWARD", policy], timeout=30)
        if proc:
            proc.terminate()  # dockerd stops its containerd, and leaves its bridge and rules (as always)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.close()
            # Its rules and chains out, as the machine was without it (only its: other labs' stay).
            for table, lines in _dockers(_firewall()).items():
                for r in lines:
                    if r.startswith("-A") and r not in before[table]:
                        subprocess.run(["iptables", "-w", "5", "-t", table, "-D", *r.split()[1:]], timeout=30)
                for r in lines:
                    if r.startswith("-N") and r not in before[table]:
                        subprocess.run(["iptables", "-w", "5", "-t", table, "-X", r.split()[1]], timeout=30)
            subprocess.run(["ip", "link", "del", "docker0"], capture_output=True, timeout=30)
            # It mounts inside its data root (the overlay2 folder, bound to itself): deepest first.
            under = [m.split()[1] for m in Path("/proc/self/mounts").read_text().splitlines()
                     if m.split()[1].startswith(f"{run}/")]
            for m in sorted(under, key=len, reverse=True):
                subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
        shutil.rmtree(run, ignore_errors=True)


@pytest.mark.limit(240)
def test_the_lab_works_beside_a_dockerd_that_drops_forwarding_and_leaves_it_as_it_was(box, nets, dockerd,
                                                                                   neighbour):
    from test_network_walls import forwarding, send_as_neighbour
    import labkit as lk

    assert "-P FORWARD DROP" in _firewall()["filter"]
    docker_before = _dockers(_firewall())
    assert docker_before["filter"] and docker_before["nat"]
    # Bridged: two containers on the default network (br_netfilter sends their frames through FORWARD).
    a = lk.run("busybox", "httpd -f -p 80 -h /etc", name="beside-a", detach=True)
    box.append(a)
    # Under sh: `timeout` as PID 1 would exec wget as PID 1, which ignores the TERM meant to end it (and
    # busybox's own `wget -T` crashes: Debian's 1.35 static build, on the host too).
    r = lk.run("busybox", f"sh -c 'timeout 10 wget -q -O- http://{a.ip}/hostname'", rm=True, stream=False)
    assert r.exit_code == 0 and r.stdout.strip() == a.id[:12], r.stdout + r.stderr
    # Names on a user-defined network.
    lk.network.create("lab-beside")
    nets.append("lab-beside")
    box.append(lk.run("busybox", "httpd -f -p 80 -h /etc", name="beside-web", network="lab-beside", detach=True))
    r = lk.run("busybox", "sh -c 'timeout 10 wget -q -O- http://beside-web/hostname'", network="lab-beside", rm=True, stream=False)
    assert r.exit_code == 0, r.stdout + r.stderr
    # Routed: out to another machine on the VM's network (NAT), and a published port from it.
    p = free_port()
    web = lk.run("busybox", "httpd -f -p 80 -h /etc", name="beside-pub", detach=True, ports=[f"{p}:80"])
    box.append(web)
    with forwarding(lk.network.inspect("bridge").bridge, "lknbr0"):
        r = lk.run("busybox", f"ping -c 1 -W 3 {neighbour['ip']}", rm=True, stream=False)
        assert r.exit_code == 0 and "1 packets received" in r.stdout, r.stdout + r.stderr
        assert send_as_neighbour(neighbour, "tcp", neighbour["host_ip"], p) == "syn-ack"
    # The doctor sees the policy, and says the lab's networks do not depend on it.
    report = json.loads(subprocess.run(LABKIT + ["doctor", "--json"], capture_output=True, text=True,
                                       timeout=120).stdout)
    row = next(c for c in report["checks"] if c["name"].startswith("iptables"))
    assert row["status"] == "ok" and "FORWARD's policy is DROP (dockerd's)" in row["value"], row
    # Nothing of dockerd's touched, by the lab's rules or by its reset.
    for c in box:
        c.remove(force=True)
    for n in nets:
        lk.network.rm(n)
    nets.clear()
    lk.reset()
    after = _firewall()
    assert _dockers(after) == docker_before and "-P FORWARD DROP" in after["filter"]
    assert not [r for t in after.values() for r in t if instance().tag in r]  # the lab's own are gone
    assert os.path.exists("/sys/class/net/docker0")
