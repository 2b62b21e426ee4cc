"""Docker's default isolation beyond namespaces, tried from inside a container on the real kernel:
device rules (a real block device made here), the seccomp filter, and each container's own keyring."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import labkit as lk
from labkit import cgroups
from labkit.security import devices, seccomp


MARK = b"labkit-host-disk-secret"


@pytest.fixture
def block_device(tmp_path):
    """A real block device of the host's: a loop device over a file that holds MARK. (major, minor)."""
    backing = tmp_path / "disk.img"
    backing.write_bytes(MARK + b"\0" * (1 << 20))
    if shutil.which("modprobe"):  # a fresh machine may have no kmod: then loop is built in or fails below
        subprocess.run(["modprobe", "loop"], capture_output=True)  # a no-op where loop is built in
    p = subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.fail(f"could not make a loop device for the test: {p.stderr.strip()}")
    dev = p.stdout.strip()
    try:
        st = os.stat(dev)
        with open(dev, "rb") as f:
            assert f.read(len(MARK)) == MARK  # the host itself reads it: the device works
        yield os.major(st.st_rdev), os.minor(st.st_rdev)
    finally:
        subprocess.run(["losetup", "--detach", dev], capture_output=True)


@pytest.mark.v2
def test_a_container_can_make_a_block_device_node_but_not_open_it(busybox, block_device):
    major, minor = block_device
    r = lk.run("busybox", ["sh", "-c", f"mknod /disk b {major} {minor} && echo made; head -c 23 /disk; echo; "
                                       "head -c 3 /dev/zero | wc -c; echo hi > /dev/null && echo null-ok"],
               rm=True, stream=False)
    assert "made" in r.stdout  # Docker's rules allow mknod of any device ("b *:* m")...
    assert MARK.decode() not in r.stdout  # ...but never opening it: the host's disk stays out of reach
    assert "Operation not permitted" in r.stderr, r.stderr
    assert "3\nnull-ok" in r.stdout  # the allowed character devices work


@pytest.mark.v2
def test_the_device_rules_are_the_kernels_own(busybox):
    c = lk.run("busybox", "sleep 30", detach=True)
    try:
        lay = cgroups.layout()
        if lay.version == 1:
            listed = (cgroups.group(c.attrs["cgroup"]).by_controller["devices"] / "devices.list").read_text().split("\n")
            assert "c 1:3 rwm" in listed and "c 136:* rwm" in listed and "b *:* m" in listed
            assert "a *:* rwm" not in listed  # the root group's "everything" is gone
        else:
            from labkit.kernel import syscalls as sc

            fd = os.open(cgroups.group(c.attrs["cgroup"]).dir, os.O_RDONLY | os.O_DIRECTORY)
            try:
                assert len(sc.bpf_prog_query(fd, sc.BPF_CGROUP_DEVICE)) == 1  # our program, attached
            finally:
                os.close(fd)
    finally:
        c.remove(force=True)


@pytest.mark.v2
def test_the_device_program_allows_and_denies_as_the_rules_say():
    """The eBPF program, read as the kernel would run it (a tiny interpreter of its five instructions)."""
    prog = devices.program(devices.DOCKER_DEFAULT)

    def run(dev_type: int, access: int, major: int, minor: int) -> int:
        regs = {1: 0}
        ctx = {0: (access << 16) | dev_type, 4: major, 8: minor}
        pc = 0
        while True:
            code, dst, src, off, imm, _ = prog[pc]
            pc += 1
            if code == devices.LDX_W:
                regs[dst] = ctx[off]
            elif code == devices.AND_K:
                regs[dst] &= imm
            elif code == devices.RSH_K:
                regs[dst] >>= imm
            elif code == devices.MOV_X:
                regs[dst] = regs[src]
            elif code == devices.MOV_K:
                regs[dst] = imm
            elif code == devices.JNE_K:
                pc += off if regs[dst] != imm else 0
            elif code == devices.EXIT:
                return regs[0]

    B, C, M, R, W = devices.DEV_BLOCK, devices.DEV_CHAR, devices.ACC_MKNOD, devices.ACC_READ, devices.ACC_WRITE
    assert run(C, R | W, 1, 3) == 1  # /dev/null
    assert run(C, R, 136, 7) == 1  # /dev/pts/7
    assert run(B, M, 7, 0) == 1  # mknod of a loop device
    assert run(B, R, 7, 0) == 0  # reading it
    assert run(B, M | R, 7, 0) == 0
    assert run(C, R, 1, 1) == 0  # /dev/mem
    assert run(C, W, 4, 0) == 0  # /dev/tty0


