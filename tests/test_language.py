"""The errors a learner meets, in the learner's language: every LabkitError's words are catalog keys
(labkit/messages/errors/), shown in the language of the moment they are shown, by the notebook API,
the full CLI, the quick CLI and labkitd's replies alike.

The syntax-tree test is the guard: a message written as a sentence in the code (an f-string, a literal
hint) fails it, so no English can slip past the Chinese edition.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

import labkit as lk
from labkit import catalog, errors
from conftest import PYTHON, REPO


def _error_classes() -> set[str]:
    """Every LabkitError class's name, wherever it is defined (images/, network/, checks.py ...)."""
    names = set()
    for path in (REPO / "labkit").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names.add((node.name, tuple(getattr(b, "id", getattr(b, "attr", "")) for b in node.bases)))
    known, grew = {"LabkitError"}, True
    while grew:
        grew = False
        for name, bases in names:
            if name not in known and set(bases) & known:
                known.add(name)
                grew = True
    return known


def _calls(kinds: set[str]):
    """(file, line, call) for each call of one of `kinds` in labkit's code."""
    for path in sorted((REPO / "labkit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name in kinds:
                    yield path.relative_to(REPO), node.lineno, node


def _is_sentence(node) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)
                                               and not catalog.has(node.value))


def test_every_error_in_the_code_is_a_catalog_key_never_a_sentence():
    english = catalog._load("en")
    classes = _error_classes() - {"InvalidReference"}  # its constructor takes (reference, position, reason IDs)
    assert {"NotPermitted", "UnsafeLayer", "NetworkSetupFailed", "CheckFailed"} <= classes
    bad, used = [], set()
    for where, line, call in _calls(classes):
        if not call.args:
            continue
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            used.add(first.value)
        if _is_sentence(first) or isinstance(first, ast.BinOp):
            bad.append(f"{where}:{line}: {ast.unparse(first)[:70]}")
        for kw in call.keywords:
            if kw.arg == "hint" and (_is_sentence(kw.value) or isinstance(kw.value, ast.BinOp)):
                bad.append(f"{where}:{line}: hint={ast.unparse(kw.value)[:60]}")
        for key in [first.value] if isinstance(first, ast.Constant) and isinstance(first.value, str) else []:
            entry = english.get(key, {})
            named = {kw.arg for kw in call.keywords}
            import string

            wanted = {f for text in entry.values() for _, f, _, _ in string.Formatter().parse(text) if f}
            missing = wanted - named
            if missing:
                bad.append(f"{where}:{line}: {key} needs {sorted(missing)}")
    assert not bad, "\n".join(bad)
    # and the catalog holds no error that nothing raises (a message edited in the code and left behind)
    made_elsewhere = {"error.runtime.bad-request", "error.oserror.not-permitted", "error.oserror.missing",
                      "error.oserror.not-found", "error.oserror.no-space", "error.oserror.other", "error.needs-root"}
    unused = {k for k in english if k.startswith("error.") and "message" in english[k]} - used - made_elsewhere
    assert not unused, sorted(unused)


def test_every_phrase_of_doing_and_step_that_the_code_names_is_in_the_catalog():
    doing, steps = catalog._load("en")["doing"], catalog._load("en")["step"]
    bad = []
    for where, line, call in _calls({"translate_oserror", "boundary", "require_root"}):
        arg = call.args[1] if call.func and getattr(call.func, "id", "") == "translate_oserror" else call.args[0]
        if isinstance(arg, ast.Constant) and arg.value not in doing:
            bad.append(f"{where}:{line}: {arg.value!r}")
        elif isinstance(arg, ast.JoinedStr):
            bad.append(f"{where}:{line}: a sentence, not a phrase of \"doing\"")
    assert not bad, bad
    from labkit.runtime.container.report import STEPS

    assert set(STEPS) <= set(steps)


def test_an_error_speaks_the_language_of_the_moment_it_is_shown():
    e = errors.InvalidArgument("error.cgroups.cpus-number", value="lots")
    with catalog.speaking("en"):
        assert str(e) == "cpus 'lots' is not a number\n  hint: give a number of CPUs such as 0.5 or 1.5."
    with catalog.speaking("zh"):
        assert e.message == "cpus 'lots' 不是数字" and e.hint_line() == "提示：给出 CPU 个数，例如 0.5 或 1.5。"
    # a class's own hint, a "doing" phrase inside the OSError's translation
    with catalog.speaking("zh"):
        err = errors.translate_oserror(OSError(2, "x"), "create-cgroup", path="/sys/fs/cgroup/pids/labkit-x")
        assert err.message.startswith("无法创建控制组 /sys/fs/cgroup/pids/labkit-x：") and "labkit doctor" in err.hint
        assert "labkit images" in errors.ImageNotFound("error.runtime.no-such-image", image="nosuch").hint


