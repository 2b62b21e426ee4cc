"""`lk.run(image, command)`: create a container, start it, wait for it, clean up.

The steps, as the seed's `docker run` flow lists them:
  1. check the input and find the image locally (the default busybox is built if missing)
  2. create the writable layer: a bundle dir with config.json, upper/, work/, rootfs/
  3. create the cgroup and write its limits
  4. start the shim (init.py) in a fresh interpreter; it makes the namespaces,
     mounts the overlay, pivots into it and execs the command
  5. stream the output, wait for the exit code, remove the cgroup (and the bundle with rm=True)

Why a fresh interpreter: a Jupyter kernel has threads, and a forked child of a
threaded process may only exec (another thread may have held a lock at fork).
subprocess forks-and-execs safely, and the exec'd shim is single-threaded, so
it can fork PID 1 and do the rest in Python.
"""

from __future__ import annotations

import json
import os
import secrets
import selectors
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import cgroups
from ..cgroups.resources import Resources
from ..cgroups.units import check_memory_fits, parse_bytes, parse_count
from ..errors import (CommandNotExecutable, CommandNotFound, ContainerError, FeatureMissing, InvalidArgument,
                      LabkitError, require_root, translate_oserror)
from ..helper import interpreter
from ..images.reference import familiar, normalize
from ..images.store import ImageStore
from ..paths import Instance, instance as current_instance
from .spec import ContainerConfig



@dataclass(frozen=True)
class RunResult:
    """What `lk.run` returns: the container's exit code and what it printed."""

    id: str
    image: str
    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    config: dict = field(repr=False)
    trace: tuple[tuple[str, float], ...] = field(default=(), repr=False)  # (step, milliseconds), with trace=True

    def trace_table(self) -> str:
        """The `docker run` flow as it happened: each step and how long it took."""
        total = sum(ms for _, ms in self.trace) or 1.0
        width = max((len(step) for step, _ in self.trace), default=10)
        lines = [f"{step:<{width}}  {ms:8.2f} ms  {'#' * max(1, round(30 * ms / total))}" for step, ms in self.trace]
        return "\n".join(lines + [f"{'total':<{width}}  {total:8.2f} ms"])

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __repr__(self) -> str:
        return (f"<RunResult {self.id[:12]} {familiar(self.image)} {shlex.join(self.args)!r}: "
                f"exit {self.exit_code} in {self.seconds * 1000:.1f} ms>")

    def _repr_html_(self) -> str:
        import html

        color = "#2a2" if self.ok else "#c33"
        head = (f"<div style='font-family:monospace'>container <b>{self.id[:12]}</b> "
                f"({html.escape(familiar(self.image))}) ran <code>{html.escape(shlex.join(self.args))}</code>: "
                f"<span style='color:{color}'>exit {self.exit_code}</span> in {self.seconds * 1000:.1f} ms</div>")
        if not self.trace:
            return head
        total = sum(ms for _, ms in self.trace) or 1.0
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(step)}</td><td style='text-align:right'>{ms:.2f} ms</td>"
            f"<td style='text-align:left'><div style='background:#4a90d9;height:10px;width:{max(1, round(300 * ms / total))}px'>"
            f"</div></td></tr>" for step, ms in self.trace)
        return head + f"<table>{rows}</table>"


def _command(image_cmd: list[str], command) -> tuple[str, ...]:
    if command is None or command == "" or command == []:
        if not image_cmd:
            raise InvalidArgument("no command given and the image has none", hint='give one: lk.run("busybox", "echo hi").')
        return tuple(image_cmd)
    if isinstance(command, str):
        try:
            args = shlex.split(command)
        except ValueError as e:
            raise InvalidArgument(f"cannot split command {command!r}: {e}", hint="check the quotes.") from None
    else:
        args = [str(a) for a in command]
    if not args:
        raise InvalidArgument("empty command", hint='give one: lk.run("busybox", "echo hi").')
    return tuple(args)


