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
    try:
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
    finally:  # a keeper that did start anyway (the bug this test is for) is ended, not left running
        import signal

        for name in ("labkit-keeper.pid", "labkitd.pid"):
            try:
                os.kill(int((tmp_path / "root" / "run" / name).read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    assert p.returncode != 0 and not (tmp_path / "root" / "run" / "labkitd.pid").exists(), p
    assert "labkit: no usable cgroup hierarchy is mounted on this host" in p.stderr, p.stderr
    assert "hint: run `labkit doctor`" in p.stderr and "Traceback" not in p.stderr, p.stderr


if __name__ == "__main__":
    import pytest

    sys.exit(pytest.main([__file__, "-q"]))


def test_the_classic_guard_lets_a_port_send_only_from_its_own_mac_and_address():
    """The port guard as root of a user namespace attaches it: a classic program (no bpf(2)) in
    direct-action, on a veth's host end, here on the host. What the other end sends from its own MAC and
    address arrives; from another address or another MAC it is dropped; its ARP is its own."""
    import socket
    import time

    from labkit.kernel.rtnetlink import Rtnl
    from labkit.network import guard
    from test_network_walls import Listeners

    mac, ip, host_ip = "02:42:0a:fd:00:02", "10.253.0.2", "10.253.0.1"
    holder = subprocess.Popen(["unshare", "--net", "sleep", "120"])
    run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)  # noqa: E731
    inside = ["nsenter", f"--net=/proc/{holder.pid}/ns/net"]
    try:
        for _ in range(100):  # the sleeper is in its own namespace once unshare has exec'd it
            if os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.02)
        run("ip", "link", "add", "lk-gc0", "type", "veth", "peer", "name", "lk-gc1", "netns", str(holder.pid))
        run("ip", "addr", "add", f"{host_ip}/30", "dev", "lk-gc0")
        run("ip", "link", "set", "lk-gc0", "up")
        run(*inside, "ip", "link", "set", "lk-gc1", "address", mac, "up")
        run(*inside, "ip", "addr", "add", f"{ip}/30", "dev", "lk-gc1")
        host_mac = open("/sys/class/net/lk-gc0/address").read().strip()
        with Rtnl() as rt:
            guard.attach(rt, socket.if_nametoindex("lk-gc0"), mac, ip, classic=True)
        wide = Listeners(host_ip)
        send = lambda src_mac, src_ip: run(*inside, PYTHON, "-I", str(REPO / "tests" / "rawframes.py"), "udp", "lk-gc1",  # noqa: E731
                                           src_mac, host_mac, src_ip, host_ip, str(wide.udp_port))
        try:
            send(mac, ip)
            assert wide.got(), "its own frames did not arrive"
            send(mac, "10.253.0.3")
            assert not wide.got(), "a frame from another address passed"
            send("02:42:0a:fd:00:09", ip)
            assert not wide.got(), "a frame from another MAC passed"
        finally:
            wide.close()
        assert run(*inside, "busybox", "ping", "-c", "1", "-W", "2", host_ip).returncode == 0  # its ARP and IPv4 pass
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            shown = guard.shown(ipr, socket.if_nametoindex("lk-gc0"), mac, ip)
        assert shown[0] == f"tc filter ingress bpf direct-action bytecode labkit-guard-classic {mac} {ip}", shown
        assert "TC_ACT_SHOT" in shown[-1] and shown[-1].split(";")[0].strip().endswith("return 2")
    finally:
        subprocess.run(["ip", "link", "del", "lk-gc0"], capture_output=True, timeout=30)
        holder.kill()
        holder.wait()


def test_a_nested_overlay_takes_userxattr_and_its_opaque_marks_are_user_xattrs(tmp_path):
    """As root of a user namespace (unshare --user here; an LXD container in test_lxd.py): a lower
    directory removed and made again, which without userxattr fails with EIO there; its opaque mark is
    user.overlay.opaque, and labkit reads it as one."""
    for d in ("lower/dir", "upper", "work", "merged"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "lower" / "dir" / "old").write_text("x")
    os.chmod(tmp_path, 0o777)
    program = f"""
import os, sys
sys.path.insert(0, {str(REPO)!r})
from labkit.filesystems.overlay import mount_overlay, is_opaque
from labkit.host.where import place
t = {str(tmp_path)!r}
assert place().nested
print(mount_overlay("labkit-test", t + "/merged", [t + "/lower"], t + "/upper", t + "/work", userxattr=place().nested))
import shutil
shutil.rmtree(t + "/merged/dir")
os.mkdir(t + "/merged/dir")
print(sorted(os.listdir(t + "/merged/dir")), is_opaque(t + "/upper/dir"), os.getxattr(t + "/upper/dir", "user.overlay.opaque"))
"""
    p = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", PYTHON, "-c", program],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    opts, seen = p.stdout.splitlines()
    assert opts.endswith(",userxattr") and seen == "[] True b'y'", p.stdout
