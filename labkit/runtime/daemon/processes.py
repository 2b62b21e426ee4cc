"""A process of a container as `labkit top` and `docker top` show it, read from /proc.

    /proc/4242/stat    "4242 (sh) S 4200 ..."  -> state S, parent 4200
    /proc/4242/status  "Uid: 0 0 0 0", "NSpid: 4242 1"  -> user 0, PID 1 inside
"""

from __future__ import annotations

from pathlib import Path

from .. import state


def process_row(pid: int) -> dict | None:
    """One line of `top`: PID, parent, user, state, command; None if it is gone."""
    st = state.proc_stat(pid)
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    if st is None:
        return None
    name, rest = st
    uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), "?")
    nspid = next((line.split()[-1] for line in status.splitlines() if line.startswith("NSpid:")), "?")
    return {"pid": pid, "ppid": int(rest[1]), "uid": int(uid), "state": rest[0].decode(), "pid_in_container": int(nspid),
            "command": cmd or name}
