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
from .doctor_rows import FAIL, OK, WARN, Check, Report, _need_root, _run, row, say

__all__ = ["FAIL", "OK", "WARN", "Check", "Report", "doctor", "check_firewall", "check_netns", "check_port_guard",
           "check_pyroute2", "check_veth_bridge"]

def check_root() -> Check:
    uid = os.geteuid()
    if uid == 0:
        return row("root", OK, say("root_ok"))
    return row("root", FAIL, say("root_uid", uid=uid), say("root_breaks"), say("root_fix"))


def check_kernel() -> Check:
    rel = platform.release()
    try:
        major, minor = (int(x) for x in rel.split(".")[:2])
    except ValueError:
        return row("kernel", WARN, rel)
    if (major, minor) < (5, 4):
        return row("kernel", WARN, rel, say("kernel_breaks"), say("kernel_fix"))
    return row("kernel", OK, say("kernel_ok", release=rel, machine=platform.machine()))


def check_cgroups() -> Check:
    from .. import cgroups

    lay = cgroups.layout()
    if lay.version == 0:
        return row("cgroups", FAIL, say("cgroups_none"), say("cgroups_breaks"), say("cgroups_mount"))
    ctrls = lay.controllers()
    value = say("cgroups_ok", kind=lay.kind, version=lay.version, controllers=" ".join(ctrls))
    missing = [c for c in ("memory", "pids", "cpu") if c not in ctrls]
    if missing:
        return row("cgroups", WARN, value, say("cgroups_missing", missing=", ".join(missing)), say("cgroups_enable"))
    busy = _v2_root_busy(lay)
    if busy:
        from ..catalog import text

        path, pids = busy
        return row("cgroups", FAIL, say("cgroups_busy", path=path, pids=pids), say("cgroups_breaks"),
                   text("error.cgroups.v2-group-holds-processes", "hint", path=path, pids=pids))
    return row("cgroups", OK, value)


def _v2_root_busy(lay) -> tuple[Path, str] | None:
    """(the v2 mount, its PIDs) when labkit's groups cannot get controllers from it: it is a cgroup
    namespace's root, not the true root (that one has no cgroup.type), it has not handed down the
    controllers yet, and processes sit in it (cgroups/v2.py _holds_processes: an LXD container whose
    init is not systemd)."""
    u = lay.unified if lay.version == 2 else None
    if u is None or not (u.mountpoint / "cgroup.type").exists():
        return None
    try:
        enabled = (u.mountpoint / "cgroup.subtree_control").read_text().split()
        pids = (u.mountpoint / "cgroup.procs").read_text().split()
    except OSError:
        return None
    if not pids or all(c in enabled for c in ("memory", "pids", "cpu") if c in u.controllers):
        return None
    return u.mountpoint, ", ".join(pids[:5])


def check_overlay(inst: Instance) -> Check:
    name, breaks = "overlayfs", say("overlay_breaks")
    try:
        listed = "overlay" in Path("/proc/filesystems").read_text()
    except OSError:
        listed = False
    if os.geteuid() != 0:
        return row(name, OK if listed else WARN, say("overlay_listed") if listed else say("overlay_not_listed"))
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
        return row(name, OK, say("overlay_ok", base=base))
    except OSError as e:
        return row(name, FAIL, say("overlay_failed", base=base, error=e.strerror), breaks, say("overlay_fix"))


def _existing_parent(p: Path) -> Path:
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_userns() -> Check:
    name = "userns"
    try:
        maxns = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        maxns = -1
    if maxns == 0:
        return row(name, FAIL, say("userns_zero"), say("userns_breaks"), say("userns_sysctl"))
    unshare = shutil.which("unshare")
    if unshare:
        r = _run([unshare, "--user", "--map-root-user", "id", "-u"])
        if r is None or r.returncode != 0 or r.stdout.strip() != "0":
            msg = (r.stderr.strip() if r else say("failed")) or say("refused")
            return row(name, FAIL, msg, say("userns_breaks"), say("userns_allow"))
    extra = []
    for knob in ("kernel/unprivileged_userns_clone", "kernel/apparmor_restrict_unprivileged_userns"):
        try:
            extra.append(f"{knob.split('/')[1]}={Path('/proc/sys/' + knob).read_text().strip()}")
        except OSError:
            pass
    return row(name, OK, say("allowed") + (f" ({', '.join(extra)})" if extra else ""))


