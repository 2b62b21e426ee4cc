"""A container's record on disk: what `labkit ps` and `inspect` show, and what outlives every process.

    /var/lib/labkit/containers/<id>/
        config.json    the OCI runtime spec (spec.py), written at create
        state.json     the record below, replaced atomically (write a temp file, rename)
        log.json       the output, one JSON line per line printed, as docker's json-file driver:
                       {"log": "hello\\n", "stream": "stdout", "time": "2026-11-27T23:59:59.123456Z"}
        upper/ work/   the container's writable layer (overlay), rootfs/ the mount point
    /var/lib/labkit/names/<name>   a symlink to the id: symlink(2) fails if the name exists, so two
                                   creates can never take the same name

state.json, for a container that ran `sh -c 'exit 3'`:

    {"id": "3f9a...", "name": "brave_curie", "image": "docker.io/library/busybox:latest",
     "args": ["sh", "-c", "exit 3"], "status": "exited", "created": 1795823999.1,
     "started_at": 1795823999.2, "finished_at": 1795823999.3, "exit_code": 3, "oom_killed": false,
     "pid": 0, "pid_start": 0, "auto_remove": false, "cgroup": "labkit/3f9a...",
     "restart_count": 0}

Who writes it, so two writers never race: labkitd, for its own children (create, start, exit);
the keeper, only for a container whose labkitd died (its exit). "paused" is not stored: it is read
from the cgroup freezer, which is where it is true. pid and pid_start (field 22 of /proc/PID/stat)
together name PID 1 for good: a PID can be reused, the pair cannot.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

from ..errors import Conflict, ContainerNotFound, InvalidArgument
from ..paths import Instance

#: docker's rule for container names.
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$")

# Random names as docker gives them ("brave_curie"): an adjective and someone from the history of
# operating systems and containers. Our own list.
_ADJECTIVES = ("brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nimble",
               "proud", "quiet", "swift", "tidy", "vivid", "witty", "bold", "clever", "daring", "jolly")
_PEOPLE = ("curie", "hopper", "lovelace", "ritchie", "thompson", "torvalds", "kernighan", "liskov", "hamilton",
           "dijkstra", "knuth", "turing", "shannon", "allen", "backus", "wirth", "corbato", "lamport", "mccarthy",
           "tanenbaum")


def names_dir(inst: Instance) -> Path:
    return inst.root / "names"


def bundle_dir(inst: Instance, cid: str) -> Path:
    return inst.containers / cid


def new_id() -> str:
    import secrets

    return secrets.token_hex(32)


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidArgument("error.runtime.container-name-valid", name=name)


def claim_name(inst: Instance, name: str | None, cid: str) -> str:
    """Take `name` for container `cid` (or a free random one); Conflict if it is taken."""
    import secrets

    d = names_dir(inst)
    d.mkdir(parents=True, exist_ok=True)
    if name:
        check_name(name)
        try:
            os.symlink(cid, d / name)
        except FileExistsError:
            other = _link(d / name)
            if not bundle_dir(inst, other).is_dir():  # its container is gone (removed by hand, or a crash): stale
                _replace_stale(d / name, other)
                return claim_name(inst, name, cid)
            raise Conflict("error.runtime.container-name-already-used", name=name, other_12=other[:12]) from None
        return name
    for attempt in range(100):
        candidate = f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_PEOPLE)}"
        if attempt >= 3:  # 400 combinations, soon taken (a class of 30, 1,000 containers): add a number, as
            candidate += str(secrets.randbelow(10 ** (1 + attempt // 10)))  # docker does, longer as tries go by
        try:
            os.symlink(cid, d / candidate)
            return candidate
        except FileExistsError:
            continue
    candidate = cid[:12]
    os.symlink(cid, d / candidate)
    return candidate


def _replace_stale(link: Path, target: str) -> None:
    """Remove `link` if it still points to `target`: rename it aside first, so that of two processes
    finding the same stale name only one removes it, and a fresh link made meanwhile is never removed."""
    aside = link.with_name(f".{link.name}.{os.getpid()}.stale")
    try:
        os.rename(link, aside)
    except FileNotFoundError:
        return
    theirs = _link(aside)
    if theirs != target:  # another process had replaced it already: put theirs back
        try:
            os.symlink(theirs, link)  # fails if the name was taken again meanwhile; that one stands
        except OSError:
            pass
    try:
        aside.unlink()
    except FileNotFoundError:
        pass


def release_name(inst: Instance, name: str, cid: str) -> None:
    link = names_dir(inst) / name
    if _link(link) == cid:
        try:
            link.unlink()
        except FileNotFoundError:
            pass


def _link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


# Records this process could not write (a full disk, EIO), newest first in line to be written:
# "/var/lib/labkit/containers/3f9a.../state.json" -> the record. read() in this process answers from
# here, so labkitd goes on knowing a container's exit its disk could not take (exits.py keeps them and
# writes them when it can).
_UNWRITTEN: dict[str, dict] = {}


def read(inst: Instance, cid: str) -> dict | None:
    path = bundle_dir(inst, cid) / "state.json"
    kept = _UNWRITTEN.get(str(path))
    if kept is not None:
        return json.loads(json.dumps(kept))  # a copy: the caller may change it
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write(inst: Instance, record: dict) -> None:
    """Replace state.json in one step: a reader sees the old record or the new one, never half of one.
    The bytes are made first and written with one call; if the disk refuses them (ENOSPC, EIO, a short
    write), the temporary file goes, state.json stays as it was, and the OSError is raised."""
    d = bundle_dir(inst, record["id"])
    data = json.dumps(record, indent=1).encode()
    tmp = d / f".state.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                if n == 0:  # a write that takes nothing would take nothing forever: the disk is full
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))
                view = view[n:]
        finally:
            os.close(fd)  # close reports a deferred write error (NFS, some FUSE) as an OSError too
        os.rename(tmp, d / "state.json")
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _UNWRITTEN.pop(str(d / "state.json"), None)


def keep(inst: Instance, record: dict) -> None:
    """Hold `record` in this process because write() failed: read() gives it from now on, and
    write_kept() tries the disk again."""
    _UNWRITTEN[str(bundle_dir(inst, record["id"]) / "state.json")] = record


def write_kept(inst: Instance) -> list[tuple[str, OSError]]:
    """Write every kept record of `inst` (oldest first); returns (id, error) of those the disk still refuses.
    A kept record whose container folder is gone (removed meanwhile) is dropped."""
    failed = []
    prefix = str(inst.containers) + "/"
    for path, rec in list(_UNWRITTEN.items()):
        if not path.startswith(prefix):
            continue
        if not os.path.isdir(os.path.dirname(path)):
            _UNWRITTEN.pop(path, None)
            continue
        try:
            write(inst, rec)
        except OSError as e:
            failed.append((rec["id"], e))
    return failed


def kept(inst: Instance) -> list[str]:
    """The ids of the records this process holds unwritten."""
    prefix = str(inst.containers) + "/"
    return [os.path.basename(os.path.dirname(p)) for p in _UNWRITTEN if p.startswith(prefix)]


def read_all(inst: Instance, cache: dict) -> list[dict]:
    """Every container's record, as read() gives it, reading again only the state.json files that
    were replaced since the last call. cache: kept by the caller between calls, cid ->
    ((inode, mtime_ns, size), record); write() replaces the file, so its inode changes each time.
    With 1,000 containers that is 1,000 stat(2) calls instead of 1,000 reads and JSON parses."""
    out, seen = [], set()
    base = str(inst.containers)  # plain strings: a Path per container costs more than its stat()
    for cid in all_ids(inst):
        try:
            st = os.stat(f"{base}/{cid}/state.json")
        except OSError:
            continue
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        hit = cache.get(cid)
        rec = _UNWRITTEN.get(f"{base}/{cid}/state.json") or (hit[1] if hit and hit[0] == key else read(inst, cid))
        if rec is None:
            continue
        cache[cid] = (key, rec)
        seen.add(cid)
        out.append(rec)
    for cid in cache.keys() - seen:
        del cache[cid]
    return out


def all_ids(inst: Instance) -> list[str]:
    try:
        return [e for e in os.listdir(inst.containers) if len(e) == 64]
    except FileNotFoundError:
        return []


def resolve(inst: Instance, ref: str) -> str:
    """A container's id from its name, full id or a unique prefix of the id (as docker takes them)."""
    if not isinstance(ref, str) or not ref:
        raise InvalidArgument("error.runtime.container-reference-empty", ref=ref)
    if "\0" in ref:  # GET /containers/%00/json: no name or ID holds one, and a path cannot
        raise ContainerNotFound("error.runtime.no-such-container-3", ref=ref)
    if "/" not in ref and ref not in (".", ".."):
        cid = _link(names_dir(inst) / ref)
        if cid and bundle_dir(inst, cid).is_dir():
            return cid
    ids = [c for c in all_ids(inst) if c.startswith(ref.lower())]
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise InvalidArgument("error.runtime.matches-containers", ref=ref, n_ids=len(ids))
    raise ContainerNotFound("error.runtime.no-such-container-2", ref=ref)


def proc_stat(pid: int) -> tuple[str, list[bytes]] | None:
    """/proc/PID/stat as (name, fields from field 3 on): ("sleep", [b"S", b"4242", ...]); None if gone.
    The name (field 2) may hold spaces and parentheses: the fields after it follow the last ")"."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.index(b"(") + 1 : data.rindex(b")")].decode(errors="replace"), data[data.rindex(b")") + 2 :].split()


def process_start(pid: int) -> int:
    """A process's start time in clock ticks since boot (field 22 of /proc/PID/stat), 0 if it is gone.
    With the PID it names one process for good: a PID can be reused, the pair cannot."""
    st = proc_stat(pid)
    return int(st[1][19]) if st else 0
