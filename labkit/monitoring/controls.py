"""Controls for a running container: drag a slider, watch throttling or an OOM kill happen.

    m = lk.monitor(c)
    lk.controls(c, m)     # memory and CPU sliders applied live; start, stop, pause, unpause buttons

Each change goes through labkitd (Container.update), which writes the cgroup files; the panel shows
the files written. The monitor's sampler sees a limit change in the kernel's files and marks it once
on the time axis ("memory 64MiB -> 32MiB"); pause and unpause, which change no limit, are marked here.
"""

from __future__ import annotations

import html
import os
import threading

from ..catalog import speaker

#: the memory slider's stops, MiB: fine steps where an OOM kill is near, coarse ones above
MEMORY_STOPS = (8, 12, 16, 24, 32, 40, 48, 56, 64, 80, 96, 128, 160, 192, 256, 384, 512, 768, 1024, 1536, 2048,
                3072, 4096, 6144, 8192, 12288, 16384)
NONE = "none"
_say = speaker("controls")  # its words, in the learner's language
REFRESH = 1.0  # seconds between two looks at the container's status


def memory_options(limit_mib: int | None, host_mib: int) -> list[tuple[str, object]]:
    """The memory slider's stops as (label, value): the container's own limit among them, up to four
    times it (at least 1 GiB; never past the host's memory), and "none" at the top when the container
    has no limit (its starting value). A limit far above what the container uses would flatten the
    plot's memory line against its axis (the plot scales to the limit line): 8 GiB on a 64 MiB hog."""
    top = min(host_mib, max(1024, 4 * (limit_mib or 256)))
    stops = sorted({s for s in MEMORY_STOPS if s <= top} | ({limit_mib} if limit_mib else set()))
    out: list[tuple[str, object]] = [(f"{s} MiB", s) for s in stops]
    return out + ([] if limit_mib else [(_say("none"), NONE)])


def update_memory(c, mib: int, tries: int = 8) -> list[str]:
    """c.update(memory=...), tried again for up to 2 s while cgroup v1 refuses it: v1 first reclaims
    (caches, swap) and fails the write with EBUSY only when it cannot get the group below the new
    limit, killing nothing; v2 takes the limit at once, reclaims, and OOM-kills if it must.
    A hog whose usage rises and falls is below the new limit a moment later, and then meets it."""
    import time

    from ..errors import LimitRefused

    for attempt in range(tries):
        try:
            return c.update(memory=f"{mib}M")
        except LimitRefused:
            if attempt == tries - 1:
                raise
            time.sleep(0.25)
    return []


def controls(container, monitor=None):
    """An ipywidgets panel for `container` (a Container or its name): the memory slider starts at its
    limit ("none" without one), the CPU slider at its quota (all CPUs without one)."""
    import ipywidgets as w
    import psutil

    from ..errors import LabkitError, NotFound
    from ..runtime.client.containers import Container, get

    c = container if isinstance(container, Container) else get(container)
    res = c.config.get("linux", {}).get("resources", {})
    limit_mib = (res.get("memory", {}).get("limit") or 0) // 2**20 or None
    cpus_now = (res.get("cpu", {}).get("quota") or 0) / 100_000 or float(os.cpu_count() or 1)
    style = {"description_width": "110px"}
    memory = w.SelectionSlider(options=memory_options(limit_mib, psutil.virtual_memory().total >> 20),
                               value=limit_mib or NONE, description=_say("memory"), continuous_update=False,
                               style=style, layout=w.Layout(width="480px"))
    cpus = w.FloatSlider(value=cpus_now, min=0.05, max=float(os.cpu_count() or 1), step=0.05, description=_say("cpus"),
                         continuous_update=False, style=style, layout=w.Layout(width="480px"))
    status = w.HTML()
    log = w.HTML()

    def show(note: str | None = "") -> bool:
        """The container's status line (and the last action's note, unless None); False once it is gone."""
        try:
            r = c.attrs
            status.value = (f"<b>{html.escape(r['name'])}</b>: {html.escape(_say('status_' + r['status'], r['status']))}"
                            + (f" ({html.escape(_say('exit', code=r['exit_code']))})" if r["status"] == "exited" else ""))
            alive = True
        except NotFound:  # removed, say by a clean-up cell further down after Run All
            status.value = f"<span style='color:#c33'>{html.escape(gone_text(c.name))}</span>"
            for widget in (memory, cpus, *buttons.values()):
                widget.disabled = True
            alive = False
        except LabkitError as e:
            status.value = f"<span style='color:#c33'>{e.message}</span>"
            alive = True
        if note is not None:
            log.value = f"<code>{note}</code>" if note else ""
        return alive

    def act(fn, what: str, mark: bool = False):
        def run(*_):
            try:
                written = fn()
                show("<br>".join(written) if isinstance(written, list) else what)
                if mark and monitor is not None:
                    monitor.sampler.mark(c.name, "control", what)
            except LabkitError as e:
                show(f"{what}: {e.message}" + (f" ({_say('hint')}: {e.hint})" if e.hint else ""))
        return run

    def memory_changed(ch):
        if ch["new"] == NONE:
            show(_say("keep_limit"))
            return
        act(lambda: update_memory(c, ch["new"]), _say("set_memory", mib=ch["new"]))()

    memory.observe(memory_changed, names="value")
    cpus.observe(lambda ch: act(lambda: c.update(cpus=ch["new"]), _say("set_cpus", cpus=f"{ch['new']:g}"))(), names="value")
    buttons = {}  # by ID ("pause"); each shows its word in the learner's language
    for key, fn in (("start", c.start), ("stop", lambda: c.stop(timeout=2)), ("pause", c.pause), ("unpause", c.unpause)):
        b = w.Button(description=_say(key), layout=w.Layout(width="90px"))
        # start and stop show on the plot by themselves (the cgroup comes and goes); pause changes nothing it reads
        b.on_click(act(fn, _say(key), mark=key in ("pause", "unpause")))
        buttons[key] = b
    panel = w.VBox([status, memory, cpus, w.HBox(list(buttons.values())), log])
    panel.container, panel.memory, panel.cpus, panel.buttons = c, memory, cpus, buttons
    panel.refresh = lambda: show(None)
    if show():
        # The status line follows the container: an exit, a pause from a cell, a removal (then the
        # controls go grey) show within a second, for as long as the panel is on the page.
        def follow() -> None:
            while not stop.wait(REFRESH) and getattr(panel, "comm", None) is not None and show(None):
                pass

        stop = threading.Event()
        panel.stop_following = stop.set
        threading.Thread(target=follow, name=f"labkit-controls-{c.name}", daemon=True).start()
    return panel


def gone_text(name: str) -> str:
    """The panel's line for a container that no longer exists, from the catalog."""
    from .. import catalog

    return catalog.text("controls", "gone", "{name}: gone", name=name)