def test_labkitd_sends_keys_that_a_client_shows_in_its_own_language():
    """labkitd's reply carries the words in the asker's language (the quick client prints them as they
    are) and the keys with their values (a full client shows them in its own)."""
    from labkit.runtime.client.labkitd import remote_error as _error
    from labkit.runtime.daemon.wire import error_reply

    sent = error_reply(errors.translate_oserror(OSError(13, "x"), "write-file", value="1", path="/p"), "zh")["error"]
    assert sent["message"].startswith("无法把 '1' 写入 /p：") and sent["hint_line"].startswith("提示：")
    with catalog.speaking("en"):
        e = _error(sent)
        assert type(e) is errors.NotPermitted and e.message.startswith("could not write '1' to /p: ")
        assert e.hint.startswith("run it as root")
    # an old labkitd's reply: words only, shown as they came
    e = _error({"type": "Conflict", "message": "plain words", "hint": "do this"})
    assert (type(e), e.message, e.hint) == (errors.Conflict, "plain words", "do this")
    # a hostile reply's keys are not trusted: an unknown entry is no Text, a bad value name is dropped
    e = _error({"type": "LabkitError", "message": "m", "text": {"entry": "nope", "field": "message"}})
    assert e.message == "m"


def _cli(*argv, lang: str, **env):
    environment = dict(os.environ, LABKIT_LANG=lang, **env)
    return subprocess.run([PYTHON, "-m", "labkit", *argv], capture_output=True, text=True, timeout=120, env=environment)


def test_the_cli_says_a_refusal_in_the_language_of_labkit_lang_or_the_locale(busybox):
    p = _cli("run", "--rm", "-m", "1x", "busybox", "true", lang="zh")
    assert p.returncode == 125 and "memory 限制 '1x' 不是一个大小" in p.stderr and "提示：" in p.stderr, p.stderr
    environment = {k: v for k, v in os.environ.items() if k not in ("LABKIT_LANG", "LC_ALL", "LC_MESSAGES")}
    p = subprocess.run([PYTHON, "-m", "labkit", "rm", "no-such-box"], capture_output=True, text=True, timeout=120,
                       env=dict(environment, LANG="zh_CN.UTF-8"))
    assert p.returncode == 1 and "没有这个容器" in p.stderr, p.stderr
    p = _cli("rm", "no-such-box", lang="en")
    assert "no such container" in p.stderr.lower() and "hint: " in p.stderr


def test_the_quick_client_gets_labkitds_refusal_in_its_own_language(busybox):
    """labkitd (started in English by the suite) answers the quick client in the client's LANG."""
    from test_quick_cli import quick

    lk.ps()  # labkitd runs
    env = {k: v for k, v in os.environ.items() if k not in ("LABKIT_LANG", "LC_ALL", "LC_MESSAGES")}
    p = quick("run", "--rm", "busybox", "no-such-program", capture_output=True, text=True, env=dict(env, LANG="zh_CN.UTF-8"))
    assert p.returncode == 127 and "在容器的 $PATH 中找不到可执行文件" in p.stderr, p.stderr
    p = quick("run", "--rm", "busybox", "no-such-program", capture_output=True, text=True, env=dict(env, LANG="C.UTF-8"))
    assert p.returncode == 127 and "executable file not found" in p.stderr, p.stderr


def test_a_notebook_in_chinese_gets_labkitds_errors_in_chinese(busybox, monkeypatch):
    lk.ps()
    monkeypatch.setenv("LABKIT_LANG", "en")
    try:
        lk.language("zh")
        with pytest.raises(lk.ContainerNotFound) as e:
            lk.container("no-such-box-at-all")
        assert "没有这个容器" in e.value.message and "用 `labkit ps -a`" in e.value.hint
        assert "提示" in e.value._repr_html_()
    finally:
        catalog.choose(None)
        monkeypatch.setenv("LABKIT_LANG", "en")  # lk.language("zh") set it for the processes a notebook starts
    assert lk.language() == "en"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


def _lab_messages(lang: str) -> dict[str, str]:
    lines = (REPO / "labkit" / "messages" / "lab" / f"{lang}.tsv").read_text(encoding="utf-8").splitlines()
    return dict(line.split("\t", 1) for line in lines if line and not line.startswith("#"))


