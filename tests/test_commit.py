"""diff and commit on the real overlay: a container's changes listed as A/C/D, saved as a layer
(whiteouts turned into OCI's), and a container of the new image sees them."""

from __future__ import annotations

import pytest

import labkit as lk
from labkit.images.store import ImageStore
from labkit.paths import instance



def test_diff_lists_added_changed_and_deleted(busybox, box):
    c = lk.run("busybox", ["sh", "-c", "echo new > /root/notes; echo x >> /etc/passwd; rm /bin/vi; mkdir /srv"],
               detach=True)
    box.append(c)
    assert c.wait(timeout=30) == 0
    rows = {tuple(r) for r in c.diff().rows}
    assert ("A", "/root/notes") in rows and ("A", "/srv") in rows
    assert ("C", "/etc/passwd") in rows and ("C", "/etc") in rows
    assert ("D", "/bin/vi") in rows


def test_commit_then_run_the_new_image(busybox, box):
    c = lk.run("busybox", ["sh", "-c", "echo kept > /root/notes; rm /bin/vi"], detach=True)
    box.append(c)
    assert c.wait(timeout=30) == 0
    name = c.commit("localhost/committed:1", comment="a note and no vi", cmd=["cat", "/root/notes"])
    try:
        store = ImageStore(instance())
        img = store.get(name)
        assert len(img.layers) == len(busybox.layers) + 1  # the base's layers, shared, plus one
        assert img.layers[:-1] == busybox.layers
        assert store.history(name)[0]["comment"] == "a note and no vi"
        r = lk.run(name, rm=True, stream=False)  # its Cmd: cat /root/notes
        assert r.stdout == "kept\n"
        r = lk.run(name, ["sh", "-c", "ls /bin/vi; echo $?"], rm=True, stream=False)
        assert r.stdout.strip().endswith("1")  # the whiteout hides the base's vi
        (root,) = store.unpack(img)[-1:]
        import os
        import stat

        wh = os.lstat(root / "bin" / "vi")
        assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0  # back to overlayfs's whiteout when unpacked
    finally:
        lk.rmi(name)


def test_commit_a_running_container_pauses_it_and_it_goes_on(busybox, box):
    c = lk.run("busybox", ["sh", "-c", "echo hi > /tmp/x; sleep 60"], detach=True)
    box.append(c)
    import time

    for _ in range(100):
        if ("A", "/tmp/x") in {tuple(r) for r in c.diff().rows}:
            break
        time.sleep(0.05)
    name = c.commit("localhost/committed:running")
    try:
        assert c.status == "running"
        assert lk.run(name, "cat /tmp/x", rm=True, stream=False).stdout == "hi\n"
    finally:
        lk.rmi(name)


def test_a_bad_name_is_refused_before_anything(busybox, box):
    c = lk.run("busybox", "true", detach=True)
    box.append(c)
    c.wait(timeout=30)
    store = ImageStore(instance())
    before = (store.names(), sorted(p.name for p in store.blobs.iterdir()))
    with pytest.raises(lk.InvalidArgument):
        c.commit("Bad Name")
    assert (store.names(), sorted(p.name for p in store.blobs.iterdir())) == before  # no layer, no tag


def test_rmi_of_an_image_a_container_uses_is_refused_unless_forced(busybox, box):
    c = lk.run("busybox", "true", detach=True)
    box.append(c)
    c.wait(timeout=30)
    name = c.commit("localhost/committed:used")
    user = lk.run(name, "true", detach=True)
    box.append(user)
    user.wait(timeout=30)
    with pytest.raises(lk.Conflict) as e:
        lk.rmi(name)
    assert user.name in str(e.value) and "labkit rm" in e.value.hint
    assert name in ImageStore(instance()).names()  # refused: nothing changed
    lk.rmi(name, force=True)
    assert name not in ImageStore(instance()).names()
    r = user.restart(timeout=5)  # its layers stay: gc keeps what a container stands on
    assert r.wait(timeout=30) == 0
