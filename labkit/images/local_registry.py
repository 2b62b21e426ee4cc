"""A registry of the lab's own, for workshops without the internet: the real registry server
(Debian's docker-registry package, Docker's "distribution"), on 127.0.0.1 only.

    r = lk.registry.start()                         # http://127.0.0.1:5000, anyone may pull and push
    r = lk.registry.start(users={"alice": "s3cret"})  # private: Basic auth, from an htpasswd file
    lk.pull("localhost:5000/busybox")               # and docker's CLI sees the same registry

Its files live under the data root:

    registry/config.yml     the server's configuration (written here; an example is below)
    registry/htpasswd       users, bcrypt-hashed (`htpasswd -B`), readable by root only
    registry/data/          the blobs and repositories the open server stores
    registry/data-private/  those of a private one (users=): its own, so it does not list the open one's images

and it runs as `labkit-registry` (ps shows that name) in the lab's cgroup `<tag>/registry`, so
`labkit reset` stops it with everything else.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from ..errors import Conflict, FeatureMissing, InvalidArgument, LabkitError
from ..paths import Instance, instance as current_instance

NAME = "labkit-registry"
DEFAULT_PORT = 5000
SERVER = "docker-registry"

CONFIG = """\
# Written by labkit (images/local_registry.py): the registry server for this lab, on 127.0.0.1 only.
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
{auth}"""

AUTH = """\
auth:
  htpasswd:
    realm: labkit-registry
    path: {htpasswd}
"""


class LocalRegistry:
    """The lab's registry server: where it listens, who may use it, and what it holds."""

    def __init__(self, inst: Instance, port: int, pid: int, private: bool):
        self.inst, self.port, self.pid, self.private = inst, port, pid, private

    @property
    def host(self) -> str:
        """What goes before an image name to use it: "localhost:5000/busybox"."""
        return f"localhost:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return _is_ours(self.pid)

    def repositories(self, auth=None) -> dict[str, list[str]]:
        """What it holds: {"team/app": ["v1", "v2"]} (the catalog, then each repository's tags)."""
        from .registry import Registry

        reg = Registry(self.host, auth=auth)
        try:
            return {repo: sorted(reg.tags(repo)) for repo in reg.catalog()}
        finally:
            reg.close()

    def __repr__(self) -> str:
        state = "running" if self.running() else "stopped"
        return f"<LocalRegistry {self.host} pid {self.pid} {state}{' private' if self.private else ''}>"


def _dir(inst: Instance) -> Path:
    return inst.root / "registry"


def data_dir(private: bool = False, inst: Instance | None = None) -> Path:
    """Where the registry keeps what was pushed to it: /var/lib/labkit/registry/data, under it
    docker/registry/v2/repositories/<name>/ (a repository's links to blobs and manifests) and
    docker/registry/v2/blobs/ (the blobs, shared by every repository)."""
    return _dir(inst or current_instance()) / ("data-private" if private else "data")


def _pid_file(inst: Instance) -> Path:
    return inst.run / "registry.pid"


def _is_ours(pid: int) -> bool:
    """True while `pid` is our registry server (not another process that got its PID, nor a zombie:
    the process that started it may be its parent still, and reap it here)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child: the CLI that started it has exited
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return comm == NAME and state != "Z"


def status(inst: Instance | None = None) -> LocalRegistry | None:
    """The lab's registry if it runs, else None."""
    inst = inst or current_instance()
    try:
        pid, port, private = _pid_file(inst).read_text().split()
    except (OSError, ValueError):
        return None
    reg = LocalRegistry(inst, int(port), int(pid), private == "private")
    return reg if reg.running() else None


