"""An LXD of the tests' own: Debian's lxd, started without systemd in a directory of its own (so an LXD
the machine already runs, a room's, is never touched), a storage pool, a bridge, the learner image
made at set-up (`./lab test`: tests never fetch), and everything removed afterwards.

The bridge ("lxdt" and the token: never "lk...", which is labkit's and which a `labkit reset` elsewhere
would remove) has no address on the host: the learners' eth0 are on it, the host does not route for
them, so no traffic leaves the machine (nor reaches the host).

    with Lxd() as lxd:
        c = lxd.container("nest-1", nesting=True, cgroups=True, binds={REPO: REPO})
        lxd.exec(c, "python3", "-c", "print(1)")

Why each piece (../shared/notes/platform.md has the recipe): `lxd init --auto` cannot pick a subnet
here, so the pieces are made by hand; minbase has no init, so `lxc.init.cmd` runs a sleeper; without
an init that mounts them the container has no cgroup hierarchies, so `lxc.mount.auto = cgroup:rw:force`
mounts its own (the "cgroups" switch: off shows labkit's error for a container without them).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

#: the learner image's root filesystem, made by ./lab test's set-up from the host's own release, so
#: the lab's venv (the host's python3) runs in it, bound in read-only
IMAGE_CACHE = Path("/var/cache/labkit-test")


def image_tar() -> Path:
    """./lab test's learner-<codename>-<hash of its package list>.tar (its prepare_learner_image)."""
    code = next((line.split("=", 1)[1].strip().strip('"') for line in Path("/etc/os-release").read_text().splitlines()
                 if line.startswith("VERSION_CODENAME=")), "bookworm")
    made = sorted(IMAGE_CACHE.glob(f"learner-{code}-*.tar"), key=lambda p: p.stat().st_mtime)
    return made[-1] if made else IMAGE_CACHE / f"learner-{code}-(none).tar"


def missing() -> str:
    """Why LXD cannot run these tests here ("" if it can): said by the tests' skip."""
    lxd = shutil.which("lxd")
    if lxd is None or shutil.which("lxc") is None:
        return "lxd is not installed (./lab test installs Debian's lxd)"
    with open(lxd, "rb") as f:
        if f.read(4) != b"\x7fELF":  # Ubuntu's lxd-installer: a script that would fetch the snap
            return f"{lxd} is not LXD itself (Ubuntu ships it as a snap, which the tests do not install)"
    if not image_tar().exists():
        return f"no learner image at {image_tar()} (./lab test makes it with mmdebstrap at set-up)"
    return ""


class Unavailable(Exception):
    """The daemon itself did not start here (an AppArmor it cannot load, a kernel it cannot use)."""