def test_seccomp_filter_is_on_and_refuses_a_new_user_namespace(busybox):
    r = lk.run("busybox", ["sh", "-c", "grep -E '^Seccomp(_filters)?:' /proc/self/status; unshare -U true; echo unshare=$?"],
               rm=True, stream=False)
    assert "Seccomp:\t2" in r.stdout  # mode 2: a filter
    # unshare(CLONE_NEWUSER) needs no capability: only the filter refuses it.
    assert "unshare=1" in r.stdout and "Operation not permitted" in r.stderr, (r.stdout, r.stderr)
    assert r.config["linux"]["seccomp"] == seccomp.default_profile()


def test_a_container_made_without_seccomp_could_unshare_the_filter_is_what_stops_it(busybox, inst):
    """The control for the test above: the same command with the profile taken out of config.json."""
    import json

    from labkit.runtime import state

    c = lk.create("busybox", ["sh", "-c", "unshare -U true; echo unshare=$?"])
    try:
        path = state.bundle_dir(inst, c.id) / "config.json"
        cfg = json.loads(path.read_text())
        del cfg["linux"]["seccomp"]
        path.write_text(json.dumps(cfg))
        c.start()
        assert c.wait(timeout=60) == 0
        assert "unshare=0" in c.logs()
    finally:
        c.remove(force=True)


def test_exec_runs_under_the_same_filter(busybox):
    c = lk.run("busybox", "sleep 30", detach=True)
    try:
        r = c.exec(["grep", "^Seccomp:", "/proc/self/status"])
        assert r.stdout.split() == ["Seccomp:", "2"]
    finally:
        c.remove(force=True)


def test_each_container_has_a_session_keyring_of_its_own(busybox):
    a = lk.run("busybox", "sleep 30", detach=True)
    b = lk.run("busybox", "sleep 30", detach=True)
    try:
        keys = Path("/proc/keys").read_text()
        for c in (a, b):  # the host sees each one's own keyring, named after it
            assert f"keyring   labkit.{c.id[:12]}: " in keys, keys
        r = a.exec(["cat", "/proc/keys"])
        assert r.stdout == ""  # and the container cannot list the host's keys (/proc/keys is masked)
    finally:
        a.remove(force=True)
        b.remove(force=True)


@pytest.mark.v2
def test_a_container_sees_its_own_cgroups_at_the_root_read_only(busybox):
    # Docker's default on v2: a private cgroup namespace, the container's group mounted read-only on
    # /sys/fs/cgroup, where a JVM or Go's runtime reads its limit. Without the namespace, /proc/self/cgroup
    # says "/labkit/<id>" and a cgroup mount would show the host's whole tree.
    c = lk.run("busybox", "sleep 30", detach=True, memory="48M", pids_limit=9)
    try:
        for r in (c.exec(["cat", "/proc/self/cgroup"]), lk.container(c.id).exec(["cat", "/proc/1/cgroup"])):
            paths = {line.split(":", 2)[2] for line in r.stdout.splitlines()}
            assert paths == {"/"}, r.stdout
        v2 = cgroups.layout().version == 2
        memory = "/sys/fs/cgroup/memory.max" if v2 else "/sys/fs/cgroup/memory/memory.limit_in_bytes"
        pids = "/sys/fs/cgroup/pids.max" if v2 else "/sys/fs/cgroup/pids/pids.max"
        assert c.exec(["cat", memory]).stdout.strip() == str(48 << 20)
        assert c.exec(["cat", pids]).stdout.strip() == "9"
        assert c.exec(["sh", "-c", f"echo 1 > {memory}"]).exit_code != 0  # read-only: no raising its own limit
        listing = c.exec(["sh", "-c", "ls /sys/fs/cgroup /sys/fs/cgroup/*"]).stdout
        assert "labkit" not in listing and "process_api" not in listing  # no other group in sight
        host_ns = os.readlink("/proc/self/ns/cgroup")
        assert os.readlink(f"/proc/{c.pid}/ns/cgroup") != host_ns
    finally:
        c.remove(force=True)


