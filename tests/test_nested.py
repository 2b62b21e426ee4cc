"""labkit as root of a user namespace that is not the host's (an unprivileged container): where it runs
is read from the kernel (host/where.py), and what cannot work there is said, never a traceback.
LXD itself: tests/test_lxd.py."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import PYTHON, REPO

from labkit.host import where


def test_the_place_is_read_from_uid_map_and_the_engines_marks(tmp_path):
    """Fakes of /proc and / for the parsing; the real kernel's answers below."""
    def fake(uid_map: str, marks=(), init_env=b""):
        proc, root = tmp_path / uid_map.replace(" ", "_") / "proc", tmp_path / uid_map.replace(" ", "_") / "root"
        (proc / "self").mkdir(parents=True)
        (proc / "1").mkdir()
        (proc / "self" / "uid_map").write_text(f"{uid_map}\n")
        (proc / "1" / "environ").write_bytes(init_env)
        for mark in marks:
            (root / mark).parent.mkdir(parents=True, exist_ok=True)
            (root / mark).write_text("")
        root.mkdir(exist_ok=True)
        return where.read(str(proc), str(root))

    host = fake("         0          0 4294967295")
    assert (host.nested, host.engine, host.outside_uid) == (False, "host", 0)
    lxd = fake("0 1000000 1000000000", ["dev/lxd/sock"], b"container=lxc\0PATH=/bin\0")
    assert (lxd.nested, lxd.engine, lxd.outside_uid) == (True, "lxd", 1000000)
    assert fake("0 100000 65536", [], b"container=lxc\0").engine == "lxc"
    assert fake("0 1000 1\n1 100000 65536", ["run/.containerenv"]).engine == "podman"
    assert fake("0 0 4294967295", [".dockerenv"]).nested is False  # a privileged container: the host's root
    assert fake("0 231072 65536").engine == "container"


def test_a_new_user_namespace_is_told_nested_by_the_kernel():
    here = where.read()
    assert here.nested is False or os.path.exists("/dev/lxd/sock")  # the suite runs as the host's root
    p = subprocess.run(["unshare", "--user", "--map-root-user", PYTHON, "-c",
                        f"import sys; sys.path.insert(0, {str(REPO)!r}); from labkit.host.where import place; "
                        "p = place(); print(p.nested, p.uid_map)"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.split()[0] == "True" and p.stdout.split()[1:] == ["0", "0", "1"], p


def test_labkitd_that_cannot_start_says_why_as_a_typed_error_not_a_traceback(tmp_path):
    """No cgroup hierarchy in view (an unprivileged container before lxc.mount.auto = cgroup:rw:force):
    the keeper's failure reaches the client as the FeatureMissing it is, with its hint."""
    # (unmounted, not hidden: a tmpfs over /sys/fs/cgroup would leave the hierarchies in mountinfo)
    script = (f"umount -R /sys/fs/cgroup && LABKIT_ROOT={tmp_path / 'root'} LABKIT_LANG=en "
              f"{PYTHON} -m labkit inspect no-such-box")
    p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert p.returncode != 0 and not (tmp_path / "root" / "run" / "labkitd.pid").exists(), p
    assert "labkit: no usable cgroup hierarchy is mounted on this host" in p.stderr, p.stderr
    assert "hint: run `labkit doctor`" in p.stderr and "Traceback" not in p.stderr, p.stderr


if __name__ == "__main__":
    import pytest

    sys.exit(pytest.main([__file__, "-q"]))