def run(image: str, command=None, *, rm: bool = False, memory=None, pids_limit=None, hostname: str | None = None,
        env: dict | list | None = None, workdir: str | None = None, user: str | None = None,
        stream: bool = True, inherit_stdio: bool = False, trace: bool = False,
        inst: Instance | None = None) -> RunResult:
    """Run `command` in a new container of `image` and wait for it.

        lk.run("busybox", "echo hello from a container")
        lk.run("busybox", ["sh", "-c", "cat /proc/self/cgroup"], memory="64M", pids_limit=20)

    memory: "64M", "1.5G" or bytes; pids_limit: most processes at once. Output is printed as it
    comes (stream=False to only return it). rm=True removes the container when it exits.
    trace=True times each step of the flow (result.trace, result.trace_table()).
    """
    # 1. Everything is checked before anything is created.
    t0 = time.monotonic()
    marks: list[tuple[str, float]] = []
    require_root("running a container")
    inst = inst or current_instance()
    resources = Resources(
        memory=parse_bytes(memory) if memory is not None else None,
        pids=parse_count(pids_limit) if pids_limit is not None else None,
    )
    if resources.memory is not None:
        check_memory_fits(resources.memory)
    uid, gid = _parse_user(user)
    name = normalize(image)
    store = ImageStore(inst)
    img = _get_or_build(store, name)
    cfg = img.config.get("config", {})
    args = _command(cfg.get("Cmd") or [], command)
    env_list = list(cfg.get("Env") or []) + _env_list(env)
    if workdir is not None and not workdir.startswith("/"):
        raise InvalidArgument(f"working directory {workdir!r} is not absolute", hint='give a path such as "/tmp".')
    if hostname is not None and not (0 < len(hostname) <= 64):
        raise InvalidArgument(f"hostname {hostname!r} must be 1 to 64 characters")
    marks.append((f"check the input, find the image {familiar(name)} locally", time.monotonic()))

    started = time.monotonic()
    cid = secrets.token_hex(32)
    bundle = inst.containers / cid
    group = cgroups.group(f"{inst.tag}/{cid}")
    try:
        # 2. The writable layer and the bundle.
        lowerdirs = [str(p) for p in store.unpack(img)]
        for sub in ("upper", "work", "rootfs"):
            (bundle / sub).mkdir(parents=True, exist_ok=True)
        config = ContainerConfig(
            id=cid, image=name, args=args, lowerdirs=tuple(lowerdirs), env=tuple(env_list),
            cwd=workdir or cfg.get("WorkingDir") or "/", hostname=hostname or "", uid=uid, gid=gid,
            resources=resources, cgroup=group.name, instance=inst.tag,
        ).to_oci()
        if trace:
            config["annotations"]["org.labkit.trace"] = "1"
        (bundle / "config.json").write_text(json.dumps(config, indent=2))
        marks.append(("create the writable layer and config.json", time.monotonic()))
    except BaseException:
        _cleanup(group, bundle, remove_bundle=True)
        raise
    try:
        code, stdout, stderr, failure = _start_and_wait(bundle, group, resources, stream, inherit_stdio, marks)
    except BaseException as e:
        # A start that failed leaves nothing; an interrupted container is kept unless rm, as docker does.
        _cleanup(group, bundle, remove_bundle=rm or not isinstance(e, KeyboardInterrupt))
        raise
    seconds = time.monotonic() - started
    _cleanup(group, bundle, remove_bundle=rm or bool(failure))
    if failure:
        raise _failure_error(failure)
    if not rm:
        _write_state(bundle, cid, name, args, code, seconds)
    marks.append(("clean up: remove the cgroup" + (" and the writable layer" if rm else ""), time.monotonic()))
    steps = tuple((step, (t - prev) * 1000) for (step, t), prev in zip(marks, [t0] + [t for _, t in marks]))
    return RunResult(cid, name, args, code, stdout, stderr, seconds, config, steps if trace else ())


def _start_and_wait(bundle: Path, group, resources: Resources, stream: bool, inherit_stdio: bool, marks: list):
    """Steps 3-5 for a bundle on disk: the cgroup, the shim, the output, the exit code.
    Returns (exit code, stdout, stderr, the shim's error report or None). Kills the group on any interruption."""
    group.create()
    group.apply(resources)
    marks.append((f"create the cgroup ({len(group.dirs)} dirs) and write its limits", time.monotonic()))
    proc, errr = _start_shim(bundle, group, inherit_stdio)
    try:
        reports = _read_reports(errr)  # returns at EOF: the command was exec'd, or setup failed
        failure = next((r for r in reports if r.get("error")), None)
        marks.extend((r["trace"], r["t"]) for r in reports if "trace" in r)
        marks.append(("exec the command", time.monotonic()))
        stdout, stderr = _pump(proc, stream) if not inherit_stdio else ("", "")
        code = proc.wait()
        marks.append(("the command runs and exits; the shim reports its exit code", time.monotonic()))
    except BaseException:  # KeyboardInterrupt in a notebook: stop the container, keep nothing running
        group.kill()
        proc.wait()
        raise
    return code, stdout, stderr, failure


