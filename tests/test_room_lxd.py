"""The room's LXD client (labkit/room/lxd.py) against a real LXD: the tests' own (tests/lxdhost.py),
gone afterwards. Where lxd cannot run, the tests say why and skip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labkit.errors import Conflict, FeatureMissing, InvalidArgument, NotFound
from labkit.room.lxd import Lxd as Api
from lxdhost import Lxd, Unavailable, missing

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(missing()), reason=missing() or "-"), pytest.mark.limit(300)]


@pytest.fixture(scope="module")
def lxd():
    host = Lxd()
    try:
        host.__enter__()
    except Unavailable as e:
        pytest.skip(f"lxd could not start on this machine: {str(e)[-300:]}")
    try:
        yield host
    finally:
        host.__exit__()
    assert not host.left(), host.left()


@pytest.fixture(scope="module")
def api(lxd):
    return Api(lxd.dir / "unix.socket")


class Counting(Api):
    """The client, counting its requests: a refused name must cost none."""

    sent = 0

    def request(self, *a, **kw):
        Counting.sent += 1
        return super().request(*a, **kw)


def test_an_instance_is_made_with_its_limits_started_run_in_read_and_removed(lxd, api):
    name = f"labkit-probe-{lxd.token}"
    api.create(name, "learner", config={"raw.lxc": "lxc.init.cmd = /bin/sleep infinity", "limits.memory": "256MiB",
                                        "limits.processes": "100"})
    try:
        assert name in api.names() and api.info(name)["config"]["limits.memory"] == "256MiB"
        with pytest.raises(Conflict):
            api.create(name, "learner")
        api.start(name)
        u = api.usage(name)
        assert u.status == "Running" and u.memory > 0 and u.processes >= 1
        # LXD wrote the limit into the container's group, seen from the host (v1: the pids hierarchy's)
        limit = [p for p in (Path(f"/sys/fs/cgroup/pids/lxc.payload.{name}/pids.max"), Path(f"/sys/fs/cgroup/lxc.payload.{name}/pids.max"))
                 if p.exists()]
        assert limit and limit[0].read_text().strip() == "100", limit
        done = api.exec(name, ["sh", "-c", "echo to-stderr >&2; echo $GREETING; exit 3"], env={"GREETING": "hi"})
        assert done.code == 3 and done.stdout == b"hi\n" and done.stderr == b"to-stderr\n", done
        # the record of each exec is read, then removed from LXD's logs
        assert not [f for f in (lxd.dir / "logs" / name).glob("exec_*")], list((lxd.dir / "logs" / name).iterdir())
        assert api.exec(name, ["sh", "-c", "echo 'a learner wrote this' > /root/progress.json"]).code == 0
        assert api.read(name, "/root/progress.json") == b"a learner wrote this\n"
        with pytest.raises(NotFound):
            api.read(name, "/root/nothing-here")
    finally:
        api.delete(name)
    assert name not in api.names()
    with pytest.raises(NotFound):
        api.info(name)


def test_a_name_lxd_would_refuse_is_refused_before_any_request(api):
    c = Counting(api.path)
    for bad in ("bad_name", "-lead", "trail-", "1st", "x" * 64, "", "../1.0/instances"):
        with pytest.raises(InvalidArgument):
            c.create(bad, "learner")
        with pytest.raises(InvalidArgument):
            c.exec(bad, ["true"])
    assert Counting.sent == 0


def test_without_lxd_the_error_says_how_to_start_one(tmp_path):
    with pytest.raises(FeatureMissing) as e:
        Api(tmp_path / "unix.socket").names()
    assert "no socket" in str(e.value) and "./lab room start" in str(e.value)


def test_a_single_lxd_is_no_cluster(api):
    assert api.members() == []


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str, timeout: float = 90):
    """The server's answer, waited for (it starts in the container): (status, body) or (None, why)."""
    import time
    import urllib.error
    import urllib.request

    deadline, why = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"token {token}"}), timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError as e:
            why = str(e)
            time.sleep(0.5)
    return None, why


