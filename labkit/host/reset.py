"""Reset: remove everything labkit made on this host, found in the kernel by name.

Nothing here trusts labkit's state files: they may be lost or corrupt. Each kind
of object is found where the kernel lists it, by the instance's tag (paths.py):

  processes      every PID in the instance's cgroups (containers, and what they forked)
  mounts         /proc/self/mountinfo: a source named by the tag, or a mount point below the data root
  cgroups        <hierarchy>/<tag>/ in every v1 hierarchy and the v2 one
  netns          /run/netns/<tag>-*
  links          /sys/class/net: "lk-*" (veths) or a name with the tag (bridges)
  firewall       iptables and ebtables chains and rules naming the tag; nftables tables named by it
  state files    the containers and runtime folders; the image store if it is corrupt; anonymous
                 volumes (named ones only with volumes=True: they are the learner's data)

Safe to run twice, or twice at once: every step accepts that its object is already gone.
"""

from __future__ import annotations

import os
import shlex
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import cgroups
from ..cgroups.base import read_pids, remove_tree
from ..errors import LabkitError, require_root
from ..filesystems.mounts import mounts
from ..kernel import syscalls as sc
from ..network import firewall, netlink
from ..catalog import pad, speaker
from ..paths import Instance, instance as current_instance, is_labkit_link, is_labkit_name

NETNS_DIR = "/run/netns"
_say = speaker("reset")  # the report's texts, in the learner's language


