"""A container's network: labkit beside the CNI bridge plugin, and what it adds to a start.

    sudo .venv/bin/python bench/network_speed.py [--runs 30] [--many 200]

  setup   labkit's network step (a namespace, a veth on the bridge, an address from the pool,
          lo/eth0 up, the default route: the "veth" line of --trace)  vs  the CNI bridge plugin
          with host-local IPAM (/usr/lib/cni/bridge, CNI_COMMAND=ADD on an empty `ip netns`),
          each run once per round, in turns                         (target: <= the plugin's median)
  start   `labkit run --rm busybox true` with the default bridge network vs --network none
                                                                    (target: at most 1.5x)
  many    --many containers on one network at once; the first pings every other, each other
          pings the first                                           (target: all reach each other)

Issue 13's targets. Prints the figures and says met or not; asserts nothing. Everything runs in a
temporary lab (its own bridge, subnet and rules), reset at the end; no packet leaves the machine.
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
CNI = Path("/usr/lib/cni")


def cni_add(conf: str, n: int, tmp: Path) -> float:
    """One ADD of the bridge plugin into a fresh netns; returns its seconds (the netns is made first)."""
    ns = f"labkit-cnibench{n}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    env = {**os.environ, "CNI_COMMAND": "ADD", "CNI_CONTAINERID": f"c{n}", "CNI_NETNS": f"/run/netns/{ns}",
           "CNI_IFNAME": "eth0", "CNI_PATH": str(CNI)}
    t = time.perf_counter()
    r = subprocess.run([str(CNI / "bridge")], input=conf, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"the CNI bridge plugin failed: {r.stdout} {r.stderr}")
    return took


def cni_cleanup(conf: str, count: int) -> None:
    for n in range(count):
        ns = f"labkit-cnibench{n}"
        env = {**os.environ, "CNI_COMMAND": "DEL", "CNI_CONTAINERID": f"c{n}", "CNI_NETNS": f"/run/netns/{ns}",
               "CNI_IFNAME": "eth0", "CNI_PATH": str(CNI)}
        subprocess.run([str(CNI / "bridge")], input=conf, env=env, capture_output=True, text=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "link", "del", "labkit-cni0"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--many", type=int, default=200)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: sudo .venv/bin/python bench/network_speed.py")
    if not (CNI / "bridge").exists():
        raise SystemExit("the CNI plugins are missing: apt-get install containernetworking-plugins")
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-", dir="/var/tmp"))
    os.environ["LABKIT_ROOT"] = str(tmp / "root")
    os.environ["LABKIT_OFFLINE"] = "1"
    import labkit as lk

    conf = json.dumps({"cniVersion": "1.0.0", "name": "labkit-cnibench", "type": "bridge", "bridge": "labkit-cni0",
                       "isGateway": True, "ipMasq": False,
                       "ipam": {"type": "host-local", "subnet": "10.252.0.0/16", "dataDir": str(tmp / "cni-ipam")}})
    labkit_cli = [sys.executable, "-m", "labkit"]
    try:
        lk.run("busybox", "true", rm=True, stream=False)  # the bridge, the rules and labkitd, made once
        setup, cni, with_net, without = [], [], [], []
        for i in range(args.runs):
            r = lk.run("busybox", "true", rm=True, stream=False, trace=True)
            setup.append(next(d for s, d in r.trace if "veth" in s) / 1000)
            cni.append(cni_add(conf, i, tmp))
            for mode, out in (("bridge", with_net), ("none", without)):
                t = time.perf_counter()
                subprocess.run([*labkit_cli, "run", "--rm", "--network", mode, "busybox", "true"], check=True)
                out.append(time.perf_counter() - t)
        cni_cleanup(conf, args.runs)

        # many at once, on one user-defined network
        lk.network.create("bench")
        t = time.perf_counter()
        boxes = [lk.run("busybox", "sleep 3600", network="bench", detach=True) for _ in range(args.many)]
        started = time.perf_counter() - t
        addrs = lk.network.inspect("bench").containers
        ips = [addrs[c.name] for c in boxes]
        script = " ".join(ips[1:])
        first = boxes[0].exec(["sh", "-c", f"n=0; for ip in {script}; do ping -c1 -W2 $ip >/dev/null && n=$((n+1)); done; echo $n"])
        back = sum(c.exec(["ping", "-c1", "-W2", ips[0]]).exit_code == 0 for c in boxes[1:])
        for c in boxes:
            c.remove(force=True)
        lk.network.rm("bench")
    finally:
        subprocess.run([*labkit_cli, "reset", "--yes"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    med = lambda xs: statistics.median(xs) * 1000  # noqa: E731
    print(f"\nLinux {os.uname().release}, {os.cpu_count()} CPUs; {args.runs} runs each, in turns (medians, ms)")
    print(f"{'network set-up: labkit':<40} {med(setup):>8.2f}   (min {min(setup) * 1000:.2f})")
    print(f"{'network set-up: CNI bridge + host-local':<40} {med(cni):>8.2f}   (min {min(cni) * 1000:.2f})")
    print(f"{'labkit run --rm busybox true (bridge)':<40} {med(with_net):>8.2f}")
    print(f"{'labkit run --rm busybox true (none)':<40} {med(without):>8.2f}")
    print(f"\ntarget: set-up <= the CNI plugin's median: {med(setup):.2f} vs {med(cni):.2f} ms -> "
          f"{'met' if med(setup) <= med(cni) else 'not met'}")
    ratio = med(with_net) / med(without)
    print(f"target: a start with the bridge network <= 1.5x one without: {ratio:.2f}x -> {'met' if ratio <= 1.5 else 'not met'}")
    reached = int(first.stdout.strip() or 0)
    print(f"target: {args.many} networked containers at once (started in {started:.1f} s): the first reached "
          f"{reached} of {args.many - 1}, {back} of {args.many - 1} reached the first -> "
          f"{'met' if reached == back == args.many - 1 else 'not met'}")


if __name__ == "__main__":
    main()
