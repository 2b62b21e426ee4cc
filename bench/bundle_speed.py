"""A workshop bundle: its size, and how long set-up from it takes with no network.

    sudo .venv/bin/python bench/bundle_speed.py [--no-debs]

Issue 16's targets: the bundle for the lab's own needs under 400 MB; `./lab setup --from` on this
2-core VM under 2 minutes. Printed beside them, measured in the same run: `tar -xf` of the same
bundle, and `pip install --no-index` of its wheels into an empty venv — what set-up from a bundle
cannot do without, so the rest (the hash checks, labkit's build, the images) is the difference.
Set-up runs inside `unshare -n`: a network namespace with no interface, so nothing can be fetched;
with the Debian packages, also in a bare Debian root (tests/bareroot.py), as on a learner's fresh VM.
This prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import bareroot  # noqa: E402  (the bare Debian root the room test sets up in)


def timed(cmd, **kw) -> float:
    t = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    return time.monotonic() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-debs", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: sudo .venv/bin/python bench/bundle_speed.py")
    with tempfile.TemporaryDirectory(prefix="labkit-bench-", dir="/var/tmp") as tmp:
        tmp = Path(tmp)
        bundle = tmp / "workshop.tar"
        env = dict(os.environ, LABKIT_LINK="off")
        made = timed([str(REPO / "lab"), "bundle", str(bundle)] + (["--no-debs"] if args.no_debs else []), env=env)
        mib = bundle.stat().st_size / 2**20
        room = None
        if not args.no_debs and (bareroot.root_path() / "usr" / "bin" / "python3").exists():
            # the room's path: a bare Debian (minbase + python3), no network, apt installing from the bundle
            t = time.monotonic()
            r = bareroot.set_up(bundle, tmp / "bare", timeout=900)
            room = time.monotonic() - t if r.returncode == 0 else None
            said = [line for line in r.stdout.splitlines() if line.startswith("=== set-up took")]
            room_setup = float(said[0].split()[3]) if said else None
        ours = timed(["unshare", "-n", str(REPO / "lab"), "setup", "--from", str(bundle)],
                     env=dict(env, LABKIT_VENV=str(tmp / "venv"), LABKIT_ROOT=str(tmp / "root")))
        subprocess.run([str(tmp / "venv" / "bin" / "labkit"), "reset", "--yes"], env=dict(env, LABKIT_ROOT=str(tmp / "root")),
                       capture_output=True)
        (tmp / "x").mkdir()
        untar = timed(["tar", "-xf", str(bundle), "-C", str(tmp / "x")])
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(tmp / "ref")], check=True)
        pip = timed(["unshare", "-n", str(tmp / "ref" / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index",
                     "--find-links", str(tmp / "x" / "wheels"), "-r", str(tmp / "x" / "lock.txt")])
    print(f"\nbundle {'without' if args.no_debs else 'with'} Debian packages, Python {sys.version_info[0]}.{sys.version_info[1]}, "
          f"{os.cpu_count()} CPUs; made in {made:.0f} s")
    print(f"{'bundle size':<52} {mib:7.1f} MiB   (target < 400)")
    print(f"{'./lab setup --from, no network':<52} {ours:7.1f} s     (target < 120)")
    if room is not None:
        print(f"{'  in a bare Debian root (apt from the bundle too)':<52} {room_setup or 0:7.1f} s     "
              f"(with the doctor and a container: {room:.1f} s)")
    elif not args.no_debs:
        print("  (no bare Debian root: `sudo ./lab test` makes one at set-up; tests/bareroot.py)")
    print(f"{'reference: tar -xf of the same bundle':<52} {untar:7.1f} s")
    print(f"{'reference: pip install --no-index of its wheels':<52} {pip:7.1f} s")
    print(f"\ntargets: size {'met' if mib < 400 else 'not met'}, set-up {'met' if ours < 120 else 'not met'}")


if __name__ == "__main__":
    main()
