"""lk.pictures: well-formed SVG, filled in from the kernel for a running container, labels from the catalog."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import labkit as lk
from labkit import pictures
from labkit import catalog


def _texts(svg: str) -> str:
    return " ".join("".join(el.itertext()) for el in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text"))


def test_the_generic_drawings_are_well_formed_and_name_every_kind():
    p = pictures.sees_and_uses()
    texts = _texts(p.svg)
    for kind in pictures.NAMESPACES + pictures.CONTROLLERS:
        assert kind in texts and kind in repr(p)
    assert "labkitd" in _texts(pictures.client_server().svg)


def test_a_container_s_picture_shows_its_inodes_and_its_limits(busybox):
    c = lk.run("busybox", "sleep 30", detach=True, memory="48M", cpus=0.25, pids_limit=7)
    try:
        text = repr(pictures.sees_and_uses(c))
        for kind in ("pid", "mnt", "uts", "ipc", "net", "cgroup"):  # its own: the inode /proc says
            inode = os.readlink(f"/proc/{c.pid}/ns/{kind}").split(":", 1)[1].strip("[]")
            assert inode in text, (kind, text)
        for kind in ("user", "time"):  # shared with the host: said so, no inode
            line = next(line for line in text.splitlines() if line.split()[:1] == [kind])
            assert "the host" in line, line
        assert "48 MiB" in text and "0.25 CPU" in text and "pids    7" in text
    finally:
        c.remove(force=True)


def test_labels_come_from_the_catalog(monkeypatch):
    from labkit import catalog

    real = catalog.entry
    monkeypatch.setattr(catalog, "entry", lambda key: dict(real(key), sees="命名空间：它看见什么"))
    assert "命名空间：它看见什么" in _texts(pictures.sees_and_uses().svg)


def test_the_layer_stack_before_and_after_a_write(inst, tmp_path):
    low = tmp_path / "low"
    low.mkdir()
    (low / "a.txt").write_text("a\n")
    (low / "b.txt").write_text("b\n")
    with lk.overlay([low], name="pic-layers") as ov:
        before = repr(pictures.layers(ov))
        (ov.merged / "a.txt").write_text("changed\n")
        os.remove(ov.merged / "b.txt")
        after = pictures.layers(ov)
    assert "upper    \n" in before or before.splitlines()[1].strip() == "upper"  # nothing in the upper layer yet
    upper = next(line for line in repr(after).splitlines() if line.startswith("upper"))
    assert "a.txt: file: changed" in upper and "b.txt: whiteout" in upper
    assert "↑ upper" in _texts(after.svg)  # the merged view's a.txt shows from the upper layer now


def test_an_image_s_layers_are_drawn_shared_and_its_own_with_the_writable_one_on_top(busybox):
    c = lk.run("busybox", ["sh", "-c", "echo hi > /root/notes"], detach=True)
    try:
        c.wait()
        name = c.commit("localhost/pictest/mine:1")
        pic = pictures.image_layers(name, base="busybox")
        ET.fromstring(pic._repr_svg_())  # well-formed SVG
        lines = repr(pic).splitlines()
        texts = catalog.entry("picture.image-layers")
        assert lines[0] == texts["writable"] and len(lines) == 1 + len(busybox.layers) + 1
        assert texts["own"] in lines[1] and all(texts["shared"] in line for line in lines[2:])  # bottom: busybox's
        assert busybox.layers[0][0][7:19] in lines[-1]
    finally:
        c.remove()
        lk.rmi("localhost/pictest/mine:1")


def test_a_container_s_cgroup_is_drawn_as_its_folders_and_what_the_kernel_holds_in_them(busybox):
    from labkit import cgroups

    c = lk.run("busybox", "sleep 30", detach=True, memory="40M", cpus=0.25, pids_limit=9)
    try:
        pic = pictures.cgroup_files(c)
        ET.fromstring(pic.svg)
        g = cgroups.group(c.attrs["cgroup"])
        text = repr(pic)
        want = {2: ("memory.max", "pids.max", "cpu.max"), 1: ("memory.limit_in_bytes", "pids.max", "cpu.cfs_quota_us")}[g.version]
        for name in want:  # each file's line holds what the kernel holds in it now
            d = next(d for d in g.dirs if (d / name).exists())
            value = (d / name).read_text().split("\n")[0].strip()
            assert any(line.split() == [name, *value.split()] for line in text.splitlines()), (name, value, text)
        assert str(40 << 20) in text and "9" in text and str(c.pid) in text  # the limits given, and its PID joined
    finally:
        c.remove(force=True)


def test_the_escape_attempts_are_drawn_stopped_at_the_lock_that_held(busybox):
    c = lk.run("busybox", "sleep 30", detach=True)
    try:
        attempts = lk.escape_attempts(c)
        pic = pictures.walls(attempts)
        ET.fromstring(pic.svg)
        lines = repr(pic).splitlines()
        assert len(lines) == len(attempts)
        assert all(line.split()[-1] in ("allowed", "stopped") for line in lines), lines  # nothing got through
        mount = next(line for line in lines if line.startswith("mount"))
        assert "capabilities" in mount and mount.endswith("stopped")
    finally:
        c.remove(force=True)
    held = [list(a) for a in attempts]
    held[4][4] = False  # were the mount to get through, the picture says so
    assert repr(pictures.walls(held)).splitlines()[4].endswith("GOT THROUGH")
    assert ">user namespace<" not in pic.svg  # the nested wall is drawn only where an attempt met it
    held[0][5] = "user_namespace"  # nested: the kernel refused the mknod itself (security/attempts.py NESTED)
    nested = pictures.walls(held)
    assert ">user namespace<" in nested.svg and "user_namespace" in repr(nested).splitlines()[0]


def test_the_summary_drawings_are_well_formed_and_labelled_from_the_catalog(monkeypatch):
    from labkit.exercises import progress

    for pic, entry in ((pictures.lifecycle(), "picture.lifecycle"), (pictures.registry_requests(), "picture.registry-requests"),
                       (pictures.vm_and_container(), "picture.vm-and-container"), (pictures.cloud_models(), "picture.cloud-models"),
                       (pictures.by_hand_levels(who="nobody-yet"), "picture.by-hand")):
        texts = _texts(pic.svg)
        assert catalog.entry(entry)["caption"] in texts, entry
    monkeypatch.setattr(progress, "load", lambda who=None: {"04.level-1": {"status": "passed"}, "04.level-2": {"status": "not yet"}})
    levels = repr(pictures.by_hand_levels()).splitlines()
    assert levels[-1].endswith("✔") and not levels[-2].endswith("✔")  # level 1 passed, level 2 not yet


def test_the_vm_and_container_drawing_carries_the_measured_figures():
    class Side:
        rows = [("first_user", "5,161 ms", "20.6 ms"), ("memory", "178.5 MiB", "0.5 MiB")]

    texts = _texts(pictures.vm_and_container(Side()).svg)
    assert "5,161 ms · 178.5 MiB" in texts and "20.6 ms · 0.5 MiB" in texts


def test_a_container_s_layers_are_its_upper_and_its_image_s_lower_directories(busybox):
    c = lk.run("busybox", ["sh", "-c", "echo hi > /written"], detach=True)
    try:
        c.wait()
        assert (c.upper / "written").read_text() == "hi\n"
        assert [p.name for p in c.lower] == [d[7:] for _, d in reversed(busybox.layers)]  # top first
        assert all(not (p / "written").exists() for p in c.lower)
    finally:
        c.remove()
