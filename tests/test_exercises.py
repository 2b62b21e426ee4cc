"""Exercises: texts from the catalog (any language), checks on the kernel, blanks that hold a cell,
progress kept per learner. The notebooks' own exercise runs are in test_notebooks.py."""

from __future__ import annotations

import json
import re

import labkit as lk
from labkit.exercises import ID_LINE, catalog, hold_blanks, progress

from conftest import REPO


def test_a_wrong_answer_says_what_the_kernel_found(monkeypatch):
    monkeypatch.setenv("LABKIT_LEARNER", "wrong")
    r = lk.unshare(["uts", "pid", "mnt"], "busybox hostname", hostname="mine")  # PID isolated too: not asked for
    out = lk.exercise("02.uts-not-pid").verify(uts_new="uts" in r.view.isolated(), pid_shared="pid" in r.view.shared(),
                                               hostname_set=r.inside.get("hostname") == "mine")
    assert not out and out.found == [catalog.entry("02.uts-not-pid")["pid_shared"]]
    html = out._repr_html_()
    assert "not yet" in html and "<details><summary>hint 3</summary>" in html and "lk.unshare([&quot;uts&quot;]" in html
    assert progress.load(who="wrong")["02.uts-not-pid"]["status"] == "not yet"
    r = lk.unshare(["uts"], "busybox hostname", hostname="mine")
    out = lk.exercise("02.uts-not-pid").verify(uts_new="uts" in r.view.isolated(), pid_shared="pid" in r.view.shared(),
                                               hostname_set=r.inside.get("hostname") == "mine")
    assert out and repr(out).startswith("✔")
    assert progress.load(who="wrong")["02.uts-not-pid"] == dict(progress.load(who="wrong")["02.uts-not-pid"],
                                                                  status="passed", tries=2)
    lk.exercise("02.uts-not-pid").verify(uts_new=False)  # a later miss does not undo a pass
    assert progress.load(who="wrong")["02.uts-not-pid"]["status"] == "passed"
    assert "wrong" in repr(lk.progress(everyone=True))


def test_a_cell_with_blanks_is_held_and_others_run_as_written():
    held = hold_blanks(["# exercise: 05.whiteout\n", "os.remove(___)\n"])
    assert held == ["__import__('labkit.exercises', fromlist=['not_yet']).not_yet('05.whiteout')\n"]
    plain = ["x = ___\n"]  # IPython's own ___ (the third-last output), in a cell that is no exercise
    assert hold_blanks(plain) == plain
    done = ["# exercise: 05.whiteout\n", "os.remove(p)\n"]
    assert hold_blanks(done) == done


def test_a_translation_overrides_what_it_has_and_falls_back_to_english(tmp_path, monkeypatch):
    (tmp_path / "en.toml").write_text('["x.y"]\ntitle = "A title"\npassed = "done"\n')
    (tmp_path / "zh.toml").write_text('["x.y"]\ntitle = "标题"\n')
    monkeypatch.setattr(catalog, "HERE", tmp_path)
    catalog._load.cache_clear()
    try:
        monkeypatch.setenv("LABKIT_LANG", "zh_CN.UTF-8")
        assert catalog.entry("x.y") == {"title": "标题", "passed": "done"}
        monkeypatch.setenv("LABKIT_LANG", "en")
        assert catalog.entry("x.y")["title"] == "A title"
    finally:
        catalog._load.cache_clear()


def test_every_exercise_in_a_notebook_has_its_texts_and_its_solution():
    """Typos between a notebook, the catalog and the solutions are caught here, not by a learner."""
    from labkit.exercises import solutions

    entries = catalog.exercises()
    seen = set()
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"])
            m = ID_LINE.search(source) if cell["cell_type"] == "code" else None
            if not m:
                continue
            ex_id = m.group(1)
            seen.add(ex_id)
            e = entries[ex_id]
            assert e["notebook"] == path.stem and e["title"] and e["passed"] and len(e["hints"]) >= 2, ex_id
            for name in re.findall(r"(\w+)=", source.split(".verify(", 1)[1]):
                assert name in e, f"{ex_id}: no text for the condition {name!r}"
            assert ex_id in solutions(path.stem) and "___" not in solutions(path.stem)[ex_id], ex_id
    assert seen == set(entries), set(entries) ^ seen
