"""A container is hardened like Docker's defaults: fewer capabilities, no_new_privs, masked and read-only /proc."""

from __future__ import annotations

import os

import pytest

import labkit as lk
from labkit.kernel.capabilities import DOCKER_DEFAULT, mask, names



def _status(r) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in r.stdout.splitlines() if ":\t" in line)


def test_root_in_a_container_has_dockers_14_capabilities_and_no_new_privs(busybox):
    r = lk.run("busybox", "cat /proc/self/status", rm=True, stream=False)
    st = _status(r)
    assert int(st["CapBnd"], 16) == mask(DOCKER_DEFAULT) == 0xA80425FB
    assert int(st["CapEff"], 16) == mask(DOCKER_DEFAULT)
    assert "CAP_SYS_ADMIN" not in names(int(st["CapEff"], 16))
    assert st["NoNewPrivs"].strip() == "1"


def test_the_command_and_an_exec_start_with_no_signal_ignored_or_blocked(box):
    """exec keeps ignored signals ignored: Python's SIGPIPE and SIGXFSZ, and SIGHUP when labkitd was
    started under nohup (a shell then cannot trap it). Every signal starts at its default, as Docker's."""
    st = _status(lk.run("busybox", "cat /proc/self/status", rm=True, stream=False))
    assert (int(st["SigIgn"], 16), int(st["SigBlk"], 16)) == (0, 0), (st["SigIgn"], st["SigBlk"])
    c = lk.run("busybox", "sleep 60", detach=True)
    box.append(c)
    st = _status(c.exec("cat /proc/self/status"))
    assert (int(st["SigIgn"], 16), int(st["SigBlk"], 16)) == (0, 0), (st["SigIgn"], st["SigBlk"])


def test_a_non_root_user_has_no_effective_capability(busybox):
    r = lk.run("busybox", "cat /proc/self/status", user="65534", rm=True, stream=False)
    assert int(_status(r)["CapEff"], 16) == 0


def test_without_cap_sys_admin_mount_and_sethostname_are_refused(busybox):
    r = lk.run("busybox", ["sh", "-c", "mkdir -p /m; mount -t tmpfs t /m; echo mount=$?; hostname other; echo host=$?"],
               rm=True, stream=False)
    assert "mount=1" in r.stdout or "mount=255" in r.stdout
    assert "host=1" in r.stdout and "not permitted" in r.stderr


def test_masked_proc_files_read_empty_and_proc_sys_is_read_only(busybox):
    present = [p for p in ("/proc/keys", "/proc/timer_list", "/proc/sched_debug") if os.path.exists(p)]
    assert present, "none of the masked files exists on this host to check"
    sizes = lk.run("busybox", ["sh", "-c", f"for f in {' '.join(present)}; do echo $(wc -c < $f) $f; done"],
                   rm=True, stream=False)
    assert sizes.stdout.split("\n")[:-1] == [f"0 {p}" for p in present]  # /dev/null is bound over each
    firmware = lk.run("busybox", ["sh", "-c", "ls -A /sys/firmware | wc -l"], rm=True, stream=False)
    if os.listdir("/sys/firmware"):
        assert firmware.stdout.strip() == "0"  # an empty tmpfs hides the host's firmware tables
    write = lk.run("busybox", ["sh", "-c", "echo 1 > /proc/sys/vm/drop_caches"], rm=True, stream=False)
    assert write.exit_code != 0 and "Read-only file system" in write.stderr


def test_config_json_carries_the_hardening(busybox):
    r = lk.run("busybox", "true", rm=True, stream=False)
    proc, linux = r.config["process"], r.config["linux"]
    assert proc["noNewPrivileges"] is True
    assert sorted(proc["capabilities"]["bounding"]) == sorted(DOCKER_DEFAULT)
    assert "/proc/kcore" in linux["maskedPaths"] and "/proc/sys" in linux["readonlyPaths"]
