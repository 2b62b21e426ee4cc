"""The doctor: what this host can do for the lab, each row checked by trying it.

A row that fails says what it breaks and how to fix it. Checks that change the
kernel run in a throw-away namespace (`unshare`), or leave nothing behind (the
overlay probe mounts and unmounts under the data root), so the doctor is safe
to run at any time, also without root (rows that need root then say so).
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path

from ..errors import FeatureMissing
from ..helper import interpreter
from ..paths import Instance, instance as current_instance
from .doctor_network import check_firewall, check_netns, check_port_guard, check_pyroute2, check_veth_bridge
from .doctor_rows import FAIL, OK, WARN, Check, Report, _need_root, _run

__all__ = ["FAIL", "OK", "WARN", "Check", "Report", "doctor", "check_firewall", "check_netns", "check_port_guard",
           "check_pyroute2", "check_veth_bridge"]

def check_root() -> Check:
    uid = os.geteuid()
    if uid == 0:
        return Check("root", OK, "running as root")
    return Check("root", FAIL, f"running as uid {uid}", "every cell that creates a namespace, cgroup, mount or link",
                 "start the lab as root: `sudo ./lab start` (a hosted notebook such as mybinder.org can only be read)")


def check_kernel() -> Check:
    rel = platform.release()
    try:
        major, minor = (int(x) for x in rel.split(".")[:2])
    except ValueError:
        return Check("kernel", WARN, rel, "", "")
    if (major, minor) < (5, 4):
        return Check("kernel", WARN, rel, "cgroup v2 features (cgroup.kill, memory.peak) and some namespace kinds",
                     "use a VM with Linux 5.15 or newer (Debian 12, Ubuntu 24.04)")
    return Check("kernel", OK, f"Linux {rel} ({platform.machine()})")


def check_cgroups() -> Check:
    from .. import cgroups

    lay = cgroups.layout()
    if lay.version == 0:
        return Check("cgroups", FAIL, "no cgroup hierarchy mounted", "memory, CPU and pids limits; live plots",
                     "mount cgroup2: `mount -t cgroup2 none /sys/fs/cgroup`")
    ctrls = lay.controllers()
    value = f"{lay.kind} (driver v{lay.version}); controllers: {' '.join(ctrls)}"
    missing = [c for c in ("memory", "pids", "cpu") if c not in ctrls]
    if missing:
        return Check("cgroups", WARN, value, f"limits on {', '.join(missing)}",
                     "enable the controllers (on v2: `echo +memory +pids +cpu > /sys/fs/cgroup/cgroup.subtree_control`)")
    return Check("cgroups", OK, value)


def check_overlay(inst: Instance) -> Check:
    name, breaks = "overlayfs", "every container (its root filesystem is an overlay of image layers)"
    try:
        listed = "overlay" in Path("/proc/filesystems").read_text()
    except OSError:
        listed = False
    if os.geteuid() != 0:
        return Check(name, OK if listed else WARN, "listed in /proc/filesystems" if listed else "not listed (may load on use)")
    from ..kernel import syscalls as sc

    base = _existing_parent(inst.root)
    try:
        inst.root.mkdir(parents=True, exist_ok=True)
        base = inst.root
    except OSError:
        pass
    try:
        with tempfile.TemporaryDirectory(dir=base, prefix=".doctor-") as tmp:
            for sub in ("lower", "upper", "work", "merged"):
                os.mkdir(os.path.join(tmp, sub))
            merged = os.path.join(tmp, "merged")
            sc.mount(inst.tag, merged, "overlay", 0,
                     f"lowerdir={tmp}/lower,upperdir={tmp}/upper,workdir={tmp}/work")
            sc.umount2(merged, sc.MNT_DETACH)
        return Check(name, OK, f"mounted and unmounted a test overlay under {base}")
    except OSError as e:
        return Check(name, FAIL, f"a test overlay under {base} failed: {e.strerror}", breaks,
                     "load the module (`modprobe overlay`); the data root must not itself be on overlayfs "
                     "(set LABKIT_ROOT to a directory on ext4, xfs or tmpfs)")


def _existing_parent(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_userns() -> Check:
    name = "user namespaces"
    try:
        maxns = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        maxns = -1
    if maxns == 0:
        return Check(name, FAIL, "max_user_namespaces is 0", "the user-namespace cells (uid 0 inside, unprivileged outside)",
                     "`sysctl -w user.max_user_namespaces=15000`")
    unshare = shutil.which("unshare")
    if unshare:
        r = _run([unshare, "--user", "--map-root-user", "id", "-u"])
        if r is None or r.returncode != 0 or r.stdout.strip() != "0":
            msg = (r.stderr.strip() if r else "unshare failed") or "refused"
            return Check(name, FAIL, msg, "the user-namespace cells",
                         "allow them: on Ubuntu 24.04 `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; "
                         "on Debian `sysctl -w kernel.unprivileged_userns_clone=1`")
    extra = []
    for knob in ("kernel/unprivileged_userns_clone", "kernel/apparmor_restrict_unprivileged_userns"):
        try:
            extra.append(f"{knob.split('/')[1]}={Path('/proc/sys/' + knob).read_text().strip()}")
        except OSError:
            pass
    return Check(name, OK, "allowed" + (f" ({', '.join(extra)})" if extra else ""))


def check_busybox(inst: Instance) -> Check:
    from ..images import default
    from ..images.store import ImageStore

    name = "default image"
    try:
        ImageStore(inst).get(default.NAME)
        built = "built"
    except Exception:
        built = "not built yet (made on first use)"
    bb = default.find_busybox()
    if bb:
        kind = "static" if default.is_static(bb) else "dynamic"
        return Check(name, OK, f"busybox: {built}; source {bb} ({kind})")
    if shutil.which("sh"):
        return Check(name, WARN, f"busybox: {built}; no busybox binary, would use the host's own programs",
                     "busybox applets in the default image (only a few host programs would be there)",
                     "`apt-get install busybox-static`")
    return Check(name, FAIL, "no busybox and no shell", "every container of the default image", "`apt-get install busybox-static`")


def check_disk(inst: Instance) -> Check:
    base = _existing_parent(inst.root)
    free = shutil.disk_usage(base).free
    value = f"{free / (1 << 30):.1f} GiB free under {base} (data root {inst.root})"
    if free < 512 << 20:
        return Check("disk", FAIL, value, "images and containers' writable layers", "free space, or set LABKIT_ROOT elsewhere")
    if free < 2 << 30:
        return Check("disk", WARN, value, "large images", "free space, or set LABKIT_ROOT elsewhere")
    return Check("disk", OK, value)


def check_seccomp() -> Check:
    """A seccomp filter loads in a throw-away child: the kernel must have seccomp filters, with errno returns."""
    name, breaks = "seccomp", "containers make every system call Docker's default profile refuses (keyctl, unshare, mount, bpf ...)"
    try:
        actions = Path("/proc/sys/kernel/seccomp/actions_avail").read_text().split()
    except OSError:
        return Check(name, FAIL, "no seccomp filters in this kernel (/proc/sys/kernel/seccomp missing)", breaks,
                     "use a kernel built with CONFIG_SECCOMP_FILTER (every distribution kernel is)")
    if "errno" not in actions or "kill_process" not in actions:
        return Check(name, FAIL, f"seccomp actions: {' '.join(actions)}", breaks, "use a kernel from 4.14 on")
    from ..security import seccomp

    try:
        program = seccomp.program(seccomp.default_profile())
    except seccomp.ProfileError as e:
        return Check(name, FAIL, str(e), breaks, "labkit's filter knows x86_64 and aarch64")
    # In a fresh interpreter: a notebook's kernel has threads, and a forked child of it may only exec.
    status = _run(interpreter("labkit.security.seccomp"), timeout=30)
    status = status.returncode if status else -1
    if status != 0:
        return Check(name, FAIL, f"the filter did not load or did not refuse keyctl (child status {status})", breaks,
                     "check `grep Seccomp /proc/self/status`; a container runtime around this VM may forbid filters")
    return Check(name, OK, f"filter of {len(program) // 8} instructions loads; keyctl refused with EPERM")


def check_device_rules() -> Check:
    """Device rules: the v1 devices controller, or on cgroup v2 an eBPF device program that loads."""
    name, breaks = "device rules", "a container can mknod and open the host's disks (b 8:0, the loop devices ...)"
    try:
        from ..cgroups import layout

        lay = layout()
    except Exception as e:  # noqa: BLE001 - the cgroups row says more
        return Check(name, FAIL, f"no cgroup layout: {e}", breaks, "see the cgroups row")
    if lay.version == 1:
        if lay.v1("devices") is None:
            return Check(name, FAIL, "no v1 devices controller is mounted", breaks,
                         "mount it (`mount -t cgroup -o devices devices /sys/fs/cgroup/devices`) or boot with cgroup v2")
        return Check(name, OK, "cgroup v1 devices controller (devices.allow / devices.deny)")
    if os.geteuid() != 0:
        return _need_root(name, breaks)
    from ..kernel import syscalls as sc
    from ..security import devices

    try:
        fd = sc.bpf_prog_load(sc.BPF_PROG_TYPE_CGROUP_DEVICE, devices.assemble(devices.program(devices.DOCKER_DEFAULT)),
                              name="labkit_doctor")
        os.close(fd)
    except OSError as e:
        return Check(name, FAIL, f"the eBPF device program does not load: {e.strerror}", breaks,
                     "use a kernel with CONFIG_CGROUP_BPF and CONFIG_BPF_SYSCALL (every distribution kernel has both)")
    return Check(name, OK, "cgroup v2: the eBPF device program loads (BPF_PROG_TYPE_CGROUP_DEVICE)")


def check_keyrings() -> Check:
    name = "keyrings"
    if not Path("/proc/keys").exists() and not Path("/proc/key-users").exists():
        return Check(name, WARN, "this kernel has no keyrings (CONFIG_KEYS)", "notebook 11's keyring cell",
                     "nothing to do: without keyrings there are no keys for containers to share")
    return Check(name, OK, "each container joins a session keyring of its own (labkit.<id> in /proc/keys)")


def check_log_disk(inst: Instance) -> Check:
    """Containers' logs and writable layers live under the data root: warn before that disk is full."""
    base = _existing_parent(inst.root)
    usage = shutil.disk_usage(base)
    used = 100 * (usage.total - usage.free) / usage.total if usage.total else 0
    value = f"{used:.0f}% of {usage.total / (1 << 30):.1f} GiB used under {base}"
    if used >= 95:
        return Check("disk use", FAIL, value, "containers' logs and writable layers: writes fail with ENOSPC",
                     "free space (`labkit rm` old containers; logs are capped at 3 x 10 MiB each) or move LABKIT_ROOT")
    if used >= 85:
        return Check("disk use", WARN, value, "the disk is nearly full: logs and writable layers will soon fail",
                     "free space (`labkit ps -a`, `labkit rm` old containers) or move LABKIT_ROOT")
    return Check("disk use", OK, value)


