"""Live plots of a Sampler: one panel per figure, a line per container, each limit drawn on its panel,
OOM kills, limit changes and starts/stops marked on the time axis.

    m = lk.monitor(c1, c2)                 # shows a figure that redraws itself while they run
    m = lk.monitor(c1, seconds=10)         # samples 10 s (or until c1 is gone), then leaves the figure
    m.save_png("run.png"); m.to_csv("run.csv")

How it draws: with matplotlib's Agg renderer into a PNG, shown through IPython's display with a
display_id and replaced in place (update_display). That needs no ipympl and no widget: it works in
JupyterLab, in VS Code, and headless (nbclient, CI), where the last figure stays in the saved
output as a plain image. Drawing never uses pyplot, whose global state is not thread-safe.
"""

from __future__ import annotations

import io
import threading
import time

from .sampler import Sampler

#: panel -> (title, y-axis label, the figure drawn, its limit, scale)
PANELS = {
    "memory": ("memory", "MiB", "memory_current", "memory_limit", 1 / 2**20),
    "cpu": ("CPU", "% of one core", "cpu_percent", "cpu_limit", 1.0),
    "pids": ("processes", "count", "pids_current", "pids_limit", 1.0),
    "io": ("I/O written", "MiB", "io_write_bytes", None, 1 / 2**20),
    "pressure": ("memory pressure (PSI avg10)", "%", "memory_pressure", None, 1.0),
}
EVENT_STYLE = {"oom": ("#d62728", "-", "OOM"), "limit": ("#555555", ":", "limit"), "start": ("#2ca02c", "--", ""),
               "stop": ("#7f7f7f", "--", "")}


def render(sampler: Sampler, panels=("memory", "cpu", "pids"), width: float = 9.0) -> bytes:
    """The figure now, as PNG bytes."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, 2.3 * len(panels)), dpi=90, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    colors = {}
    for i, label in enumerate(sampler.labels):
        colors[label] = f"C{i % 10}"
    events = list(sampler.events)
    for ax, panel in zip(axes, panels):
        title, unit, key, limit_key, scale = PANELS[panel]
        for label in sampler.labels:
            s = sampler.series(label)
            pts = [(t, v) for t, v in zip(s["t"], s[key]) if v is not None]
            if pts:
                ax.plot([t for t, _ in pts], [v * scale for _, v in pts], color=colors[label], label=label, lw=1.6)
            if limit_key:
                lim = [(t, v) for t, v in zip(s["t"], s[limit_key]) if v is not None]
                if lim:
                    mult = 100.0 if panel == "cpu" else scale  # cpu_limit is in CPUs: 0.2 -> 20 %
                    ax.step([t for t, _ in lim], [v * mult for _, v in lim], where="post", color=colors[label],
                            ls="--", lw=1, alpha=0.8, label=f"{label} limit")
        if panel == "cpu" and sampler.labels:  # the whole host, for comparison (psutil: % of all CPUs)
            import os

            s = sampler.series(sampler.labels[0])
            host = [(t, v * (os.cpu_count() or 1)) for t, v in zip(s["t"], s["host_cpu_percent"]) if v is not None]
            if host:
                ax.plot([t for t, _ in host], [v for _, v in host], color="#999999", lw=1, ls="-.", label="host")
        for t, label, kind, text in events:
            color, ls, short = EVENT_STYLE.get(kind, ("#555555", ":", kind))
            ax.axvline(t, color=color, ls=ls, lw=1, alpha=0.7)
            if short and ax is axes[0]:
                ax.annotate(f"{short} {label}" if kind != "limit" else text, (t, 1), xycoords=("data", "axes fraction"),
                            fontsize=7, color=color, rotation=90, va="top", ha="right")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("seconds", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        axes[0].legend(handles, labels, fontsize=7, loc="upper left", ncols=min(4, len(handles)))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


class LivePlot:
    """Redraws a Sampler's figure every `refresh` seconds while it runs; the last one stays."""

    def __init__(self, sampler: Sampler, panels=("memory", "cpu", "pids"), refresh: float = 1.0):
        unknown = [p for p in panels if p not in PANELS]
        if unknown:
            from ..errors import InvalidArgument

            raise InvalidArgument(f"no panel {unknown[0]!r}", hint=f"choose from {', '.join(PANELS)}.")
        self.sampler, self.panels, self.refresh = sampler, tuple(panels), max(0.2, float(refresh))
        self.handle = None
        self._lock = threading.Lock()
        self.png = b""

    def show(self) -> "LivePlot":
        """Display the figure, and redraw it every `refresh` s from a thread of its own while the
        sampler runs (drawing takes ~0.1-1 s: in the sampler's thread it would delay the samples)."""
        from IPython.display import Image, display

        self.png = render(self.sampler, self.panels)
        self.handle = display(Image(data=self.png), display_id=True)
        threading.Thread(target=self._redraw, name="labkit-plot", daemon=True).start()
        return self

    def _redraw(self) -> None:
        time.sleep(self.refresh)
        while self.sampler.running:
            try:
                self.draw()
            except Exception:  # noqa: BLE001 - a drawing that fails leaves the last one shown
                pass
            time.sleep(self.refresh)
        self.draw()  # the last figure, with everything the sampler saw

    def draw(self) -> bytes:
        with self._lock:
            self.png = render(self.sampler, self.panels)
            if self.handle is not None:
                from IPython.display import Image

                self.handle.update(Image(data=self.png))
            return self.png

    def save_png(self, path) -> str:
        with open(path, "wb") as f:
            f.write(self.draw())
        return str(path)
