"""The table `./lab test` prints at its end: how long set-up and each leg took, and the slowest tests
of both legs (from the LABKIT_TEST_TIMES files conftest.py writes).

    python tests/timings.py --setup 41 --host 430 --vm 655 --wall 700 test-artifacts/times-host.json test-artifacts/times-vm.json

The two legs run side by side, so "in all" is set-up plus the wall time (--wall), not their sum.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def table(setup: float, host: float, vm: float | None, files: list[str], top: int = 10,
          wall: float | None = None) -> str:
    rows = [("set-up", setup), ("host leg", host)] + ([("cgroup v2 VM leg", vm)] if vm is not None else [])
    lines = [f"{'step':<44} {'seconds':>8}"]
    lines += [f"{name:<44} {t:8.0f}" for name, t in rows]
    total = setup + wall if wall is not None else sum(t for _, t in rows)
    lines.append(f"{'in all' + (' (legs side by side)' if wall is not None and vm is not None else ''):<44} {total:8.0f}")
    times = []
    for f in files:
        leg = "vm" if "vm" in Path(f).name else "host"
        try:
            times += [(t, leg, test) for test, t in json.loads(Path(f).read_text()).items()]
        except (OSError, ValueError):
            continue
    if times:
        lines.append("")
        lines.append(f"the {min(top, len(times))} slowest tests (of {len(times)}):")
        for t, leg, test in sorted(times, reverse=True)[:top]:
            lines.append(f"  {t:7.1f} s  {leg:<4}  {test}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--setup", type=float, required=True)
    ap.add_argument("--host", type=float, required=True)
    ap.add_argument("--vm", type=float)
    ap.add_argument("--wall", type=float, help="seconds from the first leg's start to the last one's end")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    print(table(a.setup, a.host, a.vm, a.files, wall=a.wall))


if __name__ == "__main__":
    main()
