"""Live resource monitoring: what a limit does, seen as it happens.

    m = lk.monitor(c1, c2, interval=0.2)          # sample in the background, redraw live
    m = lk.monitor(c1, seconds=10)                # or: sample 10 s, then leave the final figure
    lk.controls(c1, m)                            # sliders for memory and CPUs, start/stop/pause buttons
    m.sampler.events; m.to_csv("run.csv"); m.save_png("run.png"); m.stop()

probe.py reads a cgroup's files cheaply; sampler.py keeps the figures in ring buffers from a
background thread; plot.py draws them; controls.py changes limits while it runs.
"""

from __future__ import annotations

from .sampler import Sampler


class Monitor:
    """A Sampler and its live plot, as lk.monitor returns them."""

    def __init__(self, sampler: Sampler, plot):
        self.sampler, self.plot = sampler, plot

    def stop(self) -> None:
        self.sampler.stop()
        self.plot.draw()

    def wait(self, timeout: float | None = None) -> "Monitor":
        self.sampler.wait(timeout)
        return self

    def to_csv(self, path) -> str:
        return self.sampler.to_csv(path)

    def save_png(self, path) -> str:
        return self.plot.save_png(path)

    @property
    def events(self) -> list:
        return list(self.sampler.events)

    def __repr__(self) -> str:
        return f"<Monitor {self.sampler!r}>"


def monitor(*targets, interval: float = 0.5, seconds: float | None = None, panels=("memory", "cpu", "pids"),
            refresh: float = 0.4, keep: int = 1200) -> Monitor:
    """Sample `targets` (containers, names, lk.cgroup groups) every `interval` s and plot them live.

    seconds=None: returns at once; the figure redraws every `refresh` s until they are all gone or
    m.stop(). seconds=N: blocks N s (or until they are gone), then stops: the cell's output keeps
    the final figure, also when the notebook runs headless; its time axis spans N s from the start.

    Sampling starts before the first drawing: the first one (matplotlib's import, ~0.7 s) would
    otherwise leave the first second without a sample, and a memory limit's steps as one diagonal."""
    from .plot import LivePlot

    sampler = Sampler(*targets, interval=interval, keep=keep)
    plot = LivePlot(sampler, panels, refresh, span=seconds)
    sampler.start()
    plot.show()
    m = Monitor(sampler, plot)
    if seconds is not None:
        sampler.wait(seconds)
        m.stop()
    return m


__all__ = ["Monitor", "Sampler", "monitor"]