class Lxd:
    def __init__(self):
        import secrets

        #: in every container's name: this LXD's own, told from another's (a room's, a second suite's)
        self.token = secrets.token_hex(4)
        self.dir = Path(tempfile.mkdtemp(prefix=f"lk-lxd-{self.token}-", dir="/var/tmp"))  # short: LXD's sockets live in it
        self.env = dict(os.environ, LXD_DIR=str(self.dir))
        self.proc: subprocess.Popen | None = None
        self.made: list[str] = []
        self.bridge = f"lxdt{self.token}"  # 12 characters: a link name has at most 15
        self.nics = 0

    def lxc(self, *args, check=True, timeout=120, **kw) -> subprocess.CompletedProcess:
        p = subprocess.run(["lxc", *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kw)
        if check and p.returncode != 0:
            raise RuntimeError(f"lxc {' '.join(args)}: {p.stderr.strip()[-500:]}")
        return p

    def __enter__(self) -> "Lxd":
        try:
            with open(self.dir / "lxd.out", "wb") as log:
                self.proc = subprocess.Popen(["lxd", "--group", "root", "--logfile", str(self.dir / "lxd.log")], env=self.env,
                                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            ready = subprocess.run(["lxd", "waitready", "--timeout", "60"], env=self.env, timeout=90, capture_output=True)
            if ready.returncode != 0:
                log = (self.dir / "lxd.log").read_text(errors="replace")[-300:] if (self.dir / "lxd.log").exists() else ""
                raise Unavailable(f"lxd waitready: {ready.stderr.decode(errors='replace').strip()} {log}")
            self.lxc("storage", "create", "pool", "dir")
            self.lxc("profile", "device", "add", "default", "root", "disk", "path=/", "pool=pool")
            self.lxc("network", "create", self.bridge, "ipv4.address=none", "ipv6.address=none")
            meta = self.dir / "meta"
            meta.mkdir()
            (meta / "metadata.yaml").write_text(f"architecture: x86_64\ncreation_date: {int(time.time())}\n"
                                                "properties:\n  description: labkit learner\n")
            subprocess.run(["tar", "czf", str(self.dir / "meta.tar.gz"), "-C", str(meta), "metadata.yaml"], check=True, timeout=30)
            self.lxc("image", "import", str(self.dir / "meta.tar.gz"), str(image_tar()), "--alias", "learner", timeout=300)
        except BaseException:
            self.__exit__()
            raise
        return self

    def container(self, name: str, nesting: bool = True, cgroups: bool = True, binds: dict | None = None) -> str:
        """Make and start one; its name is `name` and this LXD's token: "nest-learner-3f9a0c1b"."""
        name = f"{name}-{self.token}"
        raw = "lxc.init.cmd = /bin/sleep infinity" + ("\nlxc.mount.auto = cgroup:rw:force" if cgroups else "")
        self.lxc("init", "learner", name, "-c", f"security.nesting={str(nesting).lower()}", "-c", f"raw.lxc={raw}")
        self.made.append(name)
        # its end on the host named as this LXD's: "lxdt3f9a0c1b1" (LXD's own would be "veth" and a number)
        self.nics += 1
        self.lxc("config", "device", "add", name, "eth0", "nic", f"network={self.bridge}", f"host_name={self.bridge}{self.nics}")
        for i, (source, path) in enumerate((binds or {}).items()):
            self.lxc("config", "device", "add", name, f"bind{i}", "disk", f"source={source}", f"path={path}", "readonly=true")
        self.lxc("start", name)
        # no init brings lo up in a minbase container, and a notebook's kernel talks to it over 127.0.0.1
        self.exec(name, "ip", "link", "set", "lo", "up")
        return name

    def exec(self, name: str, *cmd, env: dict | None = None, timeout=300, input=None) -> subprocess.CompletedProcess:
        args = ["exec", name]
        for k, v in (env or {}).items():
            args += ["--env", f"{k}={v}"]
        return self.lxc(*args, "--", *cmd, check=False, timeout=timeout, input=input)

    def pid_of(self, name: str) -> int:
        return int(json.loads(self.lxc("query", f"/1.0/instances/{name}/state").stdout)["pid"])

    def remove(self, name: str) -> None:
        self.lxc("delete", "--force", name, check=False)
        if name in self.made:
            self.made.remove(name)

    def __exit__(self, *exc) -> None:
        try:
            for name in list(self.made):
                self.remove(name)
            self.lxc("image", "delete", "learner", check=False)
            self.lxc("profile", "device", "remove", "default", "root", check=False)
            self.lxc("network", "delete", self.bridge, check=False)
            self.lxc("storage", "delete", "pool", check=False)
            subprocess.run(["lxd", "shutdown", "--timeout", "30"], env=self.env, capture_output=True, timeout=60)
        finally:
            if self.proc is not None:
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # the group this test started, by its PID
                    self.proc.wait()
            # LXD's own mounts under its directory (shmounts, devlxd, the pool's) go before the folder
            for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
                point = line.split()[4]
                if point.startswith(str(self.dir)):
                    subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
            shutil.rmtree(self.dir, ignore_errors=True)

    def left(self) -> list[str]:
        """What of this LXD is still in the kernel: its processes, its mounts, its containers' cgroups."""
        out = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
               if line.split()[4].startswith(str(self.dir))]
        if self.proc is not None and self.proc.poll() is None:
            out.append(f"lxd {self.proc.pid}")
        out += [name for name in os.listdir("/sys/class/net") if name.startswith(self.bridge)]
        for root in Path("/sys/fs/cgroup").glob("*"):
            for d in [root, *root.glob("*")] if root.is_dir() else []:
                out += [str(p) for p in d.glob(f"lxc.payload.*-{self.token}")]
        return out