def test_seccomp_program_numbers_match_libseccomp():
    """Our table of system call numbers against libseccomp's (the library runc and crun use)."""
    import ctypes

    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp is not installed on this host")
    resolve = lib.seccomp_syscall_resolve_name_arch
    resolve.restype = ctypes.c_int
    for arch, column in (("x86_64", 0), ("aarch64", 1)):
        audit = seccomp.ARCH[arch][0]
        for name, numbers in seccomp.NUMBERS.items():
            got = resolve(ctypes.c_uint32(audit), name.encode())
            want = numbers[column]
            if want is None:  # a call this machine does not have: libseccomp knows no number for it either
                assert got < 0, (arch, name, got)
            else:
                assert got == want, (arch, name, got, want)


def _in_filtered_child(probe) -> dict:
    """Fork; the child sets no_new_privs, loads labkit's default filter, runs probe() and sends back what it returned."""
    import json

    from labkit.kernel import syscalls as sc

    program = seccomp.program(seccomp.default_profile())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
            sc.seccomp_filter(program)
            os.write(w, json.dumps(probe()).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def _probe():
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    nr = {name: numbers[0 if os.uname().machine == "x86_64" else 1] for name, numbers in seccomp.NUMBERS.items()}
    out = {}

    def call(name, *args):
        res = libc.syscall(ctypes.c_long(nr[name]), *args)
        return 0 if res >= 0 else ctypes.get_errno()

    out["keyctl"] = call("keyctl", ctypes.c_int(0), ctypes.c_int(-3), ctypes.c_int(0))
    out["unshare_user"] = call("unshare", ctypes.c_int(0x10000000))
    out["mount"] = call("mount", None, b"/", None, ctypes.c_ulong(0), None)
    out["clone_newuser"] = call("clone", ctypes.c_ulong(0x10000000 | 17), None, None, None, None)
    out["clone3"] = call("clone3", None, ctypes.c_size_t(0))
    out["getpid"] = os.getpid() > 0
    pid = os.fork()  # plain clone (fork) is allowed
    if pid == 0:
        os._exit(7)
    out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return out


def test_the_compiled_filter_refuses_what_it_lists_and_lets_the_rest_through():
    """The compiler's output loaded into the real kernel, in a child of the test."""
    import errno

    got = _in_filtered_child(_probe)
    assert got["keyctl"] == errno.EPERM
    assert got["unshare_user"] == errno.EPERM
    assert got["mount"] == errno.EPERM
    assert got["clone_newuser"] == errno.EPERM  # clone with a namespace flag...
    assert got["fork"] == 7  # ...but not a plain clone
    assert got["clone3"] == errno.ENOSYS  # so that libc falls back to clone, which the filter can read
    assert got["getpid"] is True


def test_the_disassembly_names_every_refused_call():
    text = seccomp.disassemble(seccomp.compile(seccomp.default_profile()))
    for name in ("keyctl", "unshare", "mount", "bpf", "open_by_handle_at", "clone"):
        assert f"; {name}" in text
    assert text.splitlines()[0].endswith("A = seccomp_data.arch")  # the ABI is checked before anything


def test_an_unsupported_profile_is_refused_before_a_container_starts(busybox, inst):
    import json

    from labkit.runtime import state

    c = lk.create("busybox", "true")
    try:
        path = state.bundle_dir(inst, c.id) / "config.json"
        cfg = json.loads(path.read_text())
        cfg["linux"]["seccomp"]["syscalls"].append({"names": ["read"], "action": "SCMP_ACT_TRACE"})
        path.write_text(json.dumps(cfg))
        with pytest.raises(lk.LabkitError, match="seccomp"):
            c.start()
    finally:
        c.remove(force=True)


@pytest.mark.parametrize("rules", [devices.DOCKER_DEFAULT, devices.DOCKER_DEFAULT[:1], devices.DOCKER_DEFAULT[3:]])
@pytest.mark.v2
def test_every_instruction_of_the_device_program_can_run(rules):
    """Older kernels' verifiers (6.1) refuse a program with an unreachable instruction; newer ones let it pass."""
    prog = devices.program(rules)
    seen, todo = set(), [0]
    while todo:
        pc = todo.pop()
        if pc in seen:
            continue
        seen.add(pc)
        code, _dst, _src, off, _imm, _ = prog[pc]
        if code == devices.EXIT:
            continue
        todo.append(pc + 1)
        if code == devices.JNE_K:
            todo.append(pc + 1 + off)
    assert seen == set(range(len(prog)))


def _run_filter(prog, nr: int, arch: int, args=(0,) * 6) -> int:
    """A classic-BPF interpreter for the instructions compile() emits, over one struct seccomp_data."""
    import struct

    data = struct.pack("<iIQ6Q", nr, arch, 0, *args)
    pc, a = 0, 0
    while True:
        code, jt, jf, k, _ = prog[pc]
        pc += 1
        if code == seccomp.LD_ABS:
            a = struct.unpack_from("<I", data, k)[0]
        elif code == seccomp.AND:
            a &= k
        elif code == seccomp.RET:
            return k
        else:
            hit = {seccomp.JEQ: a == k, seccomp.JGE: a >= k, seccomp.JSET: bool(a & k)}[code]
            pc += jt if hit else jf


def test_other_abis_are_killed_and_namespace_flags_refused_whatever_the_call_number():
    prog = seccomp.compile(seccomp.default_profile("x86_64"), "x86_64")
    x86_64, i386 = seccomp.ARCH["x86_64"][0], 0x40000003
    assert _run_filter(prog, 39, x86_64) == seccomp.RET_ALLOW  # getpid
    assert _run_filter(prog, 250, x86_64) == seccomp.RET_ERRNO | 1  # keyctl: EPERM
    assert _run_filter(prog, 20, i386) == seccomp.RET_KILL_PROCESS  # any 32-bit call (int 0x80): killed
    assert _run_filter(prog, 0x40000000 | 250, x86_64) == seccomp.RET_KILL_PROCESS  # x32's keyctl: killed
    assert _run_filter(prog, 56, x86_64, (17,) + (0,) * 5) == seccomp.RET_ALLOW  # clone(SIGCHLD): a fork
    for flag in seccomp.CLONE_NAMESPACE_FLAGS.values():
        assert _run_filter(prog, 56, x86_64, (flag | 17,) + (0,) * 5) == seccomp.RET_ERRNO | 1, hex(flag)
    assert _run_filter(prog, 56, x86_64, ((1 << 40) | 17,) + (0,) * 5) == seccomp.RET_ALLOW  # high bits: not flags
    assert _run_filter(prog, 435, x86_64) == seccomp.RET_ERRNO | 38  # clone3: ENOSYS
    arm = seccomp.compile(seccomp.default_profile("aarch64"), "aarch64")
    assert _run_filter(arm, 219, seccomp.ARCH["aarch64"][0]) == seccomp.RET_ERRNO | 1  # keyctl on arm64
    assert _run_filter(arm, 219, x86_64) == seccomp.RET_KILL_PROCESS
