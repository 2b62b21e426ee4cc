"""overlayfs on the real kernel: union, copy-on-write, whiteouts, opaque dirs, long stacks, clean-up."""

from __future__ import annotations

import os

import pytest

import labkit as lk
from labkit.filesystems.overlay import is_opaque, is_whiteout



@pytest.fixture
def layers(inst):
    base = inst.root / "test-layers"
    (base / "bottom" / "etc").mkdir(parents=True, exist_ok=True)
    (base / "top" / "etc").mkdir(parents=True, exist_ok=True)
    (base / "bottom" / "etc" / "motd").write_text("from bottom")
    (base / "bottom" / "etc" / "hosts").write_text("bottom hosts")
    (base / "bottom" / "only-bottom").write_text("b")
    (base / "bottom" / "data").mkdir(exist_ok=True)
    (base / "bottom" / "data" / "old").write_text("old")
    (base / "top" / "etc" / "motd").write_text("from top")
    yield [base / "bottom", base / "top"]


@pytest.fixture
def ov(layers):
    o = lk.overlay(layers, name="test")
    yield o
    o.unmount(remove=True)


def test_merged_is_the_union_and_the_upper_layer_wins(ov):
    m = ov.merged
    assert (m / "etc" / "motd").read_text() == "from top"
    assert (m / "etc" / "hosts").read_text() == "bottom hosts"
    assert (m / "only-bottom").exists()
    assert ov.mounted and ov.changes() == []


def test_writing_a_lower_file_copies_it_up_and_leaves_the_layer_alone(ov, layers):
    (ov.merged / "etc" / "hosts").write_text("changed")
    assert (ov.upper / "etc" / "hosts").read_text() == "changed"
    assert (layers[0] / "etc" / "hosts").read_text() == "bottom hosts"
    (ov.merged / "new-file").write_text("n")
    kinds = {c.path: c.kind for c in ov.changes()}
    assert kinds["etc/hosts"] == "copied up" and kinds["new-file"] == "new"


def test_deleting_a_lower_file_leaves_a_whiteout_char_device_0_0(ov, layers):
    os.remove(ov.merged / "only-bottom")
    w = ov.upper / "only-bottom"
    st = os.lstat(w)
    assert is_whiteout(w) and os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0
    assert not (ov.merged / "only-bottom").exists() and (layers[0] / "only-bottom").exists()
    assert {c.path: c.kind for c in ov.changes()}["only-bottom"] == "deleted"


def test_rmdir_then_mkdir_makes_an_opaque_directory(ov):
    import shutil

    shutil.rmtree(ov.merged / "data")
    (ov.merged / "data").mkdir()
    assert is_opaque(ov.upper / "data")
    assert os.listdir(ov.merged / "data") == []  # the lower "old" is hidden
    assert {c.path: c.kind for c in ov.changes()}["data"] == "opaque dir"


def test_views_show_lower_upper_and_merged_side_by_side(ov):
    os.remove(ov.merged / "only-bottom")
    rows = {r["name"]: r for r in ov.views()}
    assert rows["only-bottom"]["lower 0"].startswith("file") and rows["only-bottom"]["upper"].startswith("whiteout")
    assert rows["only-bottom"]["merged"] == ""
    motd = {r["name"]: r for r in ov.views("etc")}["motd"]
    assert (motd["lower 0"], motd["lower 1"], motd["merged"]) == ("file: from bottom", "file: from top", "file: from top")
    assert "<table>" in ov._repr_html_()


def test_a_long_stack_past_one_page_of_options_mounts(inst):
    base = inst.root / "long-stack"
    lowers = []
    for i in range(150):  # 150 paths of ~100 characters: ~15,000 characters of lowerdir, past a 4096 page
        d = base / f"layer-{i:03d}-{'x' * 60}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}").write_text(str(i))
        (d / "which").write_text(str(i))
        lowers.append(d)
    with lk.overlay(lowers, name="long") as o:
        assert len(",".join(map(str, lowers))) > 4096
        assert (o.merged / "f0").read_text() == "0" and (o.merged / "f149").read_text() == "149"
        assert (o.merged / "which").read_text() == "149"  # the top layer wins
        assert any("O_PATH" in s for s in o.steps)
    assert not o.mounted


def test_bad_input_is_refused_before_anything_is_mounted(inst, tmp_path):
    with pytest.raises(lk.InvalidArgument):
        lk.overlay([tmp_path / "missing"], name="bad")
    with pytest.raises(lk.InvalidArgument):
        lk.overlay([], name="bad")
    assert not (inst.root / "overlays" / "bad" / "merged").exists()


def test_reset_unmounts_a_forgotten_overlay(layers, inst):
    o = lk.overlay(layers, name="forgotten")
    assert o.mounted
    report = lk.reset()
    assert not o.mounted and any("forgotten" in m for m in report.mounts)


def test_aufs_is_not_in_this_kernel_and_overlay_is():
    from labkit.filesystems.overlay import aufs_available

    assert not aufs_available()
    assert "overlay" in open("/proc/filesystems").read()
