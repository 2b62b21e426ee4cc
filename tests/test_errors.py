"""Errors teach: one hierarchy, a hint on each, and no traceback for a learner without root."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest

import labkit
import labkit as lk
from conftest import PYTHON, REPO
from labkit.errors import LabkitError, NotPermitted, translate_oserror


def test_every_public_error_is_a_labkit_error_with_a_hint():
    for cls in (labkit.NotPermitted, labkit.FeatureMissing, labkit.ImageNotFound, labkit.CommandNotFound,
                labkit.CommandNotExecutable):
        assert issubclass(cls, LabkitError)
        assert cls("x").hint, f"{cls.__name__} has no hint"


def test_oserror_eperm_becomes_not_permitted_with_the_action_in_its_message():
    e = translate_oserror(OSError(errno.EPERM, "Operation not permitted"), "mount overlay on /x")
    assert isinstance(e, NotPermitted)
    assert "mount overlay on /x" in str(e) and "hint:" in str(e)


def test_error_renders_as_html_in_a_notebook():
    html = labkit.InvalidArgument("bad size", hint="give 64M")._repr_html_()
    assert "InvalidArgument" in html and "give 64M" in html


def _as_nobody(code: str) -> subprocess.CompletedProcess:
    # setpriv drops to uid/gid 65534 with no supplementary groups: an ordinary user, as on mybinder.org.
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", PYTHON, "-c", code],
        capture_output=True, text=True, timeout=60, cwd="/", env={**os.environ, "HOME": "/nonexistent"},
    )


def test_run_without_root_raises_not_permitted_naming_root():
    r = _as_nobody(
        "import labkit as lk\n"
        "try:\n    lk.run('busybox', 'echo hi')\n"
        "except lk.NotPermitted as e:\n    print('NotPermitted:', e.message); print('hint:', e.hint)\n"
    )
    assert r.returncode == 0, r.stderr
    assert "NotPermitted:" in r.stdout and "root" in r.stdout and "hint:" in r.stdout


def test_cli_without_root_says_what_to_do_and_exits_125_without_traceback():
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", PYTHON, "-m", "labkit",
                        "run", "--rm", "busybox", "echo", "hi"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 125
    assert "needs root" in r.stderr and "hint:" in r.stderr
    assert "Traceback" not in r.stderr


def test_reset_and_doctor_without_root():
    r = _as_nobody(
        "import labkit as lk\n"
        "try:\n    lk.reset()\nexcept lk.NotPermitted as e:\n    print('reset refused:', e.message)\n"
        "rep = lk.doctor()\nprint(rep['root'].status, rep['root'].fix)\n"
    )
    assert r.returncode == 0, r.stderr
    assert "reset refused" in r.stdout
    assert "fail" in r.stdout and "sudo" in r.stdout


def test_an_oserror_from_deep_inside_leaves_a_public_call_as_a_labkit_error(monkeypatch):
    """The boundary (errors.boundary): lk.ps, a Container's methods and CGroup's turn a stray
    OSError into the matching LabkitError with a hint; labkit's own errors pass unchanged."""

    from labkit.runtime.client import labkitd
    from labkit.runtime.client.containers import Container

    def broken(*a, **kw):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(labkitd, "call", broken)
    with pytest.raises(lk.LabkitError) as e:
        lk.ps()
    assert "could not list the containers: Input/output error" in str(e.value) and e.value.hint
    assert isinstance(e.value.__cause__, OSError)
    with pytest.raises(lk.LabkitError) as e:
        Container("0" * 64, "x").kill()
    assert "Container.kill()" in str(e.value)

    def timed_out(*a, **kw):
        raise lk.TimedOut("waited 1 s")

    monkeypatch.setattr(labkitd, "call", timed_out)
    with pytest.raises(lk.TimedOut) as e:
        lk.ps()
    assert str(e.value).startswith("waited 1 s")  # labkit's own error, as raised


def test_an_error_labkitd_sends_keeps_its_nearest_known_class():
    """labkitd sends an error's class, its bases and their modules; the client takes the first it
    has loaded and can make from a message and a hint, keeping both."""
    from labkit.images.reference import InvalidReference
    from labkit.runtime.client.labkitd import remote_error
    from labkit.runtime.daemon.wire import error_reply

    from labkit.network.attach import NetworkSetupFailed

    # InvalidReference's constructor wants (reference, position, reason): the nearest that takes a message
    e = remote_error(error_reply(InvalidReference("Bad", 0, "the repository name must be lowercase"))["error"])
    assert type(e) is lk.InvalidArgument and "lowercase" in str(e) and e.hint and e.exit_code == 125
    sent = error_reply(NetworkSetupFailed("plug the container into its network: (95, 'Operation not supported')"))["error"]
    assert type(remote_error(sent)) is NetworkSetupFailed  # loaded here: the exact class
    elsewhere = dict(sent, modules=["labkit.not_loaded_here"] + sent["modules"][1:])  # a client without it
    e = remote_error(elsewhere)
    assert type(e) is lk.ContainerError and "95" in str(e) and "labkit reset" in e.hint
    assert type(remote_error({"type": "LabkitError", "message": "m"})) is lk.LabkitError  # an older labkitd