def check_busybox(inst: Instance) -> Check:
    from ..images import default
    from ..images.store import ImageStore

    name = "image"
    try:
        ImageStore(inst).get(default.NAME)
        built = say("image_built")
    except Exception:
        built = say("image_not_built")
    bb = default.find_busybox()
    if bb:
        kind = say("static") if default.is_static(bb) else say("dynamic")
        return row(name, OK, say("image_ok", built=built, source=bb, kind=kind))
    if shutil.which("sh"):
        return row(name, WARN, say("image_no_busybox", built=built), say("image_breaks"), say("busybox_install"))
    return row(name, FAIL, say("image_nothing"), say("image_breaks_all"), say("busybox_install"))


def check_disk(inst: Instance) -> Check:
    base = _existing_parent(inst.root)
    free = shutil.disk_usage(base).free
    value = say("disk_free", gib=f"{free / (1 << 30):.1f}", base=base, root=inst.root)
    if free < 512 << 20:
        return row("disk", FAIL, value, say("disk_breaks"), say("disk_fix"))
    if free < 2 << 30:
        return row("disk", WARN, value, say("disk_large"), say("disk_fix"))
    return row("disk", OK, value)


def check_seccomp() -> Check:
    """A seccomp filter loads in a throw-away child: the kernel must have seccomp filters, with errno returns."""
    name, breaks = "seccomp", say("seccomp_breaks")
    try:
        actions = Path("/proc/sys/kernel/seccomp/actions_avail").read_text().split()
    except OSError:
        return row(name, FAIL, say("seccomp_none"), breaks, say("seccomp_kernel"))
    if "errno" not in actions or "kill_process" not in actions:
        return row(name, FAIL, say("seccomp_actions", actions=" ".join(actions)), breaks, say("seccomp_old"))
    from ..security import seccomp

    try:
        program = seccomp.program(seccomp.default_profile())
    except seccomp.ProfileError as e:
        return row(name, FAIL, str(e), breaks, say("seccomp_arch"))
    # In a fresh interpreter: a notebook's kernel has threads, and a forked child of it may only exec.
    status = _run(interpreter("labkit.security.seccomp"), timeout=30)
    status = status.returncode if status else -1
    if status != 0:
        return row(name, FAIL, say("seccomp_failed", status=status), breaks, say("seccomp_check"))
    return row(name, OK, say("seccomp_ok", n=len(program) // 8))


def check_place() -> Check:
    """Where labkit runs: the host, or root of a user namespace in a container engine (host/where.py)."""
    from .where import place

    here = place()
    if here.nested:  # not a fault: what differs there is said row by row, with who can change it
        return row("place", WARN, repr(here), say("place_nested_breaks"), say("place_nested_who"))
    return row("place", OK, repr(here))


def check_device_rules() -> Check:
    """Device rules: the v1 devices controller, or on cgroup v2 an eBPF device program that loads; in
    an unprivileged container, the outer container's (which a nested group cannot widen)."""
    name, breaks = "devices", say("devices_breaks")
    from .where import place

    if place().nested:
        from ..catalog import text

        return row(name, OK, say("devices_nested", engine=text("where", f"engine-{place().engine}")), "", say("devices_nested_who"))
    try:
        from ..cgroups import layout

        lay = layout()
    except Exception as e:  # noqa: BLE001 - the cgroups row says more
        return row(name, FAIL, say("devices_no_layout", error=e), breaks, say("see_cgroups"))
    if lay.version == 1:
        if lay.v1("devices") is None:
            return row(name, FAIL, say("devices_no_v1"), breaks, say("devices_mount"))
        return row(name, OK, say("devices_v1"))
    if os.geteuid() != 0:
        return _need_root(name, breaks)
    from ..kernel import syscalls as sc
    from ..security import devices

    try:
        fd = sc.bpf_prog_load(sc.BPF_PROG_TYPE_CGROUP_DEVICE, devices.assemble(devices.program(devices.DOCKER_DEFAULT)),
                              name="labkit_doctor")
        os.close(fd)
    except OSError as e:
        return row(name, FAIL, say("devices_bpf_failed", error=e.strerror), breaks, say("devices_bpf_kernel"))
    return row(name, OK, say("devices_v2"))


def check_keyrings() -> Check:
    name = "keyrings"
    if not Path("/proc/keys").exists() and not Path("/proc/key-users").exists():
        return row(name, WARN, say("keyrings_none"), say("keyrings_breaks"), say("keyrings_nothing"))
    return row(name, OK, say("keyrings_ok"))


def check_log_disk(inst: Instance) -> Check:
    """Containers' logs and writable layers live under the data root: warn before that disk is full."""
    base = _existing_parent(inst.root)
    usage = shutil.disk_usage(base)
    used = 100 * (usage.total - usage.free) / usage.total if usage.total else 0
    value = say("disk_use", percent=f"{used:.0f}", gib=f"{usage.total / (1 << 30):.1f}", base=base)
    if used >= 95:
        return row("disk_use", FAIL, value, say("disk_use_full"), say("disk_use_full_fix"))
    if used >= 85:
        return row("disk_use", WARN, value, say("disk_use_nearly"), say("disk_use_nearly_fix"))
    return row("disk_use", OK, value)


def check_vm() -> Check:
    """Notebook 01 boots a small VM beside a container: QEMU, a kernel image, and KVM or emulation."""
    from ..virtualization import machine

    name, breaks = "vm", say("vm_breaks")
    try:
        binary, kernel = machine.qemu(), machine.kernel_image()
    except FeatureMissing as e:
        return row(name, WARN, e.message, breaks, e.hint)
    accel, _why = machine.accelerator()
    return row(name, OK, say("vm_ok", qemu=os.path.basename(binary), kernel=kernel, how=say(f"vm_{accel}")))


def check_packages() -> Check:
    """The lab's version, and its Python packages against the lock ./lab setup installs (host/packages.py)."""
    from .packages import compare, lab_version

    name, d = "packages", compare()
    fix = say("packages_fix")
    if d.no_lock:
        return row(name, WARN, say("packages_no_lock", version=lab_version(), lock=d.lock), say("packages_no_lock_breaks"),
                   say("packages_no_lock_fix"))
    if not d.matches:
        shown = ([say("packages_differs", name=n, have=have, want=want) for n, have, want in d.differ[:4]]
                 + [say("packages_missing", name=n) for n in d.missing[:4]])
        return row(name, WARN, say("packages_differ", version=lab_version(), n=len(d.differ) + len(d.missing), locked=d.locked,
                                   lock=d.lock, shown=", ".join(shown)), say("packages_differ_breaks"), fix)
    return row(name, OK, say("packages_ok", version=lab_version(), locked=d.locked, lock=d.lock))


def doctor(inst: Instance | None = None) -> Report:
    """Check this host; returns a Report (a table in a notebook, text in a terminal, JSON with .to_json())."""
    inst = inst or current_instance()
    checks = [check_place(), check_root(), check_kernel(), check_cgroups(), check_overlay(inst), check_userns(), check_netns(),
              check_veth_bridge(), check_port_guard(), check_firewall(), check_seccomp(), check_device_rules(), check_keyrings(),
              check_busybox(inst), check_disk(inst), check_log_disk(inst), check_pyroute2(), check_vm(), check_packages()]
    return Report(tuple(checks))