def check_vm() -> Check:
    """Notebook 01 boots a small VM beside a container: QEMU, a kernel image, and KVM or emulation."""
    from ..virtualization import machine

    name, breaks = "a VM beside a container", "notebook 01's measured comparison of a VM and a container"
    try:
        binary, kernel = machine.qemu(), machine.kernel_image()
    except FeatureMissing as e:
        return Check(name, WARN, e.message, breaks, e.hint)
    accel, _why = machine.accelerator()
    how = {"kvm": "KVM"}.get(accel, "software emulation (no KVM here: seconds per boot)")
    return Check(name, OK, f"{os.path.basename(binary)} boots {kernel} with {how}")


def check_packages() -> Check:
    """The lab's version, and its Python packages against the lock ./lab setup installs (host/packages.py)."""
    from .packages import compare, lab_version

    name, d = "python packages", compare()
    fix = "rebuild the venv from the lock: rm -rf .venv && sudo ./lab setup"
    if d.no_lock:
        return Check(name, WARN, f"labkit {lab_version()}; no {d.lock} for this Python", "nothing runs differently; "
                     "what is installed was not tested as a whole", "use Python 3.11 or 3.12, or `./lab lock`")
    if not d.matches:
        shown = [f"{n} {have} (lock {want})" for n, have, want in d.differ[:4]] + [f"{n} missing" for n in d.missing[:4]]
        return Check(name, WARN, f"labkit {lab_version()}; {len(d.differ) + len(d.missing)} of {d.locked} differ from "
                     f"{d.lock}: {', '.join(shown)}", "the lab may behave as it was never tested", fix)
    return Check(name, OK, f"labkit {lab_version()}; all {d.locked} as locked in {d.lock}")


def doctor(inst: Instance | None = None) -> Report:
    """Check this host; returns a Report (a table in a notebook, text in a terminal, JSON with .to_json())."""
    inst = inst or current_instance()
    checks = [check_root(), check_kernel(), check_cgroups(), check_overlay(inst), check_userns(), check_netns(),
              check_veth_bridge(), check_port_guard(), check_firewall(), check_seccomp(), check_device_rules(), check_keyrings(),
              check_busybox(inst), check_disk(inst), check_log_disk(inst), check_pyroute2(), check_vm(), check_packages()]
    return Report(tuple(checks))
