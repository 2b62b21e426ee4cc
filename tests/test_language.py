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
