"""200 containers running `sleep` at once: what labkit adds per container, and how fast `labkit ps` answers.

    sudo .venv/bin/python bench/many_containers.py [-n 200] [--runs 10]

Targets: the host memory labkit adds per container (labkitd, anything of ours) at most 2 MiB
(issue 4); a start that costs as much with 1,000 containers running as with 10, and `labkit ps`
with 1,000 containers under 100 ms (issue 11: run with -n 1000). Beside them, in the same run,
runc with the same number of detached `sleep` containers on the same rootfs, and `runc list`.

The start cost is each `lk.run(..., detach=True)`'s time: the median of the first ten (10 running
or fewer) against the median of the last ten (n-10 running); "flat" means within 25 %.

Memory is read two ways:
  - labkit's processes: the PSS (proportional set size, /proc/PID/smaps_rollup) of labkitd, its
    keeper and its zygote, summed (each a fork of the one before: pages they share are counted once).
    There is no labkit process per container: labkitd is every container's parent and pumps all
    their output.
  - the whole host: how much MemAvailable fell while the containers ran, less what the containers'
    own cgroups are charged (memory.usage_in_bytes / memory.current): the kernel's side of it too
    (page tables, namespaces, mounts, pipes).
Both divided by the number of containers. This prints the figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import labkit as lk  # noqa: E402
from measure import row, timed  # noqa: E402  (bench/measure.py)
from labkit.cgroups import layout  # noqa: E402
from labkit.images.store import ImageStore  # noqa: E402
from labkit.paths import instance  # noqa: E402

PARENT = "labkit-bench"


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no MemAvailable in /proc/meminfo")


def settle() -> int:
    """MemAvailable after the page cache and slabs have had a moment to settle."""
    subprocess.run(["sync"])
    time.sleep(1.0)
    return mem_available()


def pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def zygote_of(labkitd: int) -> int | None:
    """labkitd's zygote (runtime/daemon/zygote.py): its child named labkit-zygote."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            if name == "labkit-zygote" and int(rest[1]) == labkitd:
                return int(entry)
    return None


def charged(dirs: list[Path]) -> int:
    """What the containers' own memory cgroups are charged: their processes, page cache, kernel memory."""
    total = 0
    for d in dirs:
        for name in ("memory.current", "memory.usage_in_bytes"):
            f = d / name
            if f.exists():
                total += int(f.read_text())
                break
    return total


def memory_dirs(base: str) -> list[Path]:
    lay = layout()
    h = next((h for h in lay.hierarchies if "memory" in h.controllers), None)
    root = (h.mountpoint if h else lay.hierarchies[0].mountpoint) / base
    return [d for d in root.iterdir() if d.is_dir() and d.name not in ("labkitd",)] if root.is_dir() else []


def labkit_side(n: int, runs: int) -> dict:
    inst = instance()
    before = settle()
    t = time.perf_counter()
    started, each = [], []
    for _ in range(n):
        t1 = time.perf_counter()
        started.append(lk.run("busybox", "sleep 3600", detach=True))
        each.append(time.perf_counter() - t1)
    start_s = time.perf_counter() - t
    after = settle()
    own = memory_dirs(inst.tag)
    sup = int((inst.run / "labkitd.pid").read_text())
    keeper = int((inst.run / "labkit-keeper.pid").read_text())
    zygote = zygote_of(sup)
    ours = pss(sup) + pss(keeper) + (pss(zygote) if zygote else 0)
    cli = [str(REPO / ".venv/bin/labkit")] if (REPO / ".venv/bin/labkit").exists() else [sys.executable, "-m", "labkit"]
    ps_times = timed(cli + ["ps"], runs)
    rows = subprocess.run(cli + ["ps", "-q"], capture_output=True, text=True).stdout.split()
    api = []
    for _ in range(runs):
        t0 = time.perf_counter()
        lk.ps()
        api.append(time.perf_counter() - t0)
    result = {"running": len(rows), "start_s": start_s, "each": each, "host_delta": before - after, "charged": charged(own),
              "pss_ours": ours, "labkitd_pss": pss(sup), "keeper_pss": pss(keeper),
              "zygote_pss": pss(zygote) if zygote else 0, "ps": ps_times, "ps_api": api}
    t = time.perf_counter()
    for c in started:
        c.remove(force=True)
    result["rm_s"] = time.perf_counter() - t
    return result