def test_a_learners_container_serves_jupyter_on_the_hosts_loopback_alone_within_its_limits(lxd, api):
    """What the hub's spawner does (labkit/room/containers.py): the container made with the room's
    limits and the lab bound in, its init in a leaf group, the server started detached in it and
    reached from the host's 127.0.0.1 only (an LXD proxy device), stopped with the work kept."""
    from conftest import REPO
    from labkit.cgroups import layout
    from labkit.room.containers import Room
    from labkit.room.settings import Limits

    room = Room(api, "learner", REPO, Limits(cpu=1, memory=768 << 20, processes=400, disk=2 << 30), pool="pool",
                cgroups_v1=layout().version == 1)
    name, port, token = f"labkit-ada-{lxd.token}", _free_port(), "t" + lxd.token
    assert room.ensure(name, port) and not room.ensure(name, port)
    try:
        server = [str(REPO / ".venv" / "bin" / "python"), "-m", "jupyter_server", "--allow-root", "--no-browser",
                  "--ServerApp.ip=127.0.0.1", "--ServerApp.port=8888", f"--IdentityProvider.token={token}"]
        room.start_server(name, server, {"HOME": "/root", "PYTHONDONTWRITEBYTECODE": "1"})
        status, body = _get(f"http://127.0.0.1:{port}/api/status", token)
        assert status == 200, (body, api.exec(name, ["cat", "/run/labkit-room/server.log"]).stdout[-2000:])
        assert _get(f"http://127.0.0.1:{port}/api/status", "wrong", timeout=5)[0] == 403  # its token alone
        pid = room.server_pid(name)
        assert pid
        inside = api.exec(name, ["sh", "-c", "cat /proc/1/cgroup; ls /root/notebooks | head -3; cat /proc/self/uid_map"]).stdout.decode()
        assert "00-welcome.ipynb" in inside, inside  # the learner's own copy of the notebooks
        assert inside.splitlines()[-1].split()[0] == "0" and inside.splitlines()[-1].split()[1] != "0", inside  # unprivileged
        info = api.info(name)
        assert info["config"]["limits.memory"] == f"{768 << 20}B" and info["config"]["security.nesting"] == "true"
        room.stop_server(name)
        assert room.server_pid(name) is None and _get(f"http://127.0.0.1:{port}/api/status", token, timeout=3)[0] is None
        assert api.exec(name, ["test", "-d", "/root/notebooks"]).code == 0  # the learner's work stays
        room.stop(name)
        assert not room.running(name)
    finally:
        room.remove(name)
    assert name not in api.names()


def _hub_config(tmp, room_dir, ports, token) -> Path:
    cfg = tmp / "jupyterhub_config.py"
    cfg.write_text(f"""
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {ports['public']}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {ports['hub']}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{ports['proxy_api']}"
c.JupyterHub.db_url = "sqlite:///{tmp}/hub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp}/cookie_secret"
c.JupyterHub.authenticator_class = "labkit.room.hub.RosterAuthenticator"
c.JupyterHub.spawner_class = "labkit.room.hub.LxdSpawner"
c.RosterAuthenticator.room_dir = c.LxdSpawner.room_dir = "{room_dir}"
c.Authenticator.allow_all = True
c.Spawner.start_timeout = c.Spawner.http_timeout = 120
c.JupyterHub.services = [{{"name": "instructor-test", "api_token": "{token}"}}]
c.JupyterHub.load_roles = [{{"name": "instructor-test", "scopes": ["admin:users", "admin:servers", "access:servers"],
                             "services": ["instructor-test"]}}]
""")
    return cfg


def _call(method, url, token=None, body=None, opener=None, form=None, timeout=30):
    import urllib.error
    import urllib.parse
    import urllib.request

    data = urllib.parse.urlencode(form).encode() if form is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=timeout) as r:
            return r.status, r.read(), r.geturl()
    except urllib.error.HTTPError as e:
        return e.code, e.read(), url


