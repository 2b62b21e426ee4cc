"""A room's settings: one TOML file the instructor writes (every key optional), read and checked
whole before anything is made, so a typo stops `./lab room start` and changes nothing.

    learners = 8                   # this many, named learner01 ... learner08; or:
    roster = "roster.txt"          # one learner per line (a name; "# ..." is a comment)
    address = "127.0.0.1"          # where the hub listens; any other address needs a certificate
    port = 8000
    certificate = "/etc/ssl/room.crt"
    key = "/etc/ssl/room.key"
    lang = "zh"                    # the cards', the hub's and the lab's language

    [limits]                       # each learner's, enforced by LXD on the learner's container
    cpu = 1                        # CPUs (limits.cpu)
    memory = "2GiB"                # limits.memory
    processes = 500                # limits.processes
    disk = "5GiB"                  # the root disk's size (on a pool that can hold it to it)

    [stuck]                        # the instructor's view flags a learner as stuck when
    failures = 3                   # an exercise failed this many times in a row, or
    idle_minutes = 10              # no exercise passed for this long while the server is up
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..cgroups.units import parse_bytes, parse_count
from ..errors import InvalidArgument

#: a room of this many learners at most: one VM of 2 CPUs holds 8 (bench/room.py); 200 is a hall
MOST_LEARNERS = 200


@dataclass(frozen=True)
class Limits:
    cpu: int = 1
    memory: int = 2 << 30
    processes: int = 500
    disk: int = 5 << 30

    def lxd_config(self) -> dict[str, str]:
        """The learner container's LXD keys (its root disk's size is the device's, lxd_root_disk)."""
        return {"limits.cpu": str(self.cpu), "limits.memory": f"{self.memory}B", "limits.processes": str(self.processes)}

    def lxd_root_disk(self, pool: str) -> dict[str, str]:
        return {"type": "disk", "path": "/", "pool": pool, "size": f"{self.disk}B"}


@dataclass(frozen=True)
class Stuck:
    failures: int = 3
    idle_minutes: int = 10


@dataclass(frozen=True)
class RoomSettings:
    learners: int | None = None
    roster: Path | None = None
    address: str = "127.0.0.1"
    port: int = 8000
    certificate: Path | None = None
    key: Path | None = None
    lang: str = "en"
    limits: Limits = field(default_factory=Limits)
    stuck: Stuck = field(default_factory=Stuck)

    @property
    def https(self) -> bool:
        return self.certificate is not None

    @property
    def url(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{'https' if self.https else 'http'}://{host}:{self.port}/"


KEYS = {"learners", "roster", "address", "port", "certificate", "key", "lang", "limits", "stuck"}


def load(path: Path | str | None = None, **given) -> RoomSettings:
    """The settings of a file (None: the defaults), then what the command line gave (learners=,
    roster=, address=, port=, lang=) over them; every value checked."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except OSError as e:
            raise InvalidArgument("error.room.settings-unreadable", path=p, strerror=e.strerror) from None
        except tomllib.TOMLDecodeError as e:
            raise InvalidArgument("error.room.settings-not-toml", path=p, said=str(e)) from None
        base = p.parent
    else:
        base = Path.cwd()
    data.update({k: v for k, v in given.items() if v is not None})
    return parse(data, base)


def parse(data: dict, base: Path) -> RoomSettings:
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise InvalidArgument("error.room.settings-unknown", keys=", ".join(unknown), known=", ".join(sorted(KEYS)))
    learners = data.get("learners")
    if learners is not None:
        learners = parse_count(learners, "learners")
        if learners > MOST_LEARNERS:
            raise InvalidArgument("error.room.too-many-learners", n=learners, most=MOST_LEARNERS)
    roster = _path(data.get("roster"), base)
    if learners is not None and roster is not None:
        raise InvalidArgument("error.room.learners-and-roster")
    if roster is not None and not roster.is_file():
        raise InvalidArgument("error.room.no-such-file", path=roster)
    address = str(data.get("address", "127.0.0.1"))
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise InvalidArgument("error.room.bad-address", address=address) from None
    port = data.get("port", 8000)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidArgument("error.room.bad-port", port=port)
    certificate, key = _path(data.get("certificate"), base), _path(data.get("key"), base)
    if (certificate is None) != (key is None):
        raise InvalidArgument("error.room.certificate-and-key")
    for p in (certificate, key):
        if p is not None and not p.is_file():
            raise InvalidArgument("error.room.no-such-file", path=p)
    if not ip.is_loopback and certificate is None:
        # the learners' passwords would cross the room's network in the clear
        raise InvalidArgument("error.room.open-needs-https", address=address)
    lang = str(data.get("lang", "en"))
    if lang not in ("en", "zh"):
        raise InvalidArgument("error.language.unknown", lang=lang, known="en, zh")
    return RoomSettings(learners, roster, address, port, certificate, key, lang,
                        _limits(_table(data, "limits")), _stuck(_table(data, "stuck")))


def _table(data: dict, name: str) -> dict:
    t = data.get(name, {})
    if not isinstance(t, dict):
        raise InvalidArgument("error.room.settings-not-table", name=name)
    return t


def _path(value, base: Path) -> Path | None:
    if value is None or value == "":
        return None
    return (base / str(value)).resolve()


def _limits(t: dict) -> Limits:
    unknown = sorted(set(t) - {"cpu", "memory", "processes", "disk"})
    if unknown:
        raise InvalidArgument("error.room.settings-unknown", keys=", ".join(f"limits.{k}" for k in unknown),
                              known="limits.cpu, limits.disk, limits.memory, limits.processes")
    d = Limits()
    return Limits(parse_count(t.get("cpu", d.cpu), "limits.cpu"), parse_bytes(t.get("memory", d.memory), "limits.memory"),
                  parse_count(t.get("processes", d.processes), "limits.processes"), parse_bytes(t.get("disk", d.disk), "limits.disk"))


def _stuck(t: dict) -> Stuck:
    unknown = sorted(set(t) - {"failures", "idle_minutes"})
    if unknown:
        raise InvalidArgument("error.room.settings-unknown", keys=", ".join(f"stuck.{k}" for k in unknown),
                              known="stuck.failures, stuck.idle_minutes")
    d = Stuck()
    return Stuck(parse_count(t.get("failures", d.failures), "stuck.failures"),
                 parse_count(t.get("idle_minutes", d.idle_minutes), "stuck.idle_minutes"))
