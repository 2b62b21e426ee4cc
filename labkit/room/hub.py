"""JupyterHub's two pieces for a room: who may log in (the roster's PBKDF2 hashes) and where each
learner's server runs (their LXD container: containers.py).

    jupyterhub_config.py (written by the room):
        c.JupyterHub.authenticator_class = "labkit.room.hub.RosterAuthenticator"
        c.JupyterHub.spawner_class = "labkit.room.hub.LxdSpawner"
        c.RosterAuthenticator.room_dir = c.LxdSpawner.room_dir = "/var/lib/labkit-room"

    /var/lib/labkit-room/room.json      {"lxd": "/var/lib/lxd/unix.socket", "image": "labkit-learner",
                                         "lab": "/opt/labkit", "pool": "default", "cgroups_v1": false,
                                         "limits": {"cpu": 1, ...}, "ports": {"ada": 20001, ...}}
    /var/lib/labkit-room/learners.json  the roster (roster.py): logins, password hashes, containers

The server inside reaches the hub's API on its own 127.0.0.1:8081, an LXD proxy device to the hub's
port on the host's loopback: no network joins a learner to the hub, or to another learner.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

from jupyterhub.auth import Authenticator
from jupyterhub.spawner import Spawner
from traitlets import Unicode

from . import roster
from .containers import Room
from .lxd import Lxd
from .settings import Limits

#: the hub's API as the learner's server sees it, inside its container
INSIDE_API = "http://127.0.0.1:8081/hub/api"
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def read_room(room_dir: Path) -> dict:
    return json.loads((Path(room_dir) / "room.json").read_text())


class RosterAuthenticator(Authenticator):
    """A learner of the roster, with the password of their card; nobody else."""

    room_dir = Unicode("/var/lib/labkit-room", config=True, help="the room's folder: learners.json")

    async def authenticate(self, handler, data):
        login, password = (data or {}).get("username", ""), (data or {}).get("password", "")
        known = roster.load(Path(self.room_dir) / "learners.json")
        learner = known.get(login)
        # the hash is checked in a thread: 200,000 rounds of PBKDF2 would hold the hub's loop ~60 ms
        if learner and await asyncio.to_thread(roster.check_password, password, learner.hash):
            return login
        return None


class LxdSpawner(Spawner):
    """Each learner's server in their own unprivileged LXD container (made at the first start)."""

    room_dir = Unicode("/var/lib/labkit-room", config=True, help="the room's folder: room.json")

    def _room(self) -> tuple[Room, dict]:
        state = read_room(Path(self.room_dir))
        lim = Limits(**state["limits"])
        return Room(Lxd(state["lxd"]), state["image"], Path(state["lab"]), lim, state.get("pool", "default"),
                    bool(state.get("cgroups_v1"))), state

    @property
    def container(self) -> str:
        return roster.PREFIX + self.user.name

    def get_env(self):
        env = super().get_env()
        api = self.hub.api_url.rstrip("/")
        for k, v in list(env.items()):  # the hub's API, as seen from inside: its own loopback
            if isinstance(v, str) and v.startswith(api):
                env[k] = INSIDE_API + v[len(api):]
        env.update({"JUPYTERHUB_API_URL": INSIDE_API, "PATH": CONTAINER_PATH, "HOME": "/root", "PYTHONDONTWRITEBYTECODE": "1"})
        return env

    def _start(self) -> tuple[str, int]:
        room, state = self._room()
        port = int(state["ports"][self.user.name])
        room.ensure(self.container, port)
        hub_port = urlsplit(self.hub.api_url).port
        room.api.add_device(self.container, "hubapi", {"type": "proxy", "listen": "tcp:127.0.0.1:8081",
                                                       "connect": f"tcp:127.0.0.1:{hub_port}", "bind": "container"})
        python = str(Path(state["lab"]) / ".venv" / "bin" / "python")
        room.start_server(self.container, [python, "-m", "jupyterhub.singleuser", "--ip=127.0.0.1", "--port=8888",
                                           "--allow-root", "--ServerApp.root_dir=/root/notebooks"], self.get_env())
        return "127.0.0.1", port

    async def start(self):
        return await asyncio.to_thread(self._start)

    async def poll(self):
        room, _ = self._room()
        pid = await asyncio.to_thread(room.server_pid, self.container)
        return None if pid else 0

    async def stop(self, now=False):
        room, _ = self._room()
        await asyncio.to_thread(room.stop_server, self.container, 1 if now else 10)
