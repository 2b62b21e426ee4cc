"""A VM and a container, side by side, measured now: the seed's first table (虚拟机 vs 容器).

    side = side_by_side()     # about 5 s with KVM's absence (software emulation), well under 1 s with KVM
    side.rows                 # [("first_user", "5191 ms", "14 ms"), ("memory", "179 MiB", "0.4 MiB"), ...]

Each figure is measured the same way for both, where the two allow it:
- time to the first instruction of user code: the VM's, from QEMU's start to the first line its
  /init prints; the container's, from the request to the exec of its command (lk.run's trace);
- memory used on the host: what the kernel charges to the cgroup each one runs in (QEMU's, the container's);
- what each one's `uname -r`, /proc/cpuinfo, /proc/meminfo, /proc/uptime and PID 1 say, from inside.
"""

from __future__ import annotations

import html
import time

from .. import catalog
from . import initramfs, machine

ENTRY = "vm.side-by-side"
_say = catalog.speaker(ENTRY)
ROWS = ("first_user", "memory", "uname", "cpu", "memtotal", "uptime", "pid1")


class SideBySide:
    """The two columns, by row ID, as text ready to show; vm and container hold the raw figures."""

    def __init__(self, vm: machine.Guest, container: dict):
        self.vm, self.container = vm, container

    def _cells(self, side: dict, first_ms: float, memory: int) -> dict:
        up = float(side.get("uptime", "0") or 0)
        return {"first_user": f"{first_ms:,.0f} ms" if first_ms >= 100 else f"{first_ms:.1f} ms",
                "memory": f"{memory / 2**20:,.1f} MiB", "uname": side.get("uname", "?"), "cpu": side.get("cpu", "?"),
                "memtotal": f"{int(side.get('memtotal', '0') or 0) // 1024:,} MiB",
                "uptime": f"{up:,.1f} s" if up < 600 else f"{up / 3600:,.1f} h", "pid1": side.get("pid1", "?")}

    @property
    def rows(self) -> list[tuple[str, str, str]]:
        vm = self._cells(self.vm.facts, self.vm.first_user_ms, self.vm.memory)
        ct = self._cells(self.container["facts"], self.container["first_user_ms"], self.container["memory"])
        return [(r, vm[r], ct[r]) for r in ROWS]

    def __repr__(self) -> str:
        pad = catalog.pad  # a Chinese label is twice as wide as its characters
        lines = [pad(_say("title"), 44) + pad(_say("vm"), 34) + _say("container")]
        lines += [pad(_say(r), 44) + pad(a, 34) + b for r, a, b in self.rows]
        return "\n".join(lines + [self.how(), self.method()])

    def how(self) -> str:
        return _say("accel_" + self.vm.accel, self.vm.accel, why=_say("why_" + self.vm.why, self.vm.why))

    def method(self) -> str:
        return _say("method", "", kernel=self.vm.kernel)

    def _repr_html_(self) -> str:
        e = html.escape
        head = "".join(f"<th style='text-align:left'>{e(_say(k))}</th>" for k in ("title", "vm", "container"))
        body = "".join(f"<tr><td>{e(_say(r))}</td><td>{e(a)}</td><td>{e(b)}</td></tr>" for r, a, b in self.rows)
        return (f"<table><tr>{head}</tr>{body}</table>"
                f"<p style='color:#555;font-size:90%'>{e(self.how())}<br>{e(self.method())}</p>")


def container_side(name: str) -> dict:
    """The container's column: one traced run for the time, one that reports and waits for the rest."""
    import labkit as lk

    traced = lk.run("busybox", "true", trace=True, rm=True, network="none", stream=False)
    first_ms = sum(ms for step, (_text, ms) in zip(traced.steps, traced.trace) if step not in ("run", "remove"))
    c = lk.run("busybox", ["sh", "-c", initramfs.FACTS + "exec sleep 60"], detach=True, name=name, network="none")
    try:
        deadline = time.monotonic() + 30
        while initramfs.READY not in c.logs() and time.monotonic() < deadline:
            time.sleep(0.02)
        memory = c.stats().memory_current or 0
        facts = initramfs.facts(c.logs())
    finally:
        c.remove(force=True)
    return {"first_user_ms": first_ms, "memory": memory, "facts": facts}


def side_by_side(name: str = "vm-beside", memory_mib: int = 128) -> SideBySide:
    """Boot the VM, then start the container (one after the other: each is measured on a quiet host)."""
    vm = machine.boot(memory_mib=memory_mib, name=name)
    return SideBySide(vm, container_side(name))
