"""The process side of lk.unshare() and lk.nsenter(): run in a fresh, single-threaded interpreter

    python -I -S -c "<import this>; main()" PLAN_JSON REPORT_FD

so the learner's own kernel process is never moved into a namespace. What it does, for unshare:

  helper H                          child C1                              (C2, when pid or time is new)
  fork C1 ---------------------->   unshare(CLONE_NEW...)  -> "unshared"
  write /proc/C1/uid_map, gid_map   (user: setresuid(0)/setresgid(0) inside)
  "go" ------------------------->   (time: write /proc/self/timens_offsets)
                                    (pid/time apply to children:) fork C2 ---> PID 1 of the new PID namespace
                                    <- "final pid = C2"                        (mnt: make / private, mount /proc)
                                                                               (uts: sethostname)
  read /proc/C2/ns/*, status   <-------------------------------------------    report: what it sees inside
  "exec" ------------------------------------------------------------------->  execve(command)

nsenter is shorter: H opens /proc/PID/ns/KIND for each kind, setns() into each (user first),
forks if the PID namespace was entered (setns on pid, like unshare, applies to children), and the
final process reports and execs. H writes one JSON object to REPORT_FD at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys

from ..kernel import namespace_kinds, syscalls as sc
from ..exit_codes import FAILED_TO_START, of_exec_error, of_wait_status

KINDS = namespace_kinds.NAMES


def ns_inodes(pid: int | str = "self") -> dict[str, str]:
    """{"uts": "uts:[4026531838]", ...}: the namespaces a process is in, as /proc/PID/ns/ links name them."""
    out = {}
    for kind in KINDS:
        try:
            out[kind] = os.readlink(f"/proc/{pid}/ns/{kind}")
        except OSError:
            pass
    return out


def _status_ids(pid: int) -> dict[str, str]:
    ids = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(("Uid:", "Gid:")):
                ids[line[:3].lower()] = line.split()[1]  # the real id, as this (outer) namespace sees it
    except OSError:
        pass
    return ids


def _send(fd: int, obj: dict) -> None:
    os.write(fd, (json.dumps(obj) + "\n").encode())


def _lines(fd: int):
    buf = b""
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield json.loads(line)


def _final(plan: dict, report_w: int, go_r: int, steps: list[str]) -> None:
    """The process that runs the command: set up what is seen inside, report, wait for "exec", exec."""
    kinds = set(plan["kinds"])
    if "mnt" in kinds:
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        steps.append('mount(NULL, "/", NULL, MS_REC|MS_PRIVATE): our mounts stay in this namespace')
        if plan.get("mount_proc") and "pid" in kinds:
            sc.mount("proc", "/proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
            steps.append('mount("proc", "/proc", "proc"): /proc now shows this PID namespace')
    if "uts" in kinds and plan.get("hostname"):
        socket.sethostname(plan["hostname"])
        steps.append(f'sethostname("{plan["hostname"]}")')
    if "net" in kinds:
        sc.link_up("lo")
        steps.append("ip link set lo up (SIOCSIFFLAGS)")
    _send(report_w, {"inside": {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid(),
                                "hostname": socket.gethostname(), "ns": ns_inodes()}, "steps": steps})
    if os.read(go_r, 1) != b"x":  # the helper has looked at us from outside; now exec
        os._exit(FAILED_TO_START)
    os.close(go_r)
    os.close(report_w)
    args = plan["command"]
    try:
        os.execvp(args[0], args)
    except OSError as e:
        sys.stderr.write(f"{args[0]}: {e.strerror}\n")
        os._exit(of_exec_error(e.errno))


def _unshare(plan: dict, report_w: int) -> dict:
    kinds = plan["kinds"]
    flags = namespace_kinds.flags(kinds)
    names = "|".join(namespace_kinds.BY_NAME[k].flag_name for k in kinds)
    up_r, up_w = os.pipe()  # C1 -> H: unshared; and the final pid
    go_r, go_w = os.pipe()  # H -> C1: maps written
    x_r, x_w = os.pipe()  # H -> final: exec now
    c1 = os.fork()
    if c1 == 0:
        os.close(up_r), os.close(go_w), os.close(x_w)
        steps: list[str] = []
        try:
            sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
            sc.unshare(flags)
            steps.append(f"unshare({names})")
            _send(up_w, {"unshared": True})
            os.read(go_r, 1)
            if "user" in kinds:
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
                steps.append("setresgid(0,0,0), setresuid(0,0,0): uid 0 inside the new user namespace")
            if "time" in kinds and plan.get("time_offset"):
                off = int(plan["time_offset"])
                with open("/proc/self/timens_offsets", "w") as f:
                    f.write(f"monotonic {off} 0\nboottime {off} 0\n")
                steps.append(f'write /proc/self/timens_offsets: "monotonic {off} 0", "boottime {off} 0"')
            if "pid" in kinds or "time" in kinds:
                c2 = os.fork()
                if c2 == 0:
                    steps.append("fork(): the child is " + ("PID 1 of the new PID namespace" if "pid" in kinds
                                                            else "the first process of the new time namespace"))
                    _final(plan, report_w, x_r, steps)
                _send(up_w, {"final": c2})
                os.close(x_r)
                os._exit(_wait(c2))
            _send(up_w, {"final": os.getpid()})
            _final(plan, report_w, x_r, steps)
        except BaseException as e:  # report, never a traceback from the child
            _send(report_w, {"error": f"{type(e).__name__}: {e}", "steps": steps})
            os._exit(FAILED_TO_START)
    os.close(up_w), os.close(go_r), os.close(x_r)
    host_steps = []
    messages = _lines(up_r)
    first = next(messages, {})
    if not first.get("unshared"):
        os.close(x_w)
        return {"exit_code": _wait(c1), "host_steps": host_steps}
    if "user" in kinds:
        uid_map, gid_map = plan.get("uid_map") or "0 100000 65536", plan.get("gid_map") or "0 100000 65536"
        for fname, text in (("uid_map", uid_map), ("gid_map", gid_map)):
            with open(f"/proc/{c1}/{fname}", "w") as f:
                f.write(text + "\n")
            host_steps.append(f'write /proc/{c1}/{fname}: "{text}" (inside-id outside-id count)')
    os.write(go_w, b"g")
    os.close(go_w)
    final = next(messages, {}).get("final")
    outside = {}
    if final:
        outside = {"pid": final, "ns": ns_inodes(final), **_status_ids(final)}
    try:
        os.write(x_w, b"x")
    except OSError:
        pass
    os.close(x_w)
    return {"exit_code": _wait(c1), "host_steps": host_steps, "outside": outside}


def _nsenter(plan: dict, report_w: int) -> dict:
    target = plan["target"]
    host_steps = []
    fds = {k: os.open(f"/proc/{target}/ns/{k}", os.O_RDONLY | os.O_CLOEXEC) for k in namespace_kinds.ENTER if k in plan["kinds"]}
    for k, fd in fds.items():
        sc.setns(fd, 0)
        host_steps.append(f"setns(open(/proc/{target}/ns/{k}))")
        os.close(fd)
    if "mnt" in fds:
        os.chdir("/")
    x_r, x_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(x_w)
        try:
            _final({**plan, "kinds": []}, report_w, x_r, ["fork(): the child lives in the namespaces entered"])
        except BaseException as e:
            _send(report_w, {"error": f"{type(e).__name__}: {e}"})
            os._exit(FAILED_TO_START)
    os.close(x_r)
    outside = {"pid": child, "ns": ns_inodes(child), **_status_ids(child)}
    os.write(x_w, b"x")
    os.close(x_w)
    return {"exit_code": _wait(child), "host_steps": host_steps, "outside": outside}


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return of_wait_status(status)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    plan, out_fd = json.loads(argv[0]), int(argv[1])
    child_r, child_w = os.pipe()  # the final process's own report comes through here
    try:
        result = _nsenter(plan, child_w) if plan.get("target") else _unshare(plan, child_w)
    except OSError as e:
        result = {"error": f"{e.strerror or e}", "errno": e.errno, "exit_code": FAILED_TO_START}
    os.close(child_w)
    inside_reports = list(_lines(child_r))
    for rep in inside_reports:
        result.update({k: v for k, v in rep.items() if k != "steps"})
        result.setdefault("steps", []).extend(rep.get("steps", []))
    os.write(out_fd, json.dumps(result).encode())
    os.close(out_fd)
    os._exit(0)
