"""Exercises: texts from the catalog (any language), checks on the kernel, blanks that hold a cell,
progress kept per learner. The notebooks' own exercise runs are in test_notebooks.py."""

from __future__ import annotations

import json
import re

import pytest

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
    assert "not yet" in html and "<details><summary>hint 4</summary>" in html and "lk.unshare([&quot;uts&quot;, &quot;net&quot;]" in html
    assert repr(out).count("hint:") == 1 and catalog.entry("02.uts-not-pid")["hints"][0] in repr(out)  # the first tier, unfolded
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


#: Runs cells in an in-process IPython with labkit's handlers, and prints what each one gave.
SHELL = r"""
import json, sys
from IPython.testing.globalipapp import start_ipython
ip = start_ipython()
import pytest

import labkit as lk
lk.ipython.install()  # labkit was imported before this IPython existed
ip.user_ns["lk"] = lk
for cell in json.loads(sys.argv[1]):
    r = ip.run_cell(cell)
    print("RESULT " + json.dumps({"success": r.success, "error": type(r.error_in_exec).__name__ if r.error_in_exec else None}),
          flush=True)
"""


def _cells(cells, monkeypatch, learner):
    import subprocess
    import sys

    monkeypatch.setenv("LABKIT_LEARNER", learner)
    p = subprocess.run([sys.executable, "-c", SHELL, json.dumps(cells)], capture_output=True, text=True, timeout=90,
                       cwd=REPO)
    chunks = p.stdout.split("RESULT ")
    assert len(chunks) == len(cells) + 1, p.stdout + p.stderr
    return [(chunks[i], json.loads(chunks[i + 1].splitlines()[0])) for i in range(len(cells))]


def test_an_exercise_cell_that_raises_or_cannot_be_read_says_not_yet_and_why(monkeypatch):
    """A wrong answer of the usual kind never reaches verify(): swapped arguments, a number for a
    text, a command without quotes. The learner sees "not yet" and why, the cell counts as run (the
    kernel goes on to the next cell), and the try is recorded. Other cells fail as before."""
    got = _cells([
        "# exercise: 09.connect\nlk.network.connect('nb09-db', 'nb09-front')\n",  # swapped: no container nb09-front
        "# exercise: 12.publish\nweb = lk.run('busybox', 'true', ports=8080)\n",  # a number where docker's -p text goes
        "# exercise: 06.commit\nimg = c.commit(echo hi)\n",  # a command without its quotes: not Python
        "1 / 0\n",  # not an exercise: an error, as ever
        "lk.container('nb-test-none-such')\n",  # not an exercise: labkit's short form, still an error
        "# exercise: 02.uts-not-pid\nr = lk.unshare(['uts'], 'busybox hostname', hostname='mine')\n"
        "lk.exercise('02.uts-not-pid').verify(uts_new='uts' in r.view.isolated(), pid_shared='pid' in r.view.shared(),"
        " hostname_set=r.inside.get('hostname') == 'mine')\n",
    ], monkeypatch, "raiser")
    (connect, c1), (publish, c2), (commit, c3), (zero, c4), (missing, c5), (right, c6) = got
    run_above = catalog.entry("exercise.any")["run_above"]
    assert c1 == {"success": True, "error": None} and "not yet" in connect and "ContainerNotFound" in connect
    assert run_above.split("?")[0] in connect and "Traceback" not in connect
    assert c2["success"] and "not yet" in publish and "InvalidArgument" in publish and run_above.split("?")[0] not in publish
    assert c3["success"] and "not yet" in commit and "cannot read line 2" in commit and "echo hi" in commit
    assert c4 == {"success": False, "error": "ZeroDivisionError"} and "Traceback" in zero and "not yet" not in zero
    assert c5 == {"success": False, "error": "ContainerNotFound"} and "not yet" not in missing
    assert c6 == {"success": True, "error": None} and "✔" in right
    tries = progress.load(who="raiser")
    assert tries["09.connect"] == dict(tries["09.connect"], status="not yet", tries=1)
    assert tries["12.publish"]["tries"] == 1 and tries["06.commit"]["tries"] == 1
    assert tries["02.uts-not-pid"]["status"] == "passed"


