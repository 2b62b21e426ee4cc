"""`./lab room start | status | stop | reset`: a room on this machine, everything in one folder.

    /var/lib/labkit-room/            (LABKIT_ROOM_DIR moves it; root's alone)
      lxd/                           the room's own LXD daemon (LXD_DIR): a machine's LXD is never touched
      room.json, learners.json       what the hub's spawner and authenticator read (hub.py)
      cards.html                     one card per learner, to print
      hub/                           JupyterHub's config, database, cookie secret, the admin token, its log
      hub.pid, lxd.pid               the two daemons the room started, ended by these PIDs alone

start makes what is missing and keeps what is there (a learner keeps their password and their work);
stop ends the hub and the containers (their disks stay); reset removes the room, work included.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from ..errors import FeatureMissing, InvalidArgument, LabkitError
from . import roster
from .lxd import Lxd
from .settings import RoomSettings, load

IMAGE = "labkit-learner"
POOL = "labkit"
FIRST_PORT = 20001  # learner i's server on the host's 127.0.0.1:FIRST_PORT+i (an LXD proxy device)


def room_dir() -> Path:
    return Path(os.environ.get("LABKIT_ROOM_DIR") or "/var/lib/labkit-room")


def _say(key: str, **values) -> None:
    from ..catalog import text

    print(text("room.manage", key, key, **values), flush=True)


def _alive(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


# -- LXD ----------------------------------------------------------------------------------------------
def lxd_up(d: Path) -> Lxd:
    """The room's LXD daemon, started if it is not running (without systemd: `lxd --group root`)."""
    (d / "lxd").mkdir(parents=True, exist_ok=True)
    api = Lxd(d / "lxd" / "unix.socket")
    if _alive(d / "lxd.pid") is None:
        env = dict(os.environ, LXD_DIR=str(d / "lxd"))
        with open(d / "lxd.out", "ab") as out:
            p = subprocess.Popen(["lxd", "--group", "root", "--logfile", str(d / "lxd.log")], env=env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        (d / "lxd.pid").write_text(str(p.pid))
        ready = subprocess.run(["lxd", "waitready", "--timeout", "60"], env=env, capture_output=True, timeout=90)
        if ready.returncode != 0:
            raise FeatureMissing("error.room.lxd-absent", path=api.path)
    pools = [u.rsplit("/", 1)[-1] for u in api.request("GET", "/1.0/storage-pools") or []]
    if POOL not in pools:
        api.request("POST", "/1.0/storage-pools", {"name": POOL, "driver": "dir"})
    return api


def image_up(api: Lxd, d: Path, image_tar: Path) -> None:
    """The learner image, imported once from the root filesystem ./lab made (prepare_learner_image)."""
    if any(a.get("name") == IMAGE for a in api.request("GET", "/1.0/images/aliases?recursion=1") or []):
        return
    if not image_tar.is_file():
        raise FeatureMissing("error.room.no-image", path=image_tar)
    import io
    import tarfile

    # LXD's image is two files: this metadata, and the root filesystem as ./lab made it
    meta, yaml = d / "image-meta.tar.gz", (f"architecture: x86_64\ncreation_date: {int(time.time())}\n"
                                           "properties:\n  description: labkit learner\n").encode()
    with tarfile.open(meta, "w:gz") as t:
        info = tarfile.TarInfo("metadata.yaml")
        info.size = len(yaml)
        t.addfile(info, io.BytesIO(yaml))
    subprocess.run(["lxc", "image", "import", str(meta), str(image_tar), "--alias", IMAGE], check=True, timeout=600,
                   env=dict(os.environ, LXD_DIR=str(d / "lxd")), capture_output=True)


# -- the hub ------------------------------------------------------------------------------------------
def _free_port() -> int:
    """A port of the host's loopback that nobody holds now: the hub's API and its proxy's take one
    each, at each start (their defaults, 8081 and 8001, may be another program's, or another room's)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hub_config(d: Path, s: RoomSettings, token: str) -> Path:
    hub = d / "hub"
    hub.mkdir(parents=True, exist_ok=True)
    os.chmod(hub, 0o700)  # its database, cookie secret and the room's admin token
    ssl = (f'c.JupyterHub.ssl_cert = "{s.certificate}"\nc.JupyterHub.ssl_key = "{s.key}"\n' if s.https else "")
    cfg = hub / "jupyterhub_config.py"
    cfg.write_text(
        "# written by ./lab room start (labkit/room/manage.py); written again at each start\n"
        f'c.JupyterHub.ip = "{s.address}"\nc.JupyterHub.port = {s.port}\n{ssl}'
        f'c.JupyterHub.hub_ip = "127.0.0.1"\nc.JupyterHub.hub_port = {_free_port()}\n'
        f'c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{_free_port()}"\n'
        f'c.JupyterHub.db_url = "sqlite:///{hub}/jupyterhub.sqlite"\n'
        f'c.JupyterHub.cookie_secret_file = "{hub}/cookie_secret"\n'
        f'c.ConfigurableHTTPProxy.pid_file = "{hub}/proxy.pid"\n'
        'c.JupyterHub.authenticator_class = "labkit.room.hub.RosterAuthenticator"\n'
        'c.JupyterHub.spawner_class = "labkit.room.hub.LxdSpawner"\n'
        f'c.RosterAuthenticator.room_dir = c.LxdSpawner.room_dir = "{d}"\n'
        "c.Authenticator.allow_all = True\n"
        "c.Spawner.start_timeout = c.Spawner.http_timeout = 120\n"
        'c.JupyterHub.services = [{"name": "labkit-room", "api_token": open("' + str(hub / "token") + '").read().strip()}]\n'
        'c.JupyterHub.load_roles = [{"name": "labkit-room", "scopes": ["admin:users", "admin:servers", "access:servers",'
        ' "read:users:activity"], "services": ["labkit-room"]}]\n')
    tok = hub / "token"
    if not tok.exists():
        fd = os.open(tok, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, token.encode())
        os.close(fd)
    return cfg


def hub_api(d: Path, s: RoomSettings, method: str, path: str, body: dict | None = None, timeout: float = 30):
    """One call of the hub's REST API with the room's own service token."""
    import ssl

    token = (d / "hub" / "token").read_text().strip()
    req = urllib.request.Request(f"{s.url.rstrip('/')}/hub/api{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    ctx = None
    if s.https:  # our own hub, on this machine, whose certificate names the room's address, not 127.0.0.1
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
        data = r.read()
    return json.loads(data) if data else None


def hub_up(d: Path, s: RoomSettings, lab: Path) -> None:
    if _alive(d / "hub.pid") is None:
        cfg = hub_config(d, s, secrets.token_hex(32))
        env = dict(os.environ, NODE_PATH="/usr/share/nodejs", PATH=f"{lab / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
        with open(d / "hub" / "hub.log", "ab") as out:
            p = subprocess.Popen([str(lab / ".venv" / "bin" / "jupyterhub"), "-f", str(cfg)], cwd=d / "hub", env=env,
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        (d / "hub.pid").write_text(str(p.pid))
    deadline = time.monotonic() + 90
    while True:
        try:
            hub_api(d, s, "GET", "/", timeout=5)
            return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline or _alive(d / "hub.pid") is None:
                raise LabkitError("error.room.hub-not-started", log=d / "hub" / "hub.log") from None
            time.sleep(0.5)


# -- the commands -------------------------------------------------------------------------------------
def _settings(d: Path) -> RoomSettings:
    try:
        saved = json.loads((d / "room.json").read_text())["settings"]
    except (OSError, ValueError, KeyError):
        raise InvalidArgument("error.room.not-started", dir=d) from None
    return load(saved.get("file"), **saved.get("given", {}))


def _ports(d: Path, logins: list[str]) -> dict[str, int]:
    """Each learner's port on the host's loopback: the one they had, else the next free one from
    FIRST_PORT (another room, another program, may hold some)."""
    import socket

    try:
        had = json.loads((d / "room.json").read_text())["ports"]
    except (OSError, ValueError, KeyError):
        had = {}
    out, port = {}, FIRST_PORT
    for login in logins:
        if login in had:
            out[login] = had[login]
            continue
        while True:
            port += 1
            if port in out.values() or port in had.values():
                continue
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", port))
                    break
                except OSError:
                    continue
        out[login] = port
    return out


def start(settings_file: str | None, given: dict, lab: Path, image_tar: Path, warm: bool = False) -> None:
    s = load(settings_file, **given)  # everything checked before anything is made
    d = room_dir()
    if s.roster is not None:
        logins = roster.logins_from_roster(s.roster.read_text())
    else:
        logins = roster.logins_counted(s.learners or 8)
    d.mkdir(parents=True, exist_ok=True)
    # others may pass through (x), not list (r): LXD's unprivileged containers, whose root is another
    # UID, live below it ("Could not access ...: grant it x access"); the secrets are 0600 or in hub/ (0700)
    os.chmod(d, 0o711)
    learners = roster.make(logins, roster.load(d / "learners.json"))
    roster.save(learners, d / "learners.json")
    _say("lxd", dir=d / "lxd")
    api = lxd_up(d)
    image_up(api, d, image_tar)
    from ..cgroups import layout

    state = {"lxd": str(api.path), "image": IMAGE, "lab": str(lab), "pool": POOL, "cgroups_v1": layout().version == 1,
             "limits": s.limits.__dict__, "ports": _ports(d, [x.login for x in learners]),
             "settings": {"file": str(Path(settings_file).resolve()) if settings_file else None, "given": given}}
    (d / "room.json").write_text(json.dumps(state, indent=1))
    (d / "cards.html").write_text(roster.cards(learners, s.url, s.lang))
    hub_up(d, s, lab)
    # the hub knows a user from their first login; the room's are made now, so that --warm (and the
    # instructor's view) can start and see them before anyone logs in
    try:
        hub_api(d, s, "POST", "/users", {"usernames": [x.login for x in learners]})
    except urllib.error.HTTPError as e:
        if e.code != 409:  # 409: every one exists already (a room started again)
            raise
    if warm:
        _say("warming", n=len(learners))
        for x in learners:
            try:
                hub_api(d, s, "POST", f"/users/{x.login}/server")
            except urllib.error.HTTPError as e:
                if e.code != 400:  # 400: already running
                    raise
    _say("started", url=s.url, n=len(learners), cards=d / "cards.html")


def status(as_json: bool = False) -> list[dict]:
    d = room_dir()
    s = _settings(d)
    learners = list(roster.load(d / "learners.json").values())
    hub_up_now = _alive(d / "hub.pid") is not None
    servers = {}
    if hub_up_now:
        for u in hub_api(d, s, "GET", "/users") or []:
            servers[u["name"]] = "ready" if (u.get("servers") or {}).get("", {}).get("ready") else (
                "starting" if u.get("servers") else "none")
    api = Lxd(d / "lxd" / "unix.socket")
    lxd = _alive(d / "lxd.pid") is not None
    names = set(api.names()) if lxd else set()
    rows = [{"name": x.login, "container": x.container,
             "container_state": (api.usage(x.container).status if x.container in names else "Missing" if lxd else "Stopped"),
             "server": servers.get(x.login, "none")} for x in learners]
    out = {"url": s.url, "hub": "up" if hub_up_now else "down", "learners": rows}
    if as_json:
        print(json.dumps(out, indent=1))
    else:
        _say("status", url=s.url, hub=out["hub"])
        for r in rows:
            print(f"  {r['name']:<20} {r['container']:<28} {r['container_state']:<10} {r['server']}")
    return rows


def _end(pid_file: Path, sig=signal.SIGTERM, wait: float = 30) -> None:
    pid = _alive(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return
    os.killpg(pid, sig)  # the daemon the room started, in the session it started it in
    deadline = time.monotonic() + wait
    while _alive(pid_file) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    if _alive(pid_file):
        os.killpg(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def stop() -> None:
    d = room_dir()
    _end(d / "hub.pid")  # the hub stops the learners' servers and its proxy
    if _alive(d / "lxd.pid"):
        subprocess.run(["lxd", "shutdown", "--timeout", "60"], env=dict(os.environ, LXD_DIR=str(d / "lxd")),
                       capture_output=True, timeout=90)  # stops every container: their disks stay
    _end(d / "lxd.pid")
    _say("stopped", dir=d)


def reset() -> None:
    """The room gone: containers (and the work in them), the image, the pool, the hub's database."""
    import shutil

    d = room_dir()
    _end(d / "hub.pid")
    if d.exists():
        if (d / "lxd").exists():
            api = lxd_up(d)
            for name in api.names():
                if name.startswith(roster.PREFIX):
                    api.delete(name)
            for a in api.request("GET", "/1.0/images/aliases?recursion=1") or []:
                if a.get("name") == IMAGE:
                    api.wait_or_none(api.request("DELETE", f"/1.0/images/{a['target']}"))
            try:
                api.request("DELETE", f"/1.0/storage-pools/{POOL}")
            except LabkitError:
                pass
            subprocess.run(["lxd", "shutdown", "--timeout", "60"], env=dict(os.environ, LXD_DIR=str(d / "lxd")),
                           capture_output=True, timeout=90)
            _end(d / "lxd.pid")
        for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
            point = line.split()[4]
            if point.startswith(str(d) + "/"):  # LXD's own mounts in its folder (shmounts, devlxd)
                subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
        shutil.rmtree(d, ignore_errors=True)
    _say("reset", dir=d)


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="./lab room")
    sub = p.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("start")
    st.add_argument("--settings")
    st.add_argument("--learners", type=int)
    st.add_argument("--roster")
    st.add_argument("--address")
    st.add_argument("--port", type=int)
    st.add_argument("--lang")
    st.add_argument("--warm", action="store_true")
    st.add_argument("--lab", required=True)
    st.add_argument("--image-tar", required=True)
    ss = sub.add_parser("status")
    ss.add_argument("--json", action="store_true")
    sub.add_parser("stop")
    sub.add_parser("reset")
    a = p.parse_args(argv)
    try:
        if a.cmd == "start":
            given = {k: getattr(a, k) for k in ("learners", "roster", "address", "port", "lang") if getattr(a, k) is not None}
            start(a.settings, given, Path(a.lab), Path(a.image_tar), a.warm)
        elif a.cmd == "status":
            status(a.json)
        elif a.cmd == "stop":
            stop()
        else:
            reset()
    except LabkitError as e:
        print(f"./lab room: {e}", file=sys.stderr)
        return e.exit_code
    return 0
