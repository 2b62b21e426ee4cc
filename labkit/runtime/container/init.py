"""PID 1's side of starting a container: the steps the kernel needs, in the order it needs them.

labkitd (daemon/starts.py) has made a new PID namespace and forked; its child runs child() below, which
does what `unshare -fmuinp --mount-proc` + `chroot` do in bocker's one line, but with pivot_root
and the files of the OCI bundle:

  1. (labkitd) unshare(CLONE_NEWPID), fork: the child is PID 1 of the new PID namespace
  2. unshare(CLONE_NEWNS | NEWUTS | NEWIPC | NEWNET)
  3. open each cgroup.procs of the container's cgroups (joined in step 9)
  4. make "/" private, so none of our mounts leak back to the host
  5. mount the overlay (image layers + the container's upper dir) on BUNDLE/rootfs
  6. mount /proc, /dev (tmpfs + device nodes), /dev/pts, /dev/shm, /sys (read-only)
  7. pivot_root into rootfs, detach the old root
  8. mask /proc/kcore and friends, make /proc/sys and friends read-only
  9. set the hostname, bring `lo` up, join the cgroups, unshare the cgroup namespace and mount
     the container's own cgroups on /sys/fs/cgroup (cgroupfs.py), change to the working directory
 10. join a session keyring of its own, keep only the allowed capabilities, change user, set
     no_new_privs, load the seccomp filter (last: from then on the listed calls fail)
 11. exec the command; ERRFD closes on exec, which tells labkitd it started

If a step fails, the child writes one JSON line {"failed": "workdir", "path": "/srv", "errno":
"ENOTDIR", ...} to ERRFD and exits 125, 126 or 127 (report.py); labkitd turns it into a typed LabkitError. Every module used here is
imported before the fork: after pivot_root there is no host stdlib to import from.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import resource
import signal
import socket
import time

# Every module the child needs is imported here, before pivot_root hides the host's files.
from ...cgroups.base import join as join_groups, open_procs
from .cgroupfs import own_cgroups
from ...kernel import namespace_kinds, syscalls as sc
from ...kernel.capabilities import NUMBER as CAP_NUMBER
from ...security import seccomp
from ..logs import fifo_paths
from .console import make_terminal
from .report import StepFailed, failure, send_failure, step as _step
from .rootfs import setup_rootfs  # steps 4-8: the filesystem tree


class Tracer:
    """With the annotation org.labkit.trace = "1", each finished step is reported on ERRFD as
    {"step": "cgroup-join", "text": "cgroup-join", "values": {"n": 4, ...}, "t": <CLOCK_MONOTONIC seconds>}:
    the step's ID (flow.STEPS: code reads that), and what it did as a text of the catalog's "trace"
    entry with its values: labkitd and the client make the sentence, in the learner's language (PID 1
    imports nothing after pivot_root, the catalog least of all); the launcher turns the timestamps into
    durations (the clock is the same in every process here: no time namespace)."""

    def __init__(self, config: dict, errfd: int):
        self.on = config.get("annotations", {}).get("org.labkit.trace") == "1"
        self.fd = errfd

    def __call__(self, step: str, text: str | None = None, **values) -> None:
        if self.on:
            try:
                line = {"step": step, "text": text or step, "values": values, "t": time.monotonic()}
                os.write(self.fd, (json.dumps(line) + "\n").encode())
            except OSError:
                pass


def drop_capabilities(caps: dict) -> None:
    """Keep only the named capabilities (OCI process.capabilities), as the last privileged step.

    The bounding set limits what any later exec can gain; inheritable, permitted and effective are
    set with capset(2). A process running as root then execs with exactly the bounding set.
    """
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    keep = {CAP_NUMBER[n] for n in caps.get("bounding", []) if n in CAP_NUMBER}
    _step("capabilities", sc.prctl, sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(last + 1):
        if cap not in keep:
            _step("capabilities", sc.prctl, sc.PR_CAPBSET_DROP, cap, path=str(cap))

    def bits(kind: str) -> int:
        return sum(1 << CAP_NUMBER[n] for n in caps.get(kind, []) if n in CAP_NUMBER and CAP_NUMBER[n] <= last)

    _step("capabilities", sc.capset, bits("effective"), bits("permitted"), bits("inheritable"))


#: RLIMIT_NOFILE for what runs in a container: labkitd raises its own (keeper.py), containers get the usual one.
CONTAINER_NOFILE: tuple[int, int] | None = None


def keyring_name(cid: str) -> str:
    """The session keyring of a container (and of its execs): "labkit.3f9a0c1b2d4e", in /proc/keys."""
    return f"labkit.{cid[:12]}"


def leave_labkitd() -> None:
    """In a child labkitd forked (a container's PID 1, an exec): drop labkitd's signal handlers and
    wakeup fd, and its raised descriptor limit, which are not the container's."""
    gc.disable()  # a collection here would walk, and so copy, every page shared with labkitd
    signal.set_wakeup_fd(-1)
    if CONTAINER_NOFILE:
        resource.setrlimit(resource.RLIMIT_NOFILE, CONTAINER_NOFILE)
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def pid1(cfg: dict, bundle: str, fifo_dir, group, report_fd: int, born_in=None, netns_fd: int | None = None,
         stdio: int | None = None) -> None:
    """labkitd's forked child, before child(): leave labkitd's world behind, then become PID 1. Its
    sockets and every other container's fds are not the container's. born_in: the group of
    group.dirs it was born in (clone3), which it need not join. stdio: with -t the console socket
    (child() makes the terminal inside, console.py), with -i a pipe's read end (fd 0)."""
    leave_labkitd()
    terminal = bool(cfg.get("process", {}).get("terminal")) and stdio is not None
    # Read-write: the container is then a reader of its own FIFOs too, so a write never gets
    # SIGPIPE while no labkitd reads (logs.py). With -t they serve until the terminal is made.
    out, err = (os.open(p, os.O_RDWR) for p in fifo_paths(fifo_dir))
    os.dup2(stdio if stdio is not None and not terminal else os.open(os.devnull, os.O_RDWR), 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    keep = [report_fd] + ([netns_fd] if netns_fd is not None else []) + ([stdio] if terminal else [])
    kept = list(keep_only_fds(*keep))
    report_fd = kept.pop(0)
    netns_fd = kept.pop(0) if netns_fd is not None else None
    console_fd = kept.pop(0) if terminal else None
    child(cfg, bundle, report_fd, [str(d) for d in group.dirs if d != born_in], keyring=keyring_name(fifo_dir.name),
          netns_fd=netns_fd, console_fd=console_fd)


def keep_only_fds(*keep: int) -> tuple[int, ...]:
    """Close every descriptor but 0, 1, 2 and `keep`, which move to 3, 4, ... (close-on-exec) and
    are returned in order: what labkitd had open (its clients' sockets, every other container's
    FIFOs, two per container) goes in one close_range(2), however many there are."""
    moved = tuple(os.dup(fd) for fd in keep)  # above every number we are about to reuse
    for i, fd in enumerate(moved):
        os.dup2(fd, 3 + i, inheritable=False)
    os.closerange(3 + len(keep), resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    return tuple(range(3, 3 + len(keep)))


def child(config: dict, bundle: str, errfd: int, cgroup_dirs: list[str], keyring: str | None = None,
          netns_fd: int | None = None, console_fd: int | None = None) -> None:
    """PID 1 of the container: steps 2-11. Never returns. `keyring`: the name of its own session
    keyring, e.g. "labkit.3f9a0c1b2d4e" (an anonymous one if None). netns_fd: a network namespace
    to join instead of making an empty one (bridge networks, --network container:NAME)."""
    trace = Tracer(config, errfd)
    trace("fork")
    try:
        bpf = seccomp_program(config)  # now, while the host's modules can still be imported
        # No PR_SET_PDEATHSIG: the container must outlive labkitd (the keeper adopts it then).
        # The other namespaces are made here, not in labkitd, which must stay in the host's.
        # cgroup: unshared once its groups are joined (cgroupfs.py), so that they become its root
        flags = unshare_flags(config) & ~sc.CLONE_NEWPID & ~sc.CLONE_NEWCGROUP
        if netns_fd is not None:  # labkitd made it, with eth0 and its address (network/attach.py)
            _step("netns-join", sc.setns, netns_fd, sc.CLONE_NEWNET)
            os.close(netns_fd)
            flags &= ~sc.CLONE_NEWNET
        _step("unshare", sc.unshare, flags)
        kinds_made = [k.name for k in namespace_kinds.KINDS if k.flag & flags]
        trace("namespaces", "namespaces-netns" if netns_fd is not None else "namespaces", n=len(kinds_made),
              kinds=", ".join(kinds_made))
        # The cgroup files are opened now, while the host's /sys/fs/cgroup is still in view, and
        # written just before exec: the setup below must not be charged to the container's limits
        # (under a 32M limit, overlayfs's xattr probe on a tmpfs upper dir fails for lack of memory).
        procs = _step("cgroups-open", open_procs, cgroup_dirs)
        kinds = {ns["type"] for ns in config.get("linux", {}).get("namespaces", [])}
        if "mount" in kinds:
            setup_rootfs(config, bundle, trace)
        if console_fd is not None:  # -t: the terminal is made in the container's own /dev/pts
            size = config.get("process", {}).get("consoleSize") or {}  # OCI's {"height": 30, "width": 100}
            _step("terminal", make_terminal, console_fd, size.get("height", 24), size.get("width", 80))
        if "uts" in kinds and config.get("hostname"):
            _step("hostname", socket.sethostname, config["hostname"])
        if "network" in kinds:
            _step("lo", sc.link_up, "lo")
        trace("hostname")
        slowest, slowest_ms = "", 0.0
        for fd, d in zip(procs, cgroup_dirs):  # opened in step 3
            t = time.monotonic()
            _step("cgroup-join", join_groups, [fd], path=d)
            if (time.monotonic() - t) * 1000 > slowest_ms:
                slowest, slowest_ms = d, (time.monotonic() - t) * 1000
        trace("cgroup-join", n=len(cgroup_dirs), slowest=os.path.basename(os.path.dirname(os.path.dirname(slowest))),
              ms=f"{slowest_ms:.2f}")
        if "mount" in kinds and any(m.get("type") == "cgroup" for m in config.get("mounts", [])):
            own_cgroups("cgroup" in kinds)
            trace("cgroupns")
        exec_process(config, errfd, trace, keyring=keyring, seccomp_bpf=bpf)
    except StepFailed as f:
        send_failure(errfd, failure(f.code, f.err, f.path, config["process"]["args"]))
    except BaseException as e:  # never let a traceback out of PID 1
        send_failure(errfd, failure("start", e, None, config["process"]["args"]))
    os._exit(125)


def seccomp_program(config: dict) -> bytes | None:
    """The BPF filter for the config's linux.seccomp (None if it has none), compiled before entering
    the container: after pivot_root no module of the host can be imported."""
    profile = config.get("linux", {}).get("seccomp")
    if not profile:
        return None
    try:
        return seccomp.program(profile)
    except (seccomp.ProfileError, KeyError, TypeError, ValueError) as e:
        raise StepFailed("seccomp-compile", OSError(errno.EINVAL, str(e))) from None


def exec_process(config: dict, errfd: int, trace=lambda step, text=None, **values: None, keyring: str | None = None,
                 seccomp_bpf: bytes | None = None) -> None:
    """Steps 9 (working directory) to 11, from the config's "process": shared by a container's
    PID 1 and by `exec`. Never returns: execs, or reports the failed step on errfd and exits."""
    try:
        default_signals()
        proc = config["process"]
        cwd = proc.get("cwd", "/")
        _step("workdir", os.makedirs, cwd, 0o755, True, path=cwd)
        os.chdir(cwd)
        for rl in proc.get("rlimits", []):  # e.g. {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}
            _step("rlimit", resource.setrlimit, getattr(resource, rl["type"]), (rl["soft"], rl["hard"]), path=rl["type"])
        # Keys are not namespaced: without a session keyring of its own, the container would share
        # the one of whoever started labkitd (and any key a host process put there).
        _step("keyring", sc.join_session_keyring, keyring)
        if seccomp_bpf and not proc.get("noNewPrivileges"):
            # Without no_new_privs only CAP_SYS_ADMIN may load a filter: before the capabilities go.
            _step("seccomp-load", sc.seccomp_filter, seccomp_bpf)
        if "capabilities" in proc:
            drop_capabilities(proc["capabilities"])
        user = proc.get("user", {})
        if user.get("uid", 0) or user.get("gid", 0):
            _step("user", os.setgroups, [])
            _step("user", os.setgid, user.get("gid", 0))
            _step("user", os.setuid, user.get("uid", 0))
        if proc.get("noNewPrivileges"):
            _step("no-new-privs", sc.prctl, sc.PR_SET_NO_NEW_PRIVS, 1)
            if seccomp_bpf:  # last: from here on the calls it lists fail (execve is not one of them)
                _step("seccomp-load", sc.seccomp_filter, seccomp_bpf)
        trace("security")
        env = dict(e.split("=", 1) for e in proc.get("env", []) if "=" in e)
        args = proc["args"]
        os.set_inheritable(errfd, False)  # closes on exec: EOF tells labkitd the command started
        _step("exec", execvpe, args[0], args, env)
    except StepFailed as f:
        send_failure(errfd, failure(f.code, f.err, f.path, config["process"]["args"]))
    except BaseException as e:  # never let a traceback out of a container's process
        send_failure(errfd, failure("start", e, None, config["process"]["args"]))
    os._exit(125)


def default_signals() -> None:
    """Every signal's action back to the default, and none blocked, as a process started from a
    login shell has them. exec keeps what is ignored: Python ignores SIGPIPE and SIGXFSZ, and a
    labkitd started under nohup ignores SIGHUP, which a shell may then not trap (POSIX: a signal
    ignored on entry to a non-interactive shell cannot be trapped), so `trap 'exit 3' HUP` in a
    container did nothing and `labkit kill -s HUP` was lost (seen once, in a suite run under nohup).
    getsignal() is None for an action set outside Python: that goes back to the default too."""
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP) and signal.getsignal(sig) is not signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, ())


def execvpe(file: str, args: list[str], env: dict) -> None:
    """Find `file` on the container's PATH and execve it, as a shell would.

    os.execvpe would do, but it imports `warnings` on the way, and after pivot_root
    there is no host stdlib left to import from. Raises the most telling error:
    EACCES (found, not executable) beats ENOENT (found nowhere).
    """
    if "/" in file:
        os.execve(file, args, env)
    err: OSError | None = None
    for d in env.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":"):
        try:
            os.execve(os.path.join(d or ".", file), args, env)
        except (FileNotFoundError, NotADirectoryError) as e:
            err = err or e
        except OSError as e:
            err = e if err is None or isinstance(err, FileNotFoundError) else err
    raise err or FileNotFoundError(2, "not found", file)


def unshare_flags(config: dict) -> int:
    """CLONE_NEW* flags for the config's linux.namespaces, e.g. pid+mount+uts+ipc+network."""
    return namespace_kinds.oci_flags(config.get("linux", {}).get("namespaces", []))
