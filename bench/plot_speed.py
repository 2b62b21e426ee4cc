"""How live the live plot is: frames a second while lk.monitor samples a busy container at 10 Hz.

    sudo .venv/bin/python bench/plot_speed.py [--seconds 10]

Issue 15's target: at least two frames a second in the browser (it was about one per 1.3 s: a
refresh of 1 s plus a 0.26 s drawing after it). Printed beside labkit's figures, in the same run:
the drawing time of the same figure with matplotlib's constrained layout (how plot.py drew it
before), as the reference. The frames go to a stand-in for IPython's display, so what is measured
is labkit's side (the browser's own PNG decoding is not in it). This prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import labkit as lk  # noqa: E402
from labkit.monitoring import plot  # noqa: E402


class _Shown:
    """IPython's display handle, counting the frames it is given."""

    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(time.monotonic())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: sudo .venv/bin/python bench/plot_speed.py")
    import IPython.display

    shown = _Shown()
    IPython.display.display = lambda *a, **k: shown
    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        os.environ["LABKIT_ROOT"] = str(Path(tmp) / "root")
        try:
            c = lk.run("busybox", ["sh", "-c", "while :; do :; done"], detach=True, cpus=0.5, memory="64M")
            m = lk.monitor(c, interval=0.1)
            t0 = time.monotonic()
            time.sleep(args.seconds)
            frames = [t for t in shown.updates if t >= t0]
            m.sampler.stop()
            times = []
            for _ in range(10):
                s0 = time.perf_counter()
                plot.render(m.sampler)
                times.append(time.perf_counter() - s0)
            ref = []
            for _ in range(10):
                s0 = time.perf_counter()
                fig = plot.figure(m.sampler)
                fig.set_layout_engine("constrained")
                fig.savefig(io.BytesIO(), format="png")
                ref.append(time.perf_counter() - s0)
            samples = len(m.sampler.samples[c.name])
        finally:
            lk.reset()
    fps = len(frames) / args.seconds
    print(f"\na busy container under lk.monitor(interval=0.1) for {args.seconds:g} s, {os.cpu_count()} CPUs")
    print(f"{'labkit live plot':<40} {fps:5.2f} frames/s   a frame drawn in {statistics.median(times) * 1000:4.0f} ms (median)")
    print(f"{'reference: constrained layout':<40} {'':5} {'':8}   a frame drawn in {statistics.median(ref) * 1000:4.0f} ms (median)")
    print(f"samples taken: {samples} ({samples / args.seconds:.1f} a second)")
    print(f"\ntarget: at least 2 frames a second: {fps:.2f} -> {'met' if fps >= 2 else 'not met'}")


if __name__ == "__main__":
    main()
