"""Start-to-exit of /bin/true in the busybox image: labkit beside runc and crun, measured in one run.

    sudo .venv/bin/python bench/start_latency.py [--runs 30]

Every tool gets the same root filesystem (the busybox image's unpacked layer), the same five
namespaces (pid, mnt, uts, ipc, net) and a cgroup of its own under a labkit-named parent. labkit
also mounts an overlay with a fresh writable layer, as a container needs; runc and crun run the
layer directly.

Two networks, each measured for every tool:
  none     labkit --network none; runc and crun in a network namespace of their own (lo only)
  veth     labkit's default bridge network; runc and crun given a network namespace with a veth on a
           bridge and an address, as a container engine gives them: `ip netns add`, the CNI bridge
           plugin's ADD (host-local IPAM), the run, then DEL and `ip netns del`, all in the time

Issue 23's targets, on each network: lk.run() in a warm process at or below crun's median; the
one-shot CLI (`labkit run --rm busybox true`) at or below runc's. Beside them, lk.run_bundle() on
crun's own bundle: the same work as crun's (no overlay, no seccomp profile), done by labkit. This
prints the figures; it asserts nothing.

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


CNI = Path("/usr/lib/cni")
CNI_CONF = {"cniVersion": "1.0.0", "name": "labkit-benchnet", "type": "bridge", "bridge": "labkit-bench0",
            "isGateway": True, "ipMasq": False, "ipam": {"type": "host-local", "subnet": "10.251.0.0/16"}}

#: Runs in its own interpreter: `runs` runs of a tool, each timed from before its network (if any)
#: to after its network is gone. argv: tool, bundle, runs, with_veth (0/1), the IPAM's data dir.
RUNNER = """
import json, os, subprocess, sys, time
tool, bundle, runs, veth, ipam = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5]
conf = json.loads(sys.argv[6])
conf["ipam"]["dataDir"] = ipam
cfg_path = os.path.join(bundle, "config.json")
cfg = json.load(open(cfg_path))
ns = "labkit-bench-" + tool
for n in cfg["linux"]["namespaces"]:
    if n["type"] == "network":
        n.pop("path", None)
        if veth:
            n["path"] = "/run/netns/" + ns
json.dump(cfg, open(cfg_path, "w"))

def cni(command):
    env = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=ns, CNI_NETNS="/run/netns/" + ns, CNI_IFNAME="eth0",
               CNI_PATH="/usr/lib/cni")
    r = subprocess.run(["/usr/lib/cni/bridge"], input=json.dumps(conf), env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

ts = []
for _ in range(runs):
    t = time.perf_counter()
    if veth:
        subprocess.run(["ip", "netns", "add", ns], check=True)
        cni("ADD")
    r = subprocess.run([tool, "run", "--bundle", bundle, "labkit-bench-" + tool], stdin=subprocess.DEVNULL,
                       capture_output=True)
    if veth:
        cni("DEL")
        subprocess.run(["ip", "netns", "del", ns], check=True)
    ts.append(time.perf_counter() - t)
    assert r.returncode == 0, r.stderr.decode()
print(json.dumps(ts))
"""


def tool_times(tool: str, bundle: Path, runs: int, veth: bool, tmp: Path) -> list[float]:
    """A reference tool's start-to-exit (with its network, if veth). crun refuses the hybrid layout: on
    a hybrid host it runs inside a private mount namespace with /sys/fs/cgroup/unified unmounted."""
    argv = [sys.executable, "-c", RUNNER, tool, str(bundle), str(runs), "1" if veth else "0", str(tmp / "cni-ipam"),
            json.dumps(CNI_CONF)]
    if tool == "crun" and layout().kind == "hybrid":
        argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                "umount /sys/fs/cgroup/unified && exec " + " ".join(shlex.quote(a) for a in argv)]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{tool} failed: {r.stderr[-600:]}")
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
    # The CLI as a user's second run finds it: labkit's bytecode compiled (a CI shell may set
    # PYTHONDONTWRITEBYTECODE, and then every run would compile every changed module again).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "labkit")], check=True, capture_output=True)
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
        cli = [str(REPO / ".venv" / "bin" / "labkit")] if (REPO / ".venv/bin/labkit").exists() else [sys.executable, "-m", "labkit"]
        for net, mode in (("none", "none"), ("veth", "bridge")):
            api = []
            for _ in range(args.runs):
                t = time.perf_counter()
                lk.run("busybox", "/bin/true", rm=True, stream=False, network=mode)
                api.append(time.perf_counter() - t)
            results[f"labkit lk.run() ({net})"] = api
            results[f"labkit CLI run --rm ({net})"] = timed(cli + ["run", "--rm", "--network", mode, "busybox", "/bin/true"],
                                                            args.runs)
        try:
            for tool in ("runc", "crun"):
                if not shutil.which(tool):
                    print(f"({tool} not installed: apt-get install {tool})")
                    continue
                b = bundle_for(tool, rootfs, Path(tmp) / "bundles")
                if tool == "crun":  # the same bundle run by labkit: no overlay, no seccomp profile, as crun runs it
                    lk.run_bundle(b, stream=False)
                    same = []
                    for _ in range(args.runs):
                        t = time.perf_counter()
                        lk.run_bundle(b, stream=False)
                        same.append(time.perf_counter() - t)
                    results["labkit lk.run_bundle (crun's)"] = same
                results[f"{tool} run (none)"] = tool_times(tool, b, args.runs, False, Path(tmp))
                if (CNI / "bridge").exists():
                    results[f"{tool} run (veth)"] = tool_times(tool, b, args.runs, True, Path(tmp))
                else:
                    print("(the CNI plugins are not installed: apt-get install containernetworking-plugins)")
        finally:
            cleanup_cgroups()
            subprocess.run(["ip", "link", "del", "labkit-bench0"], capture_output=True)
            lk.reset()
    print(f"\nstart to exit of /bin/true, busybox rootfs, 5 namespaces + cgroup; {layout().kind} cgroups, "
          f"Linux {os.uname().release}")
    print(f"{'':<34} {'median':>8} {'mean':>8} {'min':>8} {'runs':>6}   (ms)")
    for name, ts in results.items():
        print(row(name, ts))
    med = {k: statistics.median(v) * 1000 for k, v in results.items()}
    print()
    for net in ("none", "veth"):
        for ours, ref in ((f"labkit lk.run() ({net})", f"crun run ({net})"), (f"labkit CLI run --rm ({net})", f"runc run ({net})")):
            if ours in med and ref in med:
                print(f"target ({net}): {ours} median <= {ref}'s: {med[ours]:.1f} vs {med[ref]:.1f} ms -> "
                      f"{'met' if med[ours] <= med[ref] else 'not met'}")

if __name__ == "__main__":
    main()