def _shell_words(line: str) -> list[str]:
    """The words of a shell command line up to its end (";", "|", "&&", ")" outside quotes): quotes and
    $( ... ) kept whole: 'locked "$(grep -c '==' "$lock")" "${lock#"$HERE"/}"; x' -> 3 words."""
    words, word, quote, depth, i = [], "", None, 0, 0
    while i < len(line):
        c = line[i]
        if quote:
            if c == quote and depth == 0:
                quote = None
            elif line.startswith("$(", i) or line.startswith("${", i):
                depth += 1
                word += line[i]
                i += 1
                c = line[i]
            elif c in ")}" and depth:
                depth -= 1
        elif c in "\"'":
            quote = c
        elif line.startswith("$(", i) or line.startswith("${", i):
            depth += 1
            word += line[i]
            i += 1
            c = line[i]
        elif c in ")}" and depth:
            depth -= 1
        elif depth == 0 and (c in ";|&)" or c.isspace()):
            if word:
                words.append(word)
                word = ""
            if not c.isspace():
                break
            i += 1
            continue
        word += c
        i += 1
    if word:
        words.append(word)
    return words


def test_every_message_of_lab_is_an_id_of_its_catalog_in_both_languages():
    """`./lab`'s say and die name a message by ID (labkit/messages/lab/<lang>.tsv), never write a
    sentence; each ID is in both files with as many values (%s), and is given that many."""
    import re

    script = (REPO / "lab").read_text()
    en, zh = _lab_messages("en"), _lab_messages("zh")
    assert set(en) == set(zh), set(en) ^ set(zh)
    for key in en:
        assert en[key].count("%s") == zh[key].count("%s"), key
    calls = re.findall(r"(?:^|[;|&(]|then|else|\|\|)\s*(say|die) (.*)$", script, re.M)
    assert len(calls) > 30
    bad = []
    for verb, rest in calls:
        words = _shell_words(rest)
        if not words or words[0].startswith(('"', "'")) or words[0] not in en:
            bad.append(f"{verb} {rest[:60]}")
        elif len(words) - 1 != en[words[0]].count("%s"):
            bad.append(f"{verb} {words[0]}: {len(words) - 1} values for {en[words[0]].count('%s')}")
    assert not bad, bad


@pytest.mark.parametrize("lang, words", [("zh", "正在"), ("en", "creating the Python environment")])
def test_lab_speaks_the_language_of_labkit_lang(lang, words, tmp_path):
    """Its functions, run alone: the same ID in the chosen language; --lang refuses a language it lacks."""
    script = (REPO / "lab").read_text()
    start, end = script.index("lab_lang() {"), script.index("die() {")
    end = script.index("\n", end)
    functions = script[start:end]
    p = subprocess.run(["bash", "-c", f'HERE={REPO}\n{functions}\nLAB_LANG=$(lab_lang)\nsay venv /srv/lab/.venv'],
                       capture_output=True, text=True, timeout=30, env=dict(os.environ, LABKIT_LANG=lang))
    assert words in p.stdout and "/srv/lab/.venv" in p.stdout, p
    p = subprocess.run([str(REPO / "lab"), "start", "--lang", "klingon"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, LABKIT_LANG=lang))
    assert p.returncode == 1 and "klingon" in p.stderr and ("en 或 zh" if lang == "zh" else "en or zh") in p.stderr, p


def test_a_failed_step_of_a_start_is_said_in_the_learners_language():
    """A starting process reports a step's code and an errno's name (container/report.py); labkitd
    makes the error from the catalog's "step" and "doing" texts, never from the English of its log."""
    from labkit.runtime.daemon.failures import error_of

    line = {"failed": "mkdir", "errno": "EROFS", "message": "Read-only file system", "path": "/data"}
    with catalog.speaking("zh"):
        assert error_of(line).message.startswith("无法创建 /data：")
    with catalog.speaking("en"):
        assert error_of(line).message.startswith("could not create /data: ")
        assert error_of(dict(line, failed="no-such-step", errno="")).message.startswith("the step no-such-step: ")


