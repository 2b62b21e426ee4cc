"""The same docker CLI against labkit's Docker API and against Debian's dockerd, in one run.

    sudo .venv/bin/python bench/docker_api_speed.py [--runs 20] [--many 200]
    (needs Debian's docker.io for dockerd: apt-get install docker.io; it is started here only)

  run   `docker run --rm --network none busybox true`, labkit and dockerd in turns
        (target: labkit at most a quarter of dockerd's median)
  ps    `docker ps` against labkit with --many containers running (target: under 200 ms)

dockerd runs as ../shared/notes/platform.md describes, changing nothing on the host: no iptables,
no bridge, its data and exec roots and socket in a temporary folder, its containers' cgroups under
the temporary lab's own group (--cgroup-parent /labkit.<tag>/dockerd, which the lab's reset
removes), stopped by its PID at the end. Its busybox is labkit's own
busybox layer, imported (`docker import`). The lab is a temporary one, reset at the end. Prints the
figures and says met or not; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--many", type=int, default=200)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: sudo .venv/bin/python bench/docker_api_speed.py")
    for tool in ("docker", "dockerd"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing: apt-get install docker.io")
    tmp = Path(tempfile.mkdtemp(prefix="labkit-bench-", dir="/var/tmp"))
    os.environ["LABKIT_ROOT"] = str(tmp / "lab")
    os.environ["LABKIT_OFFLINE"] = "1"
    import labkit as lk
    from labkit.images import default
    from labkit.images.store import ImageStore
    from labkit.paths import instance

    inst = instance()
    labkit_sock = f"unix://{inst.run / 'docker.sock'}"
    d = tmp / "dockerd"
    d.mkdir()
    dockerd_sock = f"unix://{d / 'docker.sock'}"
    log = open(d / "dockerd.log", "w")
    daemon = subprocess.Popen(["dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
                               "--data-root", str(d / "root"), "--exec-root", str(d / "exec"), "-H", dockerd_sock,
                               "--pidfile", str(d / "docker.pid"), "--cgroup-parent", f"/{inst.tag}/dockerd"],
                              stdout=log, stderr=log)
    try:
        lk.run("busybox", "true", rm=True, stream=False, network="none")  # labkitd, and its busybox, ready
        for _ in range(300):
            if subprocess.run(["docker", "-H", dockerd_sock, "version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        store = ImageStore(inst)
        layer = store.layer_dir(store.get(default.NAME).layers[0][1])
        tar = subprocess.Popen(["tar", "-C", str(layer), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", dockerd_sock, "import", "-", "busybox:latest"], stdin=tar.stdout, check=True,
                       stdout=subprocess.DEVNULL)
        tar.wait()
        runs = {"labkit": [], "dockerd": []}
        for sock in (labkit_sock, dockerd_sock):  # one warm-up each
            timed(["docker", "-H", sock, "run", "--rm", "--network", "none", "busybox", "true"])
        for _ in range(args.runs):
            for name, sock in (("labkit", labkit_sock), ("dockerd", dockerd_sock)):
                runs[name].append(timed(["docker", "-H", sock, "run", "--rm", "--network", "none", "busybox", "true"]))
        boxes = [lk.run("busybox", "sleep 3600", detach=True, network="none") for _ in range(args.many)]
        ps = [timed(["docker", "-H", labkit_sock, "ps"]) for _ in range(10)]
        listed = subprocess.run(["docker", "-H", labkit_sock, "ps", "-q"], capture_output=True, text=True).stdout.split()
        for c in boxes:
            c.remove(force=True)
    finally:
        daemon.send_signal(signal.SIGTERM)  # our own child, by its PID
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        subprocess.run([sys.executable, "-m", "labkit", "reset", "--yes"], capture_output=True)
        for line in reversed(open("/proc/self/mountinfo").read().splitlines()):  # dockerd's, if any is left
            point = line.split()[4]
            if point.startswith(str(tmp)):
                subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(v) * 1000 for k, v in runs.items()}
    print(f"\nLinux {os.uname().release}, {os.cpu_count()} CPUs; the docker CLI {subprocess.run(['docker', '--version'], capture_output=True, text=True).stdout.split(',')[0]}")
    print(f"docker run --rm --network none busybox true, {args.runs} runs each in turns (median, min; ms)")
    for name, v in runs.items():
        print(f"  {name:<8} {med[name]:8.1f} {min(v) * 1000:8.1f}")
    print(f"docker ps against labkit with {args.many} containers running (listed {len(listed)}): "
          f"median {statistics.median(ps) * 1000:.1f} ms, min {min(ps) * 1000:.1f}")
    print(f"\ntarget: labkit at most a quarter of dockerd: {med['labkit']:.1f} vs {med['dockerd'] / 4:.1f} ms "
          f"(dockerd/4) -> {'met' if med['labkit'] <= med['dockerd'] / 4 else 'not met'}")
    print(f"target: docker ps with {args.many} containers under 200 ms: {statistics.median(ps) * 1000:.1f} ms -> "
          f"{'met' if statistics.median(ps) < 0.2 and len(listed) == args.many else 'not met'}")


if __name__ == "__main__":
    main()
