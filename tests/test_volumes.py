"""Volumes on the real kernel: host directories, named and anonymous volumes and tmpfs mounted into
containers (-v, --mount, --tmpfs), what survives whom, and what is refused before anything is made."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import labkit as lk
from labkit.filesystems import volumes
from labkit.paths import instance


def labkit_cli(*args):
    return subprocess.run([sys.executable, "-m", "labkit.cli", *args], capture_output=True, text=True, timeout=60)


def mount_line(out: str, target: str) -> list[str]:
    """The /proc/mounts line of target, split: [source, target, fstype, options, ...]."""
    return next(line.split() for line in out.splitlines() if line.split()[1:2] == [target])


def test_a_host_directory_read_only_and_read_write(tmp_path, busybox):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("hello from the host\n")
    (tmp_path / "out").mkdir()
    r = lk.run("busybox", "sh -c 'cat /site/index.html; touch /site/x 2>&1; date > /out/when; cat /proc/mounts'",
               volumes=[f"{tmp_path}/site:/site:ro", f"{tmp_path}/out:/out"], rm=True, stream=False)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.startswith("hello from the host\n")
    assert "Read-only file system" in r.stdout and not (tmp_path / "site" / "x").exists()
    assert (tmp_path / "out" / "when").read_text().strip()  # written inside, read on the host
    site = mount_line(r.stdout, "/site")[3].split(",")
    assert "ro" in site and "nosuid" in site and "nodev" in site
    assert "rw" in mount_line(r.stdout, "/out")[3].split(",")
    hosts = mount_line(r.stdout, "/etc/hosts")[3].split(",")
    assert "nosuid" in hosts and "noexec" in hosts  # the flags asked for are applied (a remount after the bind)


def test_a_single_file_can_be_bound(tmp_path, busybox):
    f = tmp_path / "motd"
    f.write_text("welcome\n")
    r = lk.run("busybox", "cat /etc/motd", volumes={str(f): {"bind": "/etc/motd", "mode": "ro"}}, rm=True, stream=False)
    assert (r.exit_code, r.stdout) == (0, "welcome\n"), r.stderr


def test_a_named_volume_outlives_its_containers_and_is_refused_removal_while_used(busybox, box):
    inst = instance()
    lk.run("busybox", "sh -c 'echo kept > /data/note'", volumes=["notes:/data"], rm=True, stream=False)
    assert volumes.get(inst, "notes")["Name"] == "notes"  # made on first use, as docker's
    v = lk.volume.inspect("notes")
    assert v.files() == ["note"] and "notes" in repr(v) and "note" in v._repr_html_()
    r = lk.run("busybox", "cat /data/note", volumes=["notes:/data"], rm=True, stream=False)
    assert r.stdout == "kept\n"
    c = lk.create("busybox", "true", volumes=["notes:/data"], name="holder")
    box.append(c)
    with pytest.raises(lk.Conflict) as e:
        lk.volume.rm("notes")  # a stopped (never started) container has it: docker refuses too
    assert "holder" in str(e.value)
    assert os.path.exists(v.mountpoint)
    c.remove()
    box.clear()
    p = labkit_cli("volume", "ls", "-q")
    assert p.stdout.split() == ["notes"]
    p = labkit_cli("volume", "rm", "notes")
    assert p.returncode == 0 and not os.path.exists(os.path.dirname(v.mountpoint))
    assert lk.volume.ls() == []


def test_anonymous_volumes_go_with_rm_and_rm_v_but_not_a_plain_rm(busybox):
    inst = instance()
    lk.run("busybox", "touch /scratch/x", volumes=["/scratch"], rm=True, stream=False)
    assert volumes.ls(inst) == []  # --rm removed it
    c = lk.create("busybox", "true", volumes=["/scratch"])
    name = c.attrs["mounts"][0]["Name"]
    assert [v["Name"] for v in volumes.ls(inst)] == [name] and len(name) == 64
    c.remove()
    assert [v["Name"] for v in volumes.ls(inst)] == [name]  # docker rm keeps it
    lk.volume.rm(name)
    c = lk.create("busybox", "true", volumes=["/scratch"])
    c.remove(volumes=True)
    assert volumes.ls(inst) == []


def test_tmpfs_with_size_and_mode(busybox):
    r = lk.run("busybox", "sh -c 'cat /proc/mounts; stat -c %a /t'", mounts=["type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770"],
               tmpfs=["/run2:size=2m"], rm=True, stream=False)
    assert r.exit_code == 0, r.stderr
    t = mount_line(r.stdout, "/t")
    assert t[2] == "tmpfs" and "size=1024k" in t[3] and "mode=1770" in t[3]
    assert "size=2048k" in mount_line(r.stdout, "/run2")[3]
    assert r.stdout.strip().splitlines()[-1] == "1770"


@pytest.mark.parametrize("kw, says", [
    ({"volumes": ["/no/such/dir/labkit:/d"]}, "does not exist"),
    ({"volumes": ["/tmp:/proc/x"]}, "/proc"),
    ({"volumes": ["/tmp:data"]}, "absolute"),
    ({"volumes": ["/tmp:/d/../e"]}, ".."),
    ({"volumes": ["/tmp:/"]}, "root"),
    ({"volumes": ["/tmp:/d", "x1:/d"]}, "twice"),
    ({"volumes": ["-bad:/d"]}, "name"),
    ({"volumes": ["/tmp:/d:rx"]}, "ro|rw"),
    ({"mounts": ["type=bind,target=/d"]}, "source"),
    ({"mounts": ["type=nfs,target=/d"]}, "type"),
    ({"mounts": ["type=tmpfs,target=/d,tmpfs-mode=99z"]}, "octal"),
    ({"mounts": ["type=volume,target=/d,colour=red"]}, "colour"),
])
def test_bad_mounts_are_refused_before_anything_is_made(busybox, kw, says):
    with pytest.raises(lk.InvalidArgument) as e:
        lk.run("busybox", "true", rm=True, **kw)
    assert says in str(e.value) and e.value.hint
    assert lk.ps(all=True) == [] and volumes.ls(instance()) == []


def test_a_target_through_a_symlink_of_the_image_is_refused(tmp_path, busybox, box):
    c = lk.run("busybox", "ln -s /etc /escape", detach=True)
    box.append(c)
    c.wait()
    img = c.commit("labkit-test/symlinked:1")
    try:
        with pytest.raises(lk.InvalidArgument) as e:
            lk.run(img, "true", volumes=[f"{tmp_path}:/escape/pwn"], rm=True)
        assert "/escape is a symlink in the image" in str(e.value)
        assert lk.ps(all=True) == [c]  # nothing new was made
    finally:
        lk.rmi(img)


def test_a_symlink_made_by_the_container_is_not_mounted_through_at_its_next_start(tmp_path, busybox, box):
    """The image's layers were checked at create; the container's own upper layer changes after. Its
    next start walks the merged tree itself, and refuses the symlink (ELOOP) instead of following it."""
    c = lk.create("busybox", "sh -c 'test -d /a/b && mv /a /a.old && ln -s /etc /a'", volumes=[f"{tmp_path}:/a/b"])
    box.append(c)
    c.start()
    assert c.wait() == 0
    with pytest.raises(lk.LabkitError) as e:
        c.start()
    assert isinstance(e.value, lk.ContainerError) and "cannot mount on /a/b: /a is a symlink" in str(e.value)
    assert c.status == "exited" and not os.path.exists("/etc/b")


def test_reset_keeps_named_volumes_unless_asked(busybox):
    inst = instance()
    lk.volume.create("keepme")
    lk.create("busybox", "true", volumes=["/anon"])
    assert len(volumes.ls(inst)) == 2
    lk.reset()
    assert [v["Name"] for v in volumes.ls(inst)] == ["keepme"]  # the anonymous one went with its container
    lk.reset(volumes=True)
    assert volumes.ls(inst) == []