def run_bundle(bundle, *, stream: bool = True, inherit_stdio: bool = False, inst: Instance | None = None) -> RunResult:
    """Run an OCI bundle from disk, e.g. one made by `runc spec` (config.json + its root.path), like `runc run`.

    The bundle is used as it is and never changed. Its cgroupsPath is ignored: the container always
    gets a labkit cgroup of its own (an empty path would put it in the caller's cgroup). Not yet
    supported: namespaces given by "path", a user namespace, a terminal (the command runs with pipes).
    """
    require_root("running a container")
    inst = inst or current_instance()
    bundle = Path(bundle).absolute()
    try:
        config = json.loads((bundle / "config.json").read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"no config.json in {bundle}", hint="make one with `runc spec --bundle DIR`.") from None
    except ValueError as e:
        raise InvalidArgument(f"{bundle / 'config.json'} is not valid JSON: {e}") from None
    root = bundle / config.get("root", {}).get("path", "rootfs")
    if not root.is_dir():
        raise InvalidArgument(f"the bundle's root filesystem {root} is not a directory",
                              hint="unpack an image into it, e.g. the busybox layer under /var/lib/labkit/layers/.")
    spaces = config.get("linux", {}).get("namespaces", [])
    if any("path" in ns for ns in spaces) or any(ns.get("type") == "user" for ns in spaces):
        raise FeatureMissing("this bundle joins existing namespaces or asks for a user namespace: not supported yet",
                             hint="remove those entries from linux.namespaces.")
    args = tuple(config.get("process", {}).get("args") or ())
    if not args:
        raise InvalidArgument("the bundle's process.args is empty")
    resources = Resources.from_oci(config.get("linux", {}).get("resources"))
    cid = secrets.token_hex(32)
    group = cgroups.group(f"{inst.tag}/{cid}")
    started = time.monotonic()
    try:
        code, stdout, stderr, failure = _start_and_wait(bundle, group, resources, stream, inherit_stdio, [])
    finally:
        if group.exists():
            group.remove()
    if failure:
        raise _failure_error(failure)
    return RunResult(cid, str(bundle), args, code, stdout, stderr, time.monotonic() - started, config)


def _get_or_build(store: ImageStore, name: str):
    from ..errors import ImageNotFound
    from ..images import default

    try:
        return store.get(name)
    except ImageNotFound:
        if name != normalize(default.NAME):
            raise
        return default.build(store)  # the offline default image is made on first use if set-up did not


def _parse_user(user: str | None) -> tuple[int, int]:
    if user is None or user == "":
        return 0, 0
    u, _, g = str(user).partition(":")
    if not u.isdigit() or (g and not g.isdigit()):
        raise InvalidArgument(f"user {user!r} must be numeric, as UID or UID:GID", hint='e.g. user="65534:65534".')
    return int(u), int(g or u)


def _env_list(env) -> list[str]:
    if env is None:
        return []
    if isinstance(env, dict):
        return [f"{k}={v}" for k, v in env.items()]
    out = [str(e) for e in env]
    for e in out:
        if "=" not in e:
            raise InvalidArgument(f"environment entry {e!r} is not NAME=value", hint='e.g. env={"GREETING": "hi"}.')
    return out


