"""Live plots of a Sampler: one panel per figure, a line per container, each limit drawn on its panel,
OOM kills, limit changes, pauses and starts/stops marked on the time axis.

    m = lk.monitor(c1, c2)                 # shows a figure that redraws itself while they run
    m = lk.monitor(c1, seconds=10)         # samples 10 s (or until c1 is gone), then leaves the figure
    m.save_png("run.png"); m.to_csv("run.csv")

How it draws: with matplotlib's Agg renderer into a PNG, shown through IPython's display with a
display_id and replaced in place (update_display). That needs no ipympl and no widget: it works in
JupyterLab, in VS Code, and headless (nbclient, CI), where the last figure stays in the saved
output as a plain image. Drawing never uses pyplot, whose global state is not thread-safe.
A frame takes ~0.12 s here (a fixed layout: matplotlib's constrained layout took 0.2-0.26 s); a
frame every 0.4 s gives ~2.4 a second for ~30 % of one core while it runs (bench/plot_speed.py).
"""

from __future__ import annotations

import io
import os
import threading
import time

from ..catalog import speaker
from .sampler import Sampler

#: panel -> (the figure drawn, its limit, scale, whole numbers only); its title is the catalog's "plot"
#: entry's <panel>, its unit <panel>_unit ("memory" -> "memory", "MiB")
PANELS = {
    "memory": ("memory_current", "memory_limit", 1 / 2**20, False),
    "cpu": ("cpu_percent", "cpu_limit", 1.0, False),
    "pids": ("pids_current", "pids_limit", 1.0, True),
    "io": ("io_write_bytes", None, 1 / 2**20, False),
    "pressure": ("memory_pressure", None, 1.0, False),
}
#: event kind -> (colour, line style, the catalog's "plot" field its mark says, with {label} and {text})
EVENT_STYLE = {"oom": ("#d62728", "-", "mark_oom"), "limit": ("#555555", ":", "mark_text"),
               "control": ("#1f77b4", ":", "mark_control"), "start": ("#2ca02c", "--", ""),
               "stop": ("#7f7f7f", "--", "mark_text")}

_say = speaker("plot")  # titles, units, legends and marks, in the learner's language
MIN_SPAN = 10.0  # seconds the time axis shows at least: lines grow into it instead of rescaling it each frame