def test_every_text_the_code_names_is_in_the_catalog():
    """Text("trace", "cgroup") and PID 1's trace("cgroup-join", n=4) name a field of the catalog: a
    typo would show the field's name to a learner instead of a sentence."""
    english, bad = catalog._load("en"), []
    for where, line, call in _calls({"Text"}):
        args = [a.value for a in call.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if len(args) == 2 and args[1] not in english.get(args[0], {}):
            bad.append(f"{where}:{line}: {args}")
    for where, line, call in _calls({"trace"}):
        if "runtime/container" not in str(where) or not call.args or not isinstance(call.args[0], ast.Constant):
            continue
        fields = [a.value for a in call.args[:2] if isinstance(a, ast.Constant)]
        fields += [ast.unparse(a) for a in call.args[1:2] if isinstance(a, ast.IfExp)]
        for field in fields[-1:] if len(call.args) > 1 and isinstance(call.args[1], ast.Constant) else fields[:1]:
            if field not in english["trace"]:
                bad.append(f"{where}:{line}: trace {field!r}")
    assert not bad, bad


def test_a_traced_run_is_told_in_the_learners_language(busybox):
    """The trace's steps travel as catalog keys and values, from PID 1 (which imports nothing after
    pivot_root) through labkitd to the client, which says them in its own language."""
    with catalog.speaking("zh"):
        r = lk.run("busybox", "true", rm=True, trace=True, stream=False)
    texts = [text for text, _ in r.trace]
    assert r.steps[:3] == ("check", "create", "cgroup") and len(texts) == len(r.steps)
    assert texts[2].startswith("创建控制组") and any(t.startswith("加入容器的控制组（") for t in texts), texts
    assert texts[-1] == "labkitd 删除容器（rm）" and "网桥" in " ".join(texts)
    with catalog.speaking("en"):
        r = lk.run("busybox", "true", rm=True, trace=True, stream=False)
    assert [t for t, _ in r.trace][-1] == "labkitd removes the container (rm)"
    assert "pivot_root into the container's root filesystem" in [t for t, _ in r.trace]


def test_what_a_notebook_shows_of_a_container_an_overlay_and_the_filter_is_in_its_language(busybox, tmp_path):
    from labkit.security import seccomp

    c = lk.run("busybox", "sleep 60", detach=True, name="lang-shown")
    try:
        with catalog.speaking("zh"):
            assert "运行中，已" in c._repr_html_() and "容器" in c._repr_html_()
            assert seccomp.why("unshare").startswith("新建命名空间") and seccomp.why("getpid") == ""
        with catalog.speaking("en"):
            assert ">Up " in c._repr_html_() or "Up " in c._repr_html_()
            assert seccomp.why("keyctl").startswith("the kernel's keyrings")
        c.stop(timeout=1)
        with catalog.speaking("zh"):
            assert "已退出（" in c._repr_html_()
    finally:
        c.remove(force=True)
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "hello").write_text("hi\n")
    o = lk.overlay([str(lower)], name="lang-shown")
    try:
        (o.merged / "new").write_text("x")
        with catalog.speaking("zh"):
            page = o._repr_html_()
            assert "已挂载" in repr(o) and "下层 0" in page and "文件：hi" in page and "合并视图" in page
            assert repr(o.changes()[0]).startswith("新增")
        assert o.views()[0]["lower 0"] == "file: hi"  # the data keeps its keys and values: code reads those
    finally:
        o.unmount(remove=True)


#: What labkit prints as docker prints it, word for word (scripts and docker's own users read these):
#: they stay English in every language, as docker's do.
DOCKERS_WORDS = ("Unable to find image", "Loaded image:", "Login Succeeded", "Untagged:", "Password: ")


def test_no_sentence_is_printed_from_the_code_only_catalog_texts():
    """A print, a write to a terminal or a `say` of ./lab's bundle step holds no sentence of its own:
    a run of three words in a literal fails, unless it is docker's own output."""
    import re

    def sentence(node) -> str:
        parts = [node.value] if isinstance(node, ast.Constant) and isinstance(node.value, str) else \
            [v.value for v in node.values if isinstance(v, ast.Constant)] if isinstance(node, ast.JoinedStr) else []
        found = [p for p in parts if re.search(r"[A-Za-z]+[ ,:;]+[A-Za-z]+[ ,:;]+[A-Za-z]+", p)]
        return found[0] if found and not any(w in "".join(parts) for w in DOCKERS_WORDS) else ""

    bad = [f"{where}:{line}: {sentence(call.args[0])[:60]!r}" for where, line, call in _calls({"print", "write", "show", "say"})
           if call.args and sentence(call.args[0]) and "host/book.py" not in str(where)]
    assert not bad, bad


def test_the_bundle_step_says_its_messages_by_id_in_both_languages():
    """labkit/host/bundle.py (run by ./lab with the system's python3) says ./lab's messages by ID."""
    en, zh = _lab_messages("en"), _lab_messages("zh")
    bad = []
    for where, line, call in _calls({"say", "Refused"}):
        if "host/bundle.py" not in str(where) or not call.args:
            continue
        key = call.args[0].value if isinstance(call.args[0], ast.Constant) else None
        if key not in en or key not in zh or len(call.args) - 1 != en[key].count("%s"):
            bad.append(f"{where}:{line}: {ast.unparse(call)[:70]}")
    assert not bad, bad
    from labkit.host import bundle

    os.environ["LABKIT_LANG"] = "zh"
    try:
        assert bundle.said("bundle-unpacked", 3) == "离线包已核对并解开，用时 3 秒"
    finally:
        os.environ["LABKIT_LANG"] = "en"
    assert bundle.said("bundle-unpacked", 3) == "bundle checked and unpacked in 3 s"