def test_the_hub_logs_a_learner_in_by_the_card_and_spawns_their_server_in_their_container(lxd, api, tmp_path):
    """JupyterHub (from the lock) behind Debian's configurable-http-proxy, with the room's authenticator
    and spawner (labkit/room/hub.py): the card's password logs in, a wrong one does not; the server
    starts in the learner's container, answers through the hub's proxy, and stops, the container kept."""
    import http.cookiejar
    import re
    import shutil
    import signal
    import subprocess
    import time
    import urllib.request

    from conftest import REPO
    from labkit.cgroups import layout
    from labkit.room import roster

    if shutil.which("configurable-http-proxy") is None:
        pytest.skip("configurable-http-proxy is not installed (./lab test installs Debian's node-configurable-http-proxy)")
    room_dir = tmp_path / "room"
    ada = roster.make(["ada"])[0]
    ada = roster.Learner(f"ada{lxd.token}", ada.password, ada.hash)  # the container's name carries this LXD's token
    roster.save([ada], room_dir / "learners.json")
    ports = {k: _free_port() for k in ("public", "hub", "proxy_api", "ada")}
    (room_dir / "room.json").write_text(json.dumps({
        "lxd": str(lxd.dir / "unix.socket"), "image": "learner", "lab": str(REPO), "pool": "pool",
        "cgroups_v1": layout().version == 1, "limits": {"cpu": 1, "memory": 768 << 20, "processes": 400, "disk": 2 << 30},
        "ports": {ada.login: ports["ada"]}}))
    token = "svc" + lxd.token * 4
    cfg = _hub_config(tmp_path, room_dir, ports, token)
    env = dict(os.environ, NODE_PATH="/usr/share/nodejs", PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}")
    log = open(tmp_path / "hub.log", "wb")
    hub = subprocess.Popen([str(REPO / ".venv" / "bin" / "jupyterhub"), "-f", str(cfg)], cwd=tmp_path, env=env,
                           stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{ports['public']}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if _call("GET", f"{base}/hub/api/", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            assert hub.poll() is None and time.monotonic() < deadline, (tmp_path / "hub.log").read_text()[-3000:]
            time.sleep(0.5)
        # the card's password logs in; a wrong one does not
        for password, ok in ((ada.password[:-1] + ("a" if ada.password[-1] != "a" else "b"), False), (ada.password, True)):
            jar = http.cookiejar.CookieJar()
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
            page = _call("GET", f"{base}/hub/login", opener=opener)[1].decode()
            xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
            _call("POST", f"{base}/hub/login?next=", opener=opener, form={"username": ada.login, "password": password, "_xsrf": xsrf})
            logged_in = any(c.name.startswith("jupyterhub-hub-login") for c in jar)
            assert logged_in == ok, (password == ada.password, [c.name for c in jar])
        # the server, started through the hub's API as the spawn page would
        status, body, _ = _call("POST", f"{base}/hub/api/users/{ada.login}/server", token)
        assert status in (201, 202), body
        deadline = time.monotonic() + 150
        while True:
            user = json.loads(_call("GET", f"{base}/hub/api/users/{ada.login}", token)[1])
            if (user.get("servers") or {}).get("", {}).get("ready"):
                break
            assert time.monotonic() < deadline and hub.poll() is None, (user, (tmp_path / "hub.log").read_text()[-3000:])
            time.sleep(1)
        status, body, _ = _call("GET", f"{base}/user/{ada.login}/api/status", token)
        assert status == 200 and b"started" in body, (status, body[:300])
        assert api.usage(ada.container).status == "Running"
        status, body, _ = _call("DELETE", f"{base}/hub/api/users/{ada.login}/server", token)
        assert status in (202, 204), body
        deadline = time.monotonic() + 60
        while (json.loads(_call("GET", f"{base}/hub/api/users/{ada.login}", token)[1]).get("servers") or {}):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert ada.container in api.names()  # the learner's container, and their work, stay
    finally:
        os.killpg(hub.pid, signal.SIGTERM)  # the hub this test started (it ends its proxy)
        try:
            hub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(hub.pid, signal.SIGKILL)
            hub.wait()
        log.close()
        if ada.container in api.names():
            api.delete(ada.container)


def test_the_instructors_view_reads_each_learners_progress_through_lxd(lxd, api):
    """The record a learner's lk.progress keeps in their container, read by LXD from outside it: passed
    exercises per notebook, the stuck flag; a learner with no record, a broken one, or no container
    yet is a row all the same."""
    import time

    from labkit.room.roster import Learner
    from labkit.room.settings import Stuck
    from labkit.room.watch import PROGRESS, look

    ada, lin, kim = (Learner(f"{n}{lxd.token}", "", "h") for n in ("ada", "lin", "kim"))
    for x in (ada, lin):
        api.create(x.container, "learner", config={"raw.lxc": "lxc.init.cmd = /bin/sleep infinity"}, profiles=["default"])
        api.start(x.container)
    try:
        now = time.time()
        record = {"03.memory-limits": {"status": "passed", "time": now - 30, "tries": 1},
                  "04.level-4": {"status": "not yet", "time": now - 5, "tries": 4}}
        api.exec(ada.container, ["mkdir", "-p", "/var/lib/labkit/progress"])
        api.write(ada.container, PROGRESS.format(login=ada.login), json.dumps(record).encode())
        api.exec(lin.container, ["sh", "-c", f"mkdir -p /var/lib/labkit/progress && echo '{{broken' > {PROGRESS.format(login=lin.login)}"])
        views = {v.login: v for v in look(api, [ada, lin, kim], Stuck(failures=3, idle_minutes=10), now)}
        a = views[ada.login]
        assert a.status == "Running" and a.memory > 0 and a.passed["03-cgroups"] == (1, 3) and a.done == 1
        assert a.stuck == ("tries", "04.level-4", 4) and a.last == record["04.level-4"]["time"]
        assert views[lin.login].status == "Running" and views[lin.login].done == 0 and views[lin.login].stuck == ()
        assert views[kim.login].status == "missing"
    finally:
        for x in (ada, lin):
            api.delete(x.container)


def test_labkits_own_reset_and_leak_check_leave_a_rooms_learner_containers_alone(lxd, api):
    """A learner's container is named labkit-<login>, so LXD's cgroups for it carry labkit in their
    names ("lxc.payload.labkit-ada"): they are LXD's, and `labkit reset --all` on a room's machine must
    not take them for a lab's parent groups (it would kill the learners' processes)."""
    from labkit.cgroups import labkit_dirs
    from labkit.paths import is_labkit_name

    name = f"labkit-keep-{lxd.token}"
    api.create(name, "learner", config={"raw.lxc": "lxc.init.cmd = /bin/sleep infinity"}, profiles=["default"])
    api.start(name)
    try:
        groups = [p for p in Path("/sys/fs/cgroup").glob(f"*/lxc.payload.{name}")] + \
                 [p for p in [Path(f"/sys/fs/cgroup/lxc.payload.{name}")] if p.exists()]
        assert groups, "LXD made no cgroup for the container"
        assert not [d for d in labkit_dirs() if name in d.name]
        assert not is_labkit_name(f"lxc.payload.{name}") and not is_labkit_name("/var/lib/labkit-room/lxd/shmounts")
        assert is_labkit_name("labkit.3f9c0a1b-web") and is_labkit_name("labkit0")
    finally:
        api.delete(name)