def figure(sampler: Sampler, panels=("memory", "cpu", "pids"), width: float = 9.0, span: float | None = None):
    """The figure now, as a matplotlib Figure. `span`: the time axis's length while sampling (lk.monitor
    passes its seconds=); once the sampler has stopped the axis ends at the last sample."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from .fonts import use_fonts

    use_fonts()  # a Chinese title draws in a CJK font, not as boxes
    fig = Figure(figsize=(width, 2.3 * len(panels)), dpi=90)
    fig.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.22 / len(panels), hspace=0.42)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    colors = {label: f"C{i % 10}" for i, label in enumerate(sampler.labels)}
    events = list(sampler.events)
    last_t = 0.0
    for ax, panel in zip(axes, panels):
        key, limit_key, scale, whole = PANELS[panel]
        title, unit = _say(panel), _say(f"{panel}_unit")
        for label in sampler.labels:
            s = sampler.series(label)
            if s["t"]:
                last_t = max(last_t, s["t"][-1])
            pts = [(t, v) for t, v in zip(s["t"], s[key]) if v is not None]
            if pts:
                ax.plot([t for t, _ in pts], [v * scale for _, v in pts], color=colors[label], label=label, lw=1.6)
            if limit_key:
                lim = [(t, v) for t, v in zip(s["t"], s[limit_key]) if v is not None]
                if lim:
                    mult = 100.0 if panel == "cpu" else scale  # cpu_limit is in CPUs: 0.2 -> 20 %
                    ax.step([t for t, _ in lim], [v * mult for _, v in lim], where="post", color=colors[label],
                            ls="--", lw=1, alpha=0.8, label=_say("limit", label=label))
        if panel == "cpu" and sampler.labels:  # the whole host, for comparison (psutil: % of all CPUs)
            n = os.cpu_count() or 1
            s = sampler.series(sampler.labels[0])
            host = [(t, v * n) for t, v in zip(s["t"], s["host_cpu_percent"]) if v is not None]
            if host:
                ax.plot([t for t, _ in host], [v for _, v in host], color="#999999", lw=1, ls="-.",
                        label=_say("host", n=n, all=n * 100))
        for t, label, kind, text in events:
            color, ls, mark = EVENT_STYLE.get(kind, ("#555555", ":", "mark_text"))
            ax.axvline(t, color=color, ls=ls, lw=1, alpha=0.7)
            if mark and ax is axes[0]:
                # Hung from just under the top, reading downwards, left of its line: inside the axes
                # whatever the label's length (anchored, a rotated label was placed by its middle and
                # ran out over the top).
                ax.annotate(_say(mark, label=label, text=text), (t, 0.97), xycoords=("data", "axes fraction"),
                            fontsize=7, color=color, rotation=90, rotation_mode="anchor", ha="right", va="bottom",
                            annotation_clip=False)
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        # Headroom over the highest line, a limit's included, so that the marks' labels hang above it.
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1] * 1.15, 1e-9) if ax.has_data() else 1)
        if whole:  # a count of processes has no quarters
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = ax.get_legend_handles_labels()
        if handles:  # above the panel, right of its title: never over a line (a limit is often the highest)
            ax.legend(handles, labels, fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.1,
                      ncols=min(4, len(handles)), frameon=False, handlelength=1.8, columnspacing=1.2)
    running = getattr(sampler, "running", False)
    last_t = max([last_t] + [e[0] for e in events])
    right = max(span or MIN_SPAN, last_t) if running else max(last_t * 1.03, 1.0)
    axes[-1].set_xlim(0, right)
    axes[-1].set_xlabel(_say("seconds"), fontsize=8)
    return fig


def render(sampler: Sampler, panels=("memory", "cpu", "pids"), width: float = 9.0, span: float | None = None) -> bytes:
    """The figure now, as PNG bytes."""
    buf = io.BytesIO()
    figure(sampler, panels, width, span).savefig(buf, format="png")
    return buf.getvalue()


class LivePlot:
    """Redraws a Sampler's figure every `refresh` seconds while it runs; the last one stays."""

    def __init__(self, sampler: Sampler, panels=("memory", "cpu", "pids"), refresh: float = 0.4,
                 span: float | None = None):
        unknown = [p for p in panels if p not in PANELS]
        if unknown:
            from ..errors import InvalidArgument

            raise InvalidArgument("error.monitoring.no-panel", unknown_0=unknown[0], join=', '.join(PANELS))
        self.sampler, self.panels, self.refresh = sampler, tuple(panels), max(0.2, float(refresh))
        self.span = span
        self.handle = None
        self._lock = threading.Lock()
        self.png = b""
        self.frames = 0  # drawn so far (bench/plot_speed.py: frames per second)

    def show(self) -> "LivePlot":
        """Display the figure, and redraw it every `refresh` s from a thread of its own while the
        sampler runs (in the sampler's thread a drawing would delay the samples)."""
        from IPython.display import display

        self.png = render(self.sampler, self.panels, span=self.span)
        self.frames += 1
        self.handle = display(self._bundle(), raw=True, display_id=True)
        threading.Thread(target=self._redraw, name="labkit-plot", daemon=True).start()
        return self

    def _redraw(self) -> None:
        # On a fixed cadence: a frame's own drawing time is not added to the wait (a sleep after each
        # frame gave one per refresh + 0.26 s); a frame that overruns its slot skips to the next one.
        next_t = time.monotonic() + self.refresh
        while self.sampler.running:
            time.sleep(max(0.0, next_t - time.monotonic()))
            if not self.sampler.running:
                break
            try:
                self.draw()
            except Exception:  # noqa: BLE001 - a drawing that fails leaves the last one shown
                pass
            next_t += self.refresh
            if next_t < time.monotonic():
                next_t = time.monotonic() + self.refresh
        self.draw()  # the last figure, with everything the sampler saw

    def draw(self) -> bytes:
        with self._lock:
            self.png = render(self.sampler, self.panels, span=self.span)
            self.frames += 1
            if self.handle is not None:
                self.handle.update(self._bundle(), raw=True)
            return self.png

    def describe(self) -> str:
        """The plot in words, in the learner's language: what a screen reader says, and what the book's
        page gives as the image's alt text ("memory, CPU, processes over time: web, db")."""
        return _say("alt", panels=_say("and").join(_say(p) for p in self.panels), labels=", ".join(self.sampler.labels) or "-")

    def _bundle(self) -> dict:
        import base64

        return {"image/png": base64.b64encode(self.png).decode(), "text/plain": self.describe()}

    def save_png(self, path) -> str:
        with open(path, "wb") as f:
            f.write(self.draw())
        return str(path)
