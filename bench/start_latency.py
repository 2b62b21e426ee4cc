"""Start-to-exit of /bin/true in the busybox image: labkit beside runc and crun, measured in one run.

    sudo .venv/bin/python bench/start_latency.py [--runs 30]

Every tool gets the same root filesystem (the busybox image's unpacked layer), the same five
namespaces (pid, mnt, uts, ipc, net) and a cgroup of its own under a labkit-named parent. labkit
also mounts an overlay with a fresh writable layer, as a container needs; runc and crun run the
layer directly. Issue 4's targets: labkit's Python API in a warm process at or below crun's median;
the one-shot CLI at or below runc's. This prints the figures; it asserts nothing.

Quirks on this machine (shared/notes/platform.md): crun refuses the hybrid cgroup layout, so on a
hybrid host it runs inside a private mount namespace with /sys/fs/cgroup/unified unmounted; runc
needs an absolute rootfs and an explicit cgroupsPath.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
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

PARENT = "labkit-bench"  # the reference tools' cgroups go under this parent in every hierarchy


def bundle_for(tool: str, rootfs: Path, where: Path) -> Path:
    """An OCI bundle like `runc spec` makes, running /bin/true with the five namespaces."""
    b = where / tool
    b.mkdir(parents=True, exist_ok=True)
    subprocess.run([tool, "spec", "--bundle", str(b)], check=True, capture_output=True)
    cfg = json.loads((b / "config.json").read_text())
    cfg["process"]["args"] = ["/bin/true"]
    cfg["process"]["terminal"] = False
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]
    cfg["linux"]["cgroupsPath"] = f"/{PARENT}/{tool}"
    (b / "config.json").write_text(json.dumps(cfg, indent=2))
    return b


def crun_times(bundle: Path, runs: int) -> list[float]:
    """crun's own start-to-exit, timed inside the private mount namespace it needs on a hybrid host."""
    cmd = ["crun", "run", "--bundle", str(bundle), "labkit-bench-crun"]
    if layout().kind != "hybrid":
        return timed(cmd, runs)
    code = ("import subprocess, sys, time, json\n"
            f"cmd = {cmd!r}\nts = []\n"
            f"for _ in range({runs}):\n"
            "    t = time.perf_counter(); r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)\n"
            "    ts.append(time.perf_counter() - t)\n"
            "    assert r.returncode == 0, r.stderr.decode()\n"
            "print(json.dumps(ts))\n")
    script = f"umount /sys/fs/cgroup/unified && exec {shlex.quote(sys.executable)} -c {shlex.quote(code)}"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"crun failed: {r.stderr[-400:]}")
    return json.loads(r.stdout)


def cleanup_cgroups() -> None:
    for h in layout().hierarchies:
        d = h.mountpoint / PARENT
        if d.is_dir():
            for child in d.iterdir():
                if child.is_dir():
                    os.rmdir(child)
            os.rmdir(d)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: sudo .venv/bin/python bench/start_latency.py")
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        os.environ["LABKIT_ROOT"] = str(Path(tmp) / "root")
        inst = instance()
        store = ImageStore(inst)
        from labkit.images import default

        img = default.build(store)
        (rootfs,) = store.unpack(img)
        results = {}
        # labkit, Python API, warm process (the first run unpacks and warms caches; not counted)
        lk.run("busybox", "/bin/true", rm=True, stream=False)
        api = []
        for _ in range(args.runs):
            t = time.perf_counter()
            lk.run("busybox", "/bin/true", rm=True, stream=False)
            api.append(time.perf_counter() - t)
        results["labkit lk.run() (warm process)"] = api
        cli = [str(REPO / ".venv" / "bin" / "labkit")] if (REPO / ".venv/bin/labkit").exists() else [sys.executable, "-m", "labkit"]
        results["labkit CLI run --rm"] = timed(cli + ["run", "--rm", "busybox", "/bin/true"], args.runs)
        try:
            for tool in ("runc", "crun"):
                if not shutil.which(tool):
                    print(f"({tool} not installed: apt-get install {tool})")
                    continue
                b = bundle_for(tool, rootfs, Path(tmp) / "bundles")
                if tool == "runc":
                    results["runc run"] = timed(["runc", "run", "--bundle", str(b), "labkit-bench-runc"], args.runs)
                else:
                    results["crun run"] = crun_times(b, args.runs)
        finally:
            cleanup_cgroups()
            lk.reset()
    print(f"\nstart to exit of /bin/true, busybox rootfs, 5 namespaces + cgroup; {layout().kind} cgroups, "
          f"Linux {os.uname().release}")
    print(f"{'':<34} {'median':>8} {'mean':>8} {'min':>8} {'runs':>6}   (ms)")
    for name, ts in results.items():
        print(row(name, ts))
    med = {k: statistics.median(v) for k, v in results.items()}
    if "crun run" in med:
        print(f"\ntarget: lk.run() median <= crun's: {med['labkit lk.run() (warm process)'] * 1000:.1f} vs "
              f"{med['crun run'] * 1000:.1f} ms -> {'met' if med['labkit lk.run() (warm process)'] <= med['crun run'] else 'not met'}")
    if "runc run" in med:
        print(f"target: CLI median <= runc's: {med['labkit CLI run --rm'] * 1000:.1f} vs {med['runc run'] * 1000:.1f} ms"
              f" -> {'met' if med['labkit CLI run --rm'] <= med['runc run'] else 'not met'}")


if __name__ == "__main__":
    main()