def runc_side(n: int, rootfs: Path, where: Path, runs: int) -> dict | None:
    if not shutil.which("runc"):
        print("(runc not installed: apt-get install runc)")
        return None
    b = where / "runc"
    b.mkdir(parents=True)
    subprocess.run(["runc", "spec", "--bundle", str(b)], check=True, capture_output=True)
    cfg = json.loads((b / "config.json").read_text())
    cfg["process"].update(args=["sleep", "3600"], terminal=False)
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    root = where / "runc-state"
    before = settle()
    t = time.perf_counter()
    names = []
    try:
        each = []
        for i in range(n):
            t1 = time.perf_counter()
            cfg["linux"]["cgroupsPath"] = f"/{PARENT}/c{i}"
            (b / "config.json").write_text(json.dumps(cfg))
            name = f"labkit-bench-{i}"
            # Not a pipe for its output: the detached container keeps it open, and we would wait forever.
            with open(where / "runc.log", "ab") as log:
                names.append(name)
                subprocess.run(["runc", "--root", str(root), "run", "-d", "--bundle", str(b), name], check=True,
                               stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            each.append(time.perf_counter() - t1)
        start_s = time.perf_counter() - t
        after = settle()
        ps_times = timed(["runc", "--root", str(root), "list"], runs)
        return {"start_s": start_s, "each": each, "host_delta": before - after, "charged": charged(memory_dirs(PARENT)), "ps": ps_times}
    finally:
        for name in names:
            subprocess.run(["runc", "--root", str(root), "delete", "-f", name], capture_output=True)
        for h in layout().hierarchies:
            d = h.mountpoint / PARENT
            if d.is_dir():
                for child in d.iterdir():
                    if child.is_dir():
                        for pid in (child / "cgroup.procs").read_text().split():  # ours: started above
                            os.kill(int(pid), 9)
                        while (child / "cgroup.procs").read_text().strip():
                            time.sleep(0.01)
                        os.rmdir(child)
                os.rmdir(d)


def mib(n: float) -> str:
    return f"{n / 2**20:7.2f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: sudo .venv/bin/python bench/many_containers.py")
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        os.environ["LABKIT_ROOT"] = str(Path(tmp) / "root")
        store = ImageStore(instance())
        from labkit.images import default

        (rootfs,) = store.unpack(default.build(store))
        lk.run("busybox", "true", rm=True, stream=False)  # labkitd up, image unpacked: not counted
        try:
            ours = labkit_side(args.n, args.runs)
            theirs = runc_side(args.n, rootfs, Path(tmp), args.runs)
        finally:
            lk.reset()
    n = args.n
    print(f"\n{n} containers running `sleep 3600`; {layout().kind} cgroups, Linux {os.uname().release}, "
          f"{os.cpu_count()} CPUs")
    print(f"labkit: {ours['running']} listed by `labkit ps -q`; started in {ours['start_s']:.1f} s, removed in {ours['rm_s']:.1f} s")
    print(f"  labkit's processes (labkitd, keeper, zygote), PSS:   {mib(ours['pss_ours'])} total, "
          f"{mib(ours['pss_ours'] / n)} per container")
    print(f"    labkitd {mib(ours['labkitd_pss'])}; labkit-keeper {mib(ours['keeper_pss'])}; "
          f"labkit-zygote {mib(ours['zygote_pss'])}")
    other = ours["host_delta"] - ours["charged"]
    print(f"  host MemAvailable fell by {mib(ours['host_delta'])}; containers' cgroups charged {mib(ours['charged'])}; "
          f"the rest {mib(other)} = {mib(other / n)} per container")
    if theirs:
        other_r = theirs["host_delta"] - theirs["charged"]
        print(f"runc:   started in {theirs['start_s']:.1f} s; MemAvailable fell by {mib(theirs['host_delta'])}; "
              f"cgroups charged {mib(theirs['charged'])}; the rest {mib(other_r / n)} per container")
    k = min(10, n // 2)
    print(f"\n{'start one container':<34} {'first ' + str(k):>10} {'last ' + str(k):>10}   (median, ms)")
    for name, res in (("labkit lk.run(detach=True)", ours), *((("runc run -d", theirs),) if theirs else ())):
        print(f"{name:<34} {statistics.median(res['each'][:k]) * 1000:>10.1f} {statistics.median(res['each'][-k:]) * 1000:>10.1f}")
    print(f"\n{'list ' + str(n) + ' containers':<34} {'median':>8} {'mean':>8} {'min':>8} {'runs':>6}   (ms)")
    for name, ts in (("labkit ps (CLI)", ours["ps"]), ("lk.ps() (warm process)", ours["ps_api"]),
                     *((("runc list", theirs["ps"]),) if theirs else ())):
        print(row(name, ts))
    per = ours["pss_ours"] / n
    print(f"\ntarget: labkit's memory per container <= 2 MiB: {mib(per).strip()} (PSS), {mib(other / n).strip()} (host)"
          f" -> {'met' if max(per, other / n) <= 2 << 20 else 'not met'}")
    ps_med = statistics.median(ours["ps"]) * 1000
    print(f"target: `labkit ps` with {n} containers < 100 ms: {ps_med:.1f} ms -> {'met' if ps_med < 100 else 'not met'}")
    first, last = statistics.median(ours["each"][:k]) * 1000, statistics.median(ours["each"][-k:]) * 1000
    print(f"target: a start costs the same with {n - k} containers running as with {k}: {last:.1f} vs {first:.1f} ms"
          f" -> {'met' if last <= first * 1.25 else 'not met'}")


if __name__ == "__main__":
    main()