@pytest.mark.slow
def test_run_all_goes_past_a_wrong_exercise_in_a_real_kernel(tmp_path):
    """As in JupyterLab's Run All: the kernel aborts the queued cells after an error reply. A wrong
    exercise must not be one, and shows no traceback; the cell after it runs."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import labkit as lk"),
        nbformat.v4.new_code_cell("# exercise: 09.connect\nlk.network.connect('nb09-db', 'nb09-front')"),
        nbformat.v4.new_code_cell("print('the next cell ran')"),
    ])
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    shown = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs)
    assert "not yet" in shown and "ContainerNotFound" in shown and "the next cell ran" in shown


def _blank_fills(shipped: str, solved: str) -> list[tuple[str, str]] | None:
    """(the blank's line up to it, what the solution put there) for each blank, read by matching the
    solution against the shipped cell with each blank as a group (spaces free, comment lines left
    out). None if the solution is not the shipped cell with its blanks filled."""
    def body(text):
        return "\n".join(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))

    parts = body(shipped).split("___")
    pattern = r"([^\n]+?)".join(re.sub(r"(\\\s)+", r"\\s*", re.escape(p)) for p in parts)
    m = re.search(pattern + "$", body(solved), re.S)
    if not m:
        return None
    out, before = [], ""
    for i in range(len(parts) - 1):
        before += parts[i]
        out.append((before.rsplit("\n", 1)[-1], m.group(i + 1)))
        before += m.group(i + 1)
    return out


def _answer_key(before: str, fill: str) -> str:
    """The text that gives a blank's answer away: `memory="16M"` for `memory=___`; for a bare value,
    the call with it, `lk.unshare(["uts"]` for `lk.unshare(___, ...)` (the value alone, "uts", may
    well appear in the prose)."""
    left = before[max(before.rfind(c) for c in "(,[{") + 1:]
    if "=" in left or "(" in fill:
        return (left + fill).strip()
    depth = 0
    for i in range(len(before) - 1, -1, -1):  # the bracket of the call the blank is an argument of
        if before[i] in ")]}":
            depth += 1
        elif before[i] in "([{":
            if depth == 0 and before[i] == "(":
                callee = re.search(r"[\w.]+$", before[:i])
                return ((callee.group(0) if callee else "") + before[i:] + fill).strip()
            depth = max(0, depth - 1)
    return (before + fill).strip()


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text).replace("'", '"')


def test_hints_come_in_four_tiers_and_nothing_before_the_third_gives_the_answer_away():
    """The idea, where to look, part of the code, the solution. The answer (each blank as the
    solution fills it, in its context) appears neither in what a learner reads before trying (the
    cells above, prose and code) nor in the first two tiers, the title or a condition's "not yet"
    text. The cells below may show it: a level's solution is where the next starts (04), and a
    prediction is answered by running it."""
    from labkit.exercises import solutions

    general = " ".join(catalog.entry("exercise.any").values())
    leaks = []
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for i, cell in enumerate(cells):
            source = "".join(cell["source"])
            m = ID_LINE.search(source) if cell["cell_type"] == "code" else None
            if not m:
                continue
            ex_id, e = m.group(1), catalog.entry(m.group(1))
            assert len(e["hints"]) == 3, f"{ex_id}: three tiers in the catalog (the idea, where to look, part of the code)"
            assert len(lk.exercise(ex_id).verify(never=False).hints()) == 4, ex_id
            fills = _blank_fills(source, solutions(path.stem)[ex_id])
            assert fills, f"{ex_id}: the solution is not the shipped cell with its blanks filled"
            seen_before = {
                "the cells above": "".join("".join(c["source"]) for c in cells[:i]),  # below may show it: levels, predict-then-run
                "hint 1": e["hints"][0], "hint 2": e["hints"][1],
                "'not yet'": " ".join(str(v) for k, v in e.items() if k not in ("hints", "passed", "notebook")) + general,
            }
            for before, fill in fills:
                key = _squeezed(_answer_key(before, fill))
                leaks += [f"{ex_id}: {key} in {where}" for where, text in seen_before.items() if key in _squeezed(text)]
    assert not leaks, "\n".join(leaks)


def test_the_answer_keys_are_read_from_the_solution_as_a_learner_fills_the_blanks():
    shipped = 'r = lk.unshare(___, "busybox hostname", hostname="mine")\nlk.run("busybox", memory=___, rm=True)\n'
    solved = 'r = lk.unshare(["uts"], "busybox hostname", hostname="mine")\nlk.run("busybox", memory="16M", rm=True)\n'
    keys = [_answer_key(b, f) for b, f in _blank_fills(shipped, solved)]
    assert keys == ['lk.unshare(["uts"]', 'memory="16M"']
    assert _blank_fills(shipped, solved.replace("rm=True", "rm=False")) is None
    two = _blank_fills('lk.network.connect(___, ___)', 'lk.network.connect("front", "db")')
    assert [_answer_key(b, f) for b, f in two] == ['lk.network.connect("front"', 'lk.network.connect("front", "db"']


def test_a_prediction_is_written_down_then_shown_beside_the_kernels_answer(monkeypatch):
    from labkit.exercises import predictions

    monkeypatch.setenv("LABKIT_LEARNER", "guesser")
    unasked = lk.reveal("11.memtotal", 23000)
    assert unasked.right is None and catalog.entry("prediction.any")["no_guess"] in repr(unasked)
    noted = lk.predict("03.oom-threshold", 48)
    assert "48 MiB" in repr(noted) and catalog.entry("03.oom-threshold")["question"] in repr(noted)
    shown = lk.reveal("03.oom-threshold", 39.8, right=lambda g: abs(g - 39.8) <= 4)
    assert shown.right is False and "48 MiB" in repr(shown) and "39.8 MiB" in repr(shown)
    assert "<table>" in shown._repr_html_() and catalog.entry("03.oom-threshold")["why"] in repr(shown)
    lk.predict("03.oom-threshold", 40)  # a second guess replaces the first
    assert lk.reveal("03.oom-threshold", 39.8, right=lambda g: abs(g - 39.8) <= 4).right is True
    lk.predict("05.opaque", True)
    assert lk.reveal("05.opaque", False).right is False  # equality without right=
    lk.predict("09.two-networks", "no")  # text where the answer is True/False: not right, no exception
    assert lk.reveal("09.two-networks", False, right=lambda g: g is False).right is False
    kept = progress.load(who="guesser")["predictions"]
    assert kept["03.oom-threshold"] == dict(kept["03.oom-threshold"], guess=40, answer=39.8, right=True)
    table = repr(lk.progress())
    assert "40 -> 39.8 ✔" in table and "True -> False ✗" in table
    assert predictions.guess_of("11.memtotal", who="guesser") == (False, None)


def test_a_prediction_cell_with_its_blank_is_held_and_records_nothing(monkeypatch):
    monkeypatch.setenv("LABKIT_LEARNER", "blank-guesser")
    held = hold_blanks(["# predict: 05.opaque\n", "lk.predict(\"05.opaque\", ___)\n"])
    assert held == ["__import__('labkit.exercises.predictions', fromlist=['Blank']).Blank('05.opaque')\n"]
    shown = eval(held[0])
    assert catalog.entry("05.opaque")["question"] in repr(shown) and "___" in repr(shown)
    assert "predictions" not in progress.load(who="blank-guesser")


def test_every_prediction_is_asked_in_its_notebook_and_revealed_below_it():
    from labkit.exercises import PREDICT_LINE
    from labkit.exercises.predictions import predictions

    asked = {}
    for path in sorted((REPO / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        sources = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
        for i, source in enumerate(sources):
            m = PREDICT_LINE.search(source)
            if m:
                pid = m.group(1)
                assert pid not in asked, f"{pid} asked twice"
                asked[pid] = path.stem
                assert f'lk.predict("{pid}", ___)' in source, pid
                assert any(f'lk.reveal("{pid}"' in later for later in sources[i + 1:]), f"{pid} is never revealed below"
    catalog_ids = predictions()
    assert set(asked) == set(catalog_ids)
    # one recorded guess in every notebook (07's are exercises: its verify records the guess's outcome)
    notebooks = {p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    guessed = set(asked.values()) | {e["notebook"] for i, e in catalog.exercises().items() if ".predict-" in i}
    assert guessed == notebooks, notebooks - guessed
    for pid, nb in asked.items():
        e = catalog_ids[pid]
        assert e["notebook"] == nb and e["question"] and e["why"], pid


@pytest.mark.parametrize("env,want", [
    ({"LABKIT_LANG": "zh"}, "zh"), ({"LABKIT_LANG": "zh_CN.UTF-8"}, "zh"), ({"LANG": "zh_CN.UTF-8"}, "zh"),
    ({"LC_ALL": "zh_TW.UTF-8", "LANG": "en_US.UTF-8"}, "zh"), ({"LC_ALL": "C.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"), ({}, "en"), ({"LABKIT_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
])
def test_the_language_comes_from_labkit_lang_then_the_locale_then_english(monkeypatch, env, want):
    for key in ("LABKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert catalog.language() == want


def test_lk_language_switches_this_process_and_refuses_a_language_it_lacks(monkeypatch):
    import labkit as lk

    monkeypatch.setenv("LABKIT_LANG", "en")
    try:
        assert lk.language("zh") == "zh" and catalog.language() == "zh"
        assert catalog.text("exercise.any", "run_above") != catalog._load("en")["exercise.any"]["run_above"]
        with pytest.raises(lk.InvalidArgument) as e:
            lk.language("klingon")
        assert "zh" in e.value.hint and lk.language() == "zh"  # refused before anything changed
    finally:
        catalog.choose(None)
        monkeypatch.setenv("LABKIT_LANG", "en")
    assert lk.language() == "en"


def _placeholders(text: str) -> set[str]:
    import string

    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name is not None}


def test_every_text_of_the_catalog_is_in_every_language_with_the_same_placeholders():
    """A learner in any language meets no English left over, and no {placeholder} that the code does
    not fill (or one it fills, missing): each translation has each of English's texts, no others."""
    meta = {"notebook", "kind"}  # the catalog's own bookkeeping, not texts
    english = catalog._load("en")
    langs = [lang for lang in catalog.available() if lang != "en"]
    assert "zh" in langs
    problems = []
    for lang in langs:
        other = catalog._load(lang)
        for key, fields in english.items():
            for field, text in fields.items():
                if field in meta:
                    continue
                theirs = other.get(key, {}).get(field)
                if theirs is None:
                    problems.append(f"{lang}: [{key}] {field} is missing")
                elif isinstance(text, list):
                    if not isinstance(theirs, list) or len(theirs) != len(text):
                        problems.append(f"{lang}: [{key}] {field} has {len(theirs) if isinstance(theirs, list) else '?'} items, English {len(text)}")
                elif _placeholders(theirs) != _placeholders(text):
                    problems.append(f"{lang}: [{key}] {field} fills {sorted(_placeholders(theirs))}, English {sorted(_placeholders(text))}")
        for key, fields in other.items():
            problems += [f"{lang}: [{key}] {field} is not an English text" for field in fields if field not in english.get(key, {})]
    assert not problems, "\n".join(problems)
