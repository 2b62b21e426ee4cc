"""What a container *is*: plain data that becomes an OCI runtime-spec config.json.

A learner can print it (`result.config`), and runc could read most of it. The
runtime (container/init.py) acts on it; nothing here touches the kernel. Example of the
config.json this writes (abridged):

    {"ociVersion": "1.0.2",
     "process": {"args": ["echo", "hi"], "env": ["PATH=..."], "cwd": "/", "user": {"uid": 0, "gid": 0}},
     "root": {"path": "rootfs"},
     "hostname": "3f9a0c1b2d4e",
     "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": [...]}, ...],
     "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, ...],
               "resources": {"memory": {"limit": 67108864}, "devices": [{"allow": false, "access": "rwm"}, ...]},
               "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [...]},
               "cgroupsPath": "labkit/3f9a0c1b2d4e...",
               "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, ...}, ...]},
     "annotations": {"org.labkit.rootfs.lower": "/var/lib/labkit/layers/43b1...", ...}}
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..cgroups.resources import Resources
from ..kernel import namespace_kinds
from ..kernel.capabilities import DOCKER_DEFAULT
from ..security import devices as device_rules, seccomp
from .devices import REQUIRED as REQUIRED_DEVICES

OCI_VERSION = "1.0.2"

#: The namespaces of a first container, as `docker run` gives.
DEFAULT_NAMESPACES = ("pid", "mnt", "uts", "ipc", "net", "cgroup")  # cgroup: Docker's default on v2 (private)

#: The filesystems every container gets, in mount order (as runc spec's defaults).
DEFAULT_MOUNTS = (
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "ro"]},
)

#: Device nodes made in the container's /dev (the ones the OCI spec requires).
DEFAULT_DEVICES = REQUIRED_DEVICES

DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)

#: /proc and /sys files a container must not read: a bind of /dev/null (files) or an empty
#: read-only tmpfs (directories) is mounted over each, as Docker does. /proc/kcore is the host's memory.
DEFAULT_MASKED = ("/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                  "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                  "/sys/devices/virtual/powercap")
#: ... and the ones it may read but never write: /proc/sys holds the host kernel's settings.
DEFAULT_READONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


@dataclass(frozen=True)
class ContainerConfig:
    id: str
    image: str  # full image name
    args: tuple[str, ...]
    lowerdirs: tuple[str, ...]  # image layers, bottom first
    env: tuple[str, ...] = DEFAULT_ENV
    cwd: str = "/"
    hostname: str = ""
    uid: int = 0
    gid: int = 0
    namespaces: tuple[str, ...] = DEFAULT_NAMESPACES
    resources: Resources = field(default_factory=Resources)
    cgroup: str = ""  # path below each hierarchy's root, e.g. "labkit/3f9a..."
    capabilities: tuple[str, ...] = DOCKER_DEFAULT  # what the process keeps of root's power
    no_new_privileges: bool = True  # setuid binaries and file capabilities cannot raise it again
    devices: tuple = device_rules.DOCKER_DEFAULT  # which device nodes it may open (security/devices.py)
    seccomp: bool = True  # the system calls Docker's default profile refuses fail with EPERM (security/seccomp.py)
    instance: str = "labkit"  # the lab's tag; names the overlay mount's source
    terminal: bool = False  # -t: fds 0, 1, 2 are a pseudo-terminal's (daemon/stdin.py)
    console_size: tuple = (24, 80)  # -t: the terminal's rows and columns when the command starts

    def to_oci(self) -> dict:
        # overlay stacks lowerdirs top first: the last layer of the image is the first lowerdir.
        return {
            "ociVersion": OCI_VERSION,
            "process": {
                "terminal": self.terminal,
                **({"consoleSize": {"height": self.console_size[0], "width": self.console_size[1]}} if self.terminal else {}),
                "user": {"uid": self.uid, "gid": self.gid},
                "args": list(self.args),
                "env": list(self.env),
                "cwd": self.cwd,
                "capabilities": {k: list(self.capabilities)
                                 for k in ("bounding", "effective", "inheritable", "permitted")},
                "noNewPrivileges": self.no_new_privileges,
            },
            "root": {"path": "rootfs", "readonly": False},
            "hostname": self.hostname or self.id[:12],
            "mounts": [dict(m, options=list(m["options"])) for m in DEFAULT_MOUNTS],
            "linux": {
                "namespaces": [{"type": namespace_kinds.BY_NAME[k].oci} for k in self.namespaces],
                "resources": dict(self.resources.to_oci(), devices=[d.to_oci() for d in self.devices]),
                "cgroupsPath": self.cgroup,
                "devices": [{"path": p, "type": "c", "major": ma, "minor": mi, "fileMode": 0o666, "uid": 0, "gid": 0}
                            for p, ma, mi in DEFAULT_DEVICES],
                "maskedPaths": list(DEFAULT_MASKED),
                "readonlyPaths": list(DEFAULT_READONLY),
                **({"seccomp": seccomp.default_profile()} if self.seccomp else {}),
            },
            "annotations": {
                "org.opencontainers.image.ref.name": self.image,
                "org.labkit.rootfs.lower": ":".join(reversed(self.lowerdirs)),
                "org.labkit.rootfs.upper": "upper",
                "org.labkit.rootfs.work": "work",
                "org.labkit.instance": self.instance,
            },
        }