def _single_threaded() -> bool:
    """True if this process has one thread (a CLI, a script), counted by the kernel, not by `threading`:
    a Jupyter kernel's ZeroMQ threads are invisible to `threading`."""
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _start_shim(bundle: Path, group, inherit_stdio: bool):
    """Start the shim (init.main) for `bundle`: forked directly when this process is single-threaded
    (no second interpreter to start: ~40 ms less), else as a fresh interpreter, because a forked
    child of a threaded process may only exec."""
    errr, errw = os.pipe()
    try:
        if _single_threaded():
            return _ForkedShim(bundle, group, inherit_stdio, errr, errw), errr
        pipe = None if inherit_stdio else subprocess.PIPE
        try:
            proc = subprocess.Popen(
                [*interpreter("labkit.runtime.init"), str(bundle), str(errw), *map(str, group.dirs)],
                stdin=None if inherit_stdio else subprocess.DEVNULL, stdout=pipe, stderr=pipe, pass_fds=(errw,),
            )
        except OSError as e:
            os.close(errr)
            raise translate_oserror(e, f"start {sys.executable}") from None
        return proc, errr
    finally:
        os.close(errw)


class _ForkedShim:
    """The shim as a forked child of this (single-threaded) process, with the part of Popen's
    interface run() uses: pid, stdout, stderr, wait()."""

    def __init__(self, bundle: Path, group, inherit_stdio: bool, errr: int, errw: int):
        from . import init  # imported before the fork: the child must not import after pivot_root

        pipes = None if inherit_stdio else (os.pipe(), os.pipe())
        self.returncode = None
        self.pid = os.fork()
        if self.pid == 0:  # the child: becomes the shim, never returns
            try:
                os.close(errr)
                if pipes:
                    (out_r, out_w), (err_r, err_w) = pipes
                    null = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(null, 0)
                    os.dup2(out_w, 1)
                    os.dup2(err_w, 2)
                    for fd in (null, out_r, out_w, err_r, err_w):
                        os.close(fd)
                init.main([str(bundle), str(errw), *map(str, group.dirs)])
            finally:
                os._exit(125)
        self.stdout = self.stderr = None
        if pipes:
            (out_r, out_w), (err_r, err_w) = pipes
            os.close(out_w)
            os.close(err_w)
            self.stdout, self.stderr = os.fdopen(out_r, "rb", buffering=0), os.fdopen(err_r, "rb", buffering=0)

    def wait(self) -> int:
        if self.returncode is None:
            while True:
                try:
                    _, status = os.waitpid(self.pid, 0)
                    break
                except InterruptedError:
                    continue
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def _read_reports(fd: int) -> list[dict]:
    """The shim's JSON lines until EOF: {"trace": step, "t": ...} as it goes, {"error": true, ...} on failure."""
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    out = []
    for line in b"".join(chunks).splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"error": True, "step": "start", "errno": 0, "message": line.decode(errors="replace")[:200]})
    return out


def _pump(proc, stream: bool) -> tuple[str, str]:
    """Copy the container's stdout and stderr to ours as they come, and keep a copy of each."""
    sel = selectors.DefaultSelector()
    got = {proc.stdout: [], proc.stderr: []}
    outs = {proc.stdout: sys.stdout, proc.stderr: sys.stderr}
    for f in got:
        sel.register(f, selectors.EVENT_READ)
    while sel.get_map():
        for key, _ in sel.select():
            data = os.read(key.fd, 65536)
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                continue
            got[key.fileobj].append(data)
            if stream:
                outs[key.fileobj].write(data.decode(errors="replace"))
                outs[key.fileobj].flush()
    sel.close()
    return tuple(b"".join(got[f]).decode(errors="replace") for f in (proc.stdout, proc.stderr))  # type: ignore


def _failure_error(info: dict) -> LabkitError:
    step, errno_, msg, args = info.get("step"), info.get("errno"), info.get("message"), info.get("args", ["?"])
    if step == "exec":
        if errno_ == 2:
            return CommandNotFound(f"{args[0]!r}: executable file not found in the container's $PATH")
        return CommandNotExecutable(f"{args[0]!r} cannot be executed: {msg}")
    return translate_oserror(OSError(errno_ or 0, msg), step) if errno_ else ContainerError(f"{step}: {msg}")


def _cleanup(group, bundle: Path, remove_bundle: bool) -> None:
    try:
        if group.exists():
            group.remove()
    finally:
        if remove_bundle:
            shutil.rmtree(bundle, ignore_errors=True)


def _write_state(bundle: Path, cid: str, image: str, args, code: int, seconds: float) -> None:
    state = {"id": cid, "image": image, "args": list(args), "status": "exited", "exit_code": code,
             "finished_at": time.time(), "seconds": seconds}
    (bundle / "state.json").write_text(json.dumps(state, indent=2))