def start(port: int = DEFAULT_PORT, users: dict[str, str] | None = None, inst: Instance | None = None,
          timeout: float = 15.0) -> LocalRegistry:
    """Start the registry server on 127.0.0.1:port (users: make it private, {"alice": "s3cret"})."""
    from .. import cgroups
    from ..errors import require_root

    require_root("starting-lab-registry")
    inst = inst or current_instance()
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgument("error.images.port-number-from", port=port)
    if users is not None and (not users or not all(isinstance(u, str) and u and ":" not in u and isinstance(p, str)
                                                   and p for u, p in users.items())):
        raise InvalidArgument("error.images.users-names-without-neither")
    server = shutil.which(SERVER)
    if server is None:
        raise FeatureMissing("error.images.registry-server-installed")
    running = status(inst)
    if running is not None:
        raise Conflict("error.images.lab-s-registry-already", host=running.host)
    d = _dir(inst)
    data = d / ("data-private" if users else "data")
    data.mkdir(parents=True, exist_ok=True)
    auth = ""
    if users:
        htpasswd = d / "htpasswd"
        htpasswd.write_text("".join(_bcrypt_line(u, p) for u, p in users.items()))
        os.chmod(htpasswd, 0o600)
        auth = AUTH.format(htpasswd=htpasswd)
    config = d / "config.yml"
    config.write_text(CONFIG.format(data=data, port=port, secret=secrets.token_hex(16), auth=auth))
    os.chmod(config, 0o600)
    inst.run.mkdir(parents=True, exist_ok=True)
    exe = inst.run / NAME  # run through a link with our name: `ps` and /proc/PID/comm say labkit-registry
    exe.unlink(missing_ok=True)
    exe.symlink_to(server)
    group = cgroups.group(f"{inst.tag}/registry")
    group.create()
    with open(d / "registry.log", "ab") as log:
        proc = subprocess.Popen([str(exe), "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    group.add(proc.pid)  # out of the caller's cgroup: it outlives a notebook's kernel, and reset finds it
    _pid_file(inst).write_text(f"{proc.pid} {port} {'private' if users else 'public'}\n")
    reg = LocalRegistry(inst, port, proc.pid, bool(users))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (d / "registry.log").read_text(errors="replace")[-600:]
            _pid_file(inst).unlink(missing_ok=True)
            raise LabkitError("error.images.registry-server-exited-once", returncode=proc.returncode, strip=tail.strip(), port=port)
        if _answers(port):
            return reg
        time.sleep(0.05)
    stop(inst)
    raise LabkitError("error.images.registry-server-did-answer", port=port, timeout=timeout, d_registry_log=d / 'registry.log')


def stop(inst: Instance | None = None, timeout: float = 10.0) -> bool:
    """Stop the lab's registry; True if one was running. Its images stay in registry/data/ (or data-private/)."""
    from .. import cgroups

    inst = inst or current_instance()
    reg = status(inst)
    if reg is not None:
        os.kill(reg.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_ours(reg.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _is_ours(reg.pid):
            os.kill(reg.pid, signal.SIGKILL)
    _pid_file(inst).unlink(missing_ok=True)
    group = cgroups.group(f"{inst.tag}/registry")
    if group.exists():
        group.remove()
    return reg is not None


def fill(archive, inst: Instance | None = None, auth=None) -> list[str]:
    """Load the images of `archive` (`labkit save`, `docker save`, an OCI archive or layout) and
    push each to the lab's registry: a workshop's images from a USB stick, for every VM in the room
    to pull. busybox:latest goes in as localhost:5000/busybox:latest. Returns the names pushed."""
    from .archive import load
    from .push import push
    from .reference import parse
    from .store import ImageStore

    inst = inst or current_instance()
    reg = status(inst)
    if reg is None:
        raise LabkitError("error.images.lab-s-registry-running")
    store = ImageStore(inst)
    pushed = []
    for name in load(archive, store):
        ref = parse(name)
        repo = ref.repository.removeprefix("library/") if ref.registry == "docker.io" else ref.repository
        target = f"{reg.host}/{repo}:{ref.tag or 'latest'}"
        store.alias(name, target)
        push(target, store, auth=auth)
        pushed.append(target)
    return pushed


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.")
    except OSError:
        return False


def _bcrypt_line(user: str, password: str) -> str:
    """One htpasswd line with a bcrypt hash, the only kind the registry server takes."""
    tool = shutil.which("htpasswd")
    if tool is None:
        raise FeatureMissing("error.images.htpasswd-installed-hashes-users")
    out = subprocess.run([tool, "-niB", user], input=password, capture_output=True, text=True)
    if out.returncode != 0:
        raise LabkitError("error.images.htpasswd-failed", strip=out.stderr.strip())
    return out.stdout.strip() + "\n"