@dataclass
class ResetReport:
    processes: list[int] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    firewall: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    names: dict = field(default_factory=dict)  # PID -> its command's name, as it was when killed

    KINDS = ("processes", "mounts", "cgroups", "netns", "links", "firewall", "files")

    @property
    def removed(self) -> int:
        return sum(len(getattr(self, k)) for k in self.KINDS)

    def __str__(self) -> str:
        if not self.removed and not self.problems:
            return _say("nothing")
        lines = [_say("removed", n=self.removed)]
        for k in self.KINDS:
            for item in getattr(self, k):
                lines.append(f"  {pad(_say('kind_' + k), 10)} {item}" + (f" ({self.names[item]})" if k == "processes" and item in self.names else ""))
        for p in self.problems:
            lines.append(f"  {pad(_say('problem'), 10)} {p}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        if not self.removed and not self.problems:
            return f"<p>{html.escape(_say('nothing'))} ✔</p>"
        def shown(kind: str, item) -> str:
            return f"{item} ({self.names[item]})" if kind == "processes" and item in self.names else str(item)

        rows = ""
        for k in self.KINDS:  # one row per kind; its items folded (a reset after a workshop removes hundreds)
            items = getattr(self, k)
            if items:
                listed = "<br>".join(f"<code>{html.escape(shown(k, i))}</code>" for i in items)
                rows += (f"<tr><td style='text-align:left'>{html.escape(_say('kind_' + k))}</td><td>{len(items)}</td><td style='text-align:left'>"
                         f"<details><summary>{html.escape(_say('show'))}</summary>{listed}</details></td></tr>")
        rows += "".join(f"<tr><td style='color:#c33'>{html.escape(_say('problem'))}</td><td></td><td style='text-align:left'>{html.escape(p)}</td></tr>"
                        for p in self.problems)
        return (f"<p>{html.escape(_say('removed', n=self.removed))}</p><table><tr><th>{html.escape(_say('col_kind'))}</th>"
                f"<th>{html.escape(_say('col_removed'))}</th><th></th></tr>{rows}</table>")


def reset(all_instances: bool = False, inst: Instance | None = None, volumes: bool = False) -> ResetReport:
    """Remove every kernel object and state file of this lab (of every lab on the host with all_instances).
    Named volumes are the learner's data: kept, unless volumes=True (anonymous ones always go)."""
    require_root("reset")
    inst = inst or current_instance()
    owns = is_labkit_name if all_instances else inst.owns
    owns_link = is_labkit_link if all_instances else inst.owns_link
    report = ResetReport()
    lay = cgroups.layout()
    groups = [d for d in cgroups.labkit_dirs(lay) if owns(d.name)]

    _kill_processes(groups, report)
    lock = _hold_keeper_lock(inst, groups, report)
    try:
        _reset_after_kill(inst, owns, owns_link, all_instances, groups, report)
        _remove_volumes(inst, volumes, report)
    finally:
        if lock is not None:
            os.close(lock)
    return report


def _hold_keeper_lock(inst: Instance, groups, report: ResetReport) -> int | None:
    """Hold labkitd's keeper lock while the lab is taken apart: a client whose labkitd was just
    killed starts a new one at once (to attach again), and that one must not start among half-removed
    state. Its keeper finds the lock held, takes it for another keeper's, and exits; the client
    tries again later and finds a clean lab. A keeper that won the race is killed, and we try again."""
    import fcntl

    from ..runtime.daemon.keeper import LOCK

    if not inst.run.is_dir():
        return None  # no labkitd ran here: nothing to keep out (and nothing made for it)
    try:
        fd = os.open(inst.run / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None
    for _ in range(500):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            _kill_processes(groups, report)
            time.sleep(0.01)
    os.close(fd)
    report.problems.append("labkitd's keeper lock stayed held: a labkitd may have started during the reset")
    return None


def _reset_after_kill(inst: Instance, owns, owns_link, all_instances: bool, groups, report: ResetReport) -> None:
    _unmount(inst, owns, all_instances, report)
    for d in groups:
        _try(report, f"remove cgroup {d}", lambda d=d: (remove_tree(d), report.cgroups.append(str(d))))
    _remove_netns(owns, report)
    _remove_links(owns_link, report)

    def owns_token(text: str) -> bool:
        return any(owns(tok) for tok in shlex.split(text.replace("/*", " ").replace("*/", " ")))

    _try(report, "remove iptables rules", lambda: report.firewall.extend(firewall.remove_iptables(owns_token)))
    _try(report, "remove ebtables rules", lambda: report.firewall.extend(firewall.remove_ebtables(owns_token)))
    _try(report, "remove nftables tables", lambda: report.firewall.extend(firewall.remove_nft(owns)))
    _remove_state(inst, report)


def _try(report: ResetReport, what: str, fn) -> None:
    try:
        fn()
    except (OSError, LabkitError) as e:
        report.problems.append(f"{what}: {e}")


def _kill_processes(groups, report: ResetReport) -> None:
    """SIGKILL every process in the groups and their children, until none is left (a fork bomb refills them)."""
    for _ in range(200):
        pids = sorted({pid for g in groups for d, _subdirs, _files in os.walk(g) for pid in read_pids(Path(d))})
        if not pids:
            return
        for pid in pids:
            if pid not in report.names:
                try:  # its name, for the learner's table; read before the kill
                    with open(f"/proc/{pid}/comm") as f:
                        report.names[pid] = f.read().strip()
                except OSError:
                    pass
            try:
                os.kill(pid, 9)
                if pid not in report.processes:
                    report.processes.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
    report.problems.append("some processes in labkit's cgroups would not die")


def _unmount(inst: Instance, owns, all_instances: bool, report: ResetReport) -> None:
    roots = [str(inst.root), str(inst.run)]

    def ours(m) -> bool:
        if owns(m.source):
            return True
        if all_instances and is_labkit_name(m.mountpoint):
            return True
        # Strictly below the roots: a filesystem mounted *at* the data root (a tmpfs an admin gave
        # the lab) is the host's, not labkit's.
        return any(m.mountpoint.startswith(r + "/") for r in roots)

    # Deepest first, so a mount is never hidden under another we have yet to remove.
    for m in sorted((m for m in mounts() if ours(m)), key=lambda m: m.mountpoint.count("/"), reverse=True):
        try:
            sc.umount2(m.mountpoint, sc.MNT_DETACH)
            report.mounts.append(f"{m.fstype} {m.source} on {m.mountpoint}")
        except OSError as e:
            if e.errno not in (2, 22):  # gone already, or no longer a mount point: another reset won
                report.problems.append(f"umount {m.mountpoint}: {e.strerror}")


def _remove_netns(owns, report: ResetReport) -> None:
    try:
        names = os.listdir(NETNS_DIR)
    except OSError:
        return
    for name in names:
        if not owns(name):
            continue
        path = os.path.join(NETNS_DIR, name)
        try:
            sc.umount2(path, sc.MNT_DETACH)
        except OSError:
            pass
        try:
            os.unlink(path)
            report.netns.append(name)
        except FileNotFoundError:
            pass
        except OSError as e:
            report.problems.append(f"remove netns {name}: {e.strerror}")


def _remove_links(owns_link, report: ResetReport) -> None:
    for name in netlink.link_names():
        if owns_link(name) and name != "lo":
            try:
                netlink.delete_link(name)
                report.links.append(name)
            except Exception as e:  # pyroute2 raises its own NetlinkError; a veth's peer may be gone already
                if os.path.exists(f"/sys/class/net/{name}"):
                    report.problems.append(f"delete link {name}: {e}")


def _remove_volumes(inst: Instance, named: bool, report: ResetReport) -> None:
    """Anonymous volumes (-v /data) belonged to containers, which are gone now; named ones only if asked."""
    from ..filesystems import volumes

    for v in volumes.ls(inst):
        if named or v.get("Anonymous"):
            shutil.rmtree(Path(v["Mountpoint"]).parent, ignore_errors=True)
            report.files.append(f"volume {v['Name']}")


def _remove_state(inst: Instance, report: ResetReport) -> None:
    from ..images.store import CorruptStore, ImageStore

    from ..runtime.state import names_dir

    # names/ goes with the containers: a name whose container is gone would be "in use" forever.
    for d in (inst.containers, inst.run, names_dir(inst), inst.root / "networks"):
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        shutil.rmtree(d, ignore_errors=True)
        entries = [e for e in entries if e != "labkitd.lock"]  # reset's own (_hold_keeper_lock)
        if entries:  # an empty folder is nothing worth reporting
            report.files.append(f"{d} ({len(entries)} entries)")
    if inst.layers.is_dir():
        for leftover in inst.layers.glob(".unpack-*"):
            shutil.rmtree(leftover, ignore_errors=True)
            report.files.append(str(leftover))
    # Images are content, not state: kept. An image that cannot be read (one made wrong by hand in
    # notebook 06) loses its name, and the others stay; only an index that cannot be read costs all.
    store = ImageStore(inst)
    try:
        for name in store.names():
            try:
                store.get(name)
            except CorruptStore as e:
                store.untag(name)
                report.files.append(f"the image {name} (broken: {e.message})")
    except CorruptStore as e:
        shutil.rmtree(inst.images, ignore_errors=True)
        shutil.rmtree(inst.layers, ignore_errors=True)
        report.files.append(f"{inst.images} (corrupt: {e.message}; `labkit run busybox` rebuilds the default image)")
