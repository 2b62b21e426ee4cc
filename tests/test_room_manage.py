"""`./lab room` end to end on a real LXD (the room's own daemon, in a folder of the test's): start a room
of two learners warmed, their status, a login by a card, stop with the work kept, reset leaving nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO
from lxdhost import image_tar, missing

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing()), reason=missing() or "-"), pytest.mark.limit(300),
              pytest.mark.skipif(shutil.which("configurable-http-proxy") is None,
                                 reason="configurable-http-proxy is not installed (./lab test installs Debian's)")]
PY = str(REPO / ".venv" / "bin" / "python")


def room(d, *args, timeout=240):
    env = dict(os.environ, LABKIT_ROOM_DIR=str(d), LABKIT_LANG="en")
    return subprocess.run([PY, "-m", "labkit.room", *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_a_room_starts_warmed_shows_its_learners_stops_with_their_work_kept_and_resets_to_nothing(tmp_path):
    import socket
    import urllib.request

    from test_room_lxd import _call

    import tempfile

    # under /var/tmp: pytest's tmp_path sits in a 0700 folder, which the learners' unprivileged containers
    # (their root is another UID) cannot pass through; short: LXD's sockets live in it
    d = Path(tempfile.mkdtemp(prefix="lkroom-", dir="/var/tmp")) / "r"
    os.chmod(d.parent, 0o711)  # mkdtemp's 0700 would stop them as well
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        p = room(d, "start", "--learners", "2", "--port", str(port), "--warm", "--lab", str(REPO), "--image-tar", str(image_tar()))
        assert p.returncode == 0, (p.stdout, p.stderr, (d / "hub" / "hub.log").read_text()[-2000:] if (d / "hub" / "hub.log").exists() else "")
        assert f"http://127.0.0.1:{port}/" in p.stdout and "cards" in p.stdout
        deadline = time.monotonic() + 200
        while True:
            st = json.loads(room(d, "status", "--json").stdout)
            if all(r["server"] == "ready" for r in st["learners"]):
                break
            assert time.monotonic() < deadline, (st, (d / "hub" / "hub.log").read_text()[-3000:])
            time.sleep(2)
        assert [r["name"] for r in st["learners"]] == ["learner01", "learner02"] and st["hub"] == "up"
        assert all(r["container_state"] == "Running" for r in st["learners"]), st
        cards = (d / "cards.html").read_text()
        learners = json.loads((d / "learners.json").read_text())
        assert learners["learner01"]["password"] in cards and oct(os.stat(d / "learners.json").st_mode)[-3:] == "600"
        # the card's password logs in
        import http.cookiejar

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = f"http://127.0.0.1:{port}"
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', _call("GET", f"{base}/hub/login", opener=opener)[1].decode()).group(1)
        _call("POST", f"{base}/hub/login?next=", opener=opener,
              form={"username": "learner01", "password": learners["learner01"]["password"], "_xsrf": xsrf})
        assert any(c.name.startswith("jupyterhub-hub-login") for c in jar)
        p = room(d, "stop")
        assert p.returncode == 0, p.stderr
        st = json.loads(room(d, "status", "--json").stdout)
        assert st["hub"] == "down" and all(r["container_state"] == "Stopped" for r in st["learners"]), st
        # started again: the same learners, the same passwords (the cards on the tables stay right)
        p = room(d, "start", "--learners", "2", "--port", str(port), "--lab", str(REPO), "--image-tar", str(image_tar()))
        assert p.returncode == 0, p.stderr
        assert json.loads((d / "learners.json").read_text()) == learners
    finally:
        p = room(d, "reset")
    assert p.returncode == 0, p.stderr
    assert not d.exists()
    d.parent.rmdir()
    assert not [line for line in open("/proc/self/mountinfo") if str(d) in line]
    assert not [n for n in os.listdir("/sys/class/net") if "labkit-learner" in n]


def test_a_room_with_bad_settings_changes_nothing(tmp_path):
    d = tmp_path / "r"
    p = room(d, "start", "--learners", "0", "--lab", str(REPO), "--image-tar", str(image_tar()))
    assert p.returncode != 0 and "Traceback" not in p.stderr and "hint:" in p.stderr, p.stderr
    assert not d.exists()
    p = room(d, "status")
    assert p.returncode != 0 and "no room here" in p.stderr, p.stderr
