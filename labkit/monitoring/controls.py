"""Controls for a running container: drag a slider, watch throttling or an OOM kill happen.

    m = lk.monitor(c)
    lk.controls(c, m)     # memory (MiB) and CPU sliders applied live; start, stop, pause, unpause buttons

Each change goes through labkitd (Container.update), which writes the cgroup files; the panel shows
the files written, and the monitor marks the change on its time axis.
"""

from __future__ import annotations

import os


def controls(container, monitor=None, memory_max: str | int = "512M"):
    """An ipywidgets panel for `container` (a Container or its name)."""
    import ipywidgets as w

    from ..cgroups.units import format_bytes, parse_bytes
    from ..errors import LabkitError
    from ..runtime.client.containers import Container, get

    c = container if isinstance(container, Container) else get(container)
    res = c.config.get("linux", {}).get("resources", {})
    top_mib = max(16, parse_bytes(memory_max) // 2**20)
    mem_now = (res.get("memory", {}).get("limit") or 0) // 2**20 or top_mib
    cpus_now = (res.get("cpu", {}).get("quota") or 0) / 100_000 or float(os.cpu_count() or 1)
    style = {"description_width": "110px"}
    memory = w.IntSlider(value=min(mem_now, top_mib), min=4, max=top_mib, step=4, description="memory (MiB)",
                         continuous_update=False, style=style, layout=w.Layout(width="480px"))
    cpus = w.FloatSlider(value=cpus_now, min=0.05, max=float(os.cpu_count() or 1), step=0.05, description="CPUs",
                         continuous_update=False, style=style, layout=w.Layout(width="480px"))
    status = w.HTML()
    log = w.HTML()

    def show(note: str = "") -> None:
        try:
            r = c.attrs
            status.value = f"<b>{r['name']}</b>: {r['status']}" + (f" (exit {r['exit_code']})" if r["status"] == "exited" else "")
        except LabkitError as e:
            status.value = f"<span style='color:#c33'>{e.message}</span>"
        log.value = f"<code>{note}</code>" if note else ""

    def act(fn, what: str):
        def run(*_):
            try:
                written = fn()
                show("<br>".join(written) if isinstance(written, list) else what)
                if monitor is not None:
                    monitor.sampler.mark(c.name, "limit" if isinstance(written, list) else "control", what)
            except LabkitError as e:
                show(f"{what}: {e.message}" + (f" (hint: {e.hint})" if e.hint else ""))
        return run

    memory.observe(lambda ch: act(lambda: c.update(memory=f"{ch['new']}M"), f"memory {format_bytes(ch['new'] << 20)}")(),
                   names="value")
    cpus.observe(lambda ch: act(lambda: c.update(cpus=ch["new"]), f"CPUs {ch['new']:g}")(), names="value")
    buttons = []
    for label, fn in (("start", c.start), ("stop", lambda: c.stop(timeout=2)), ("pause", c.pause), ("unpause", c.unpause)):
        b = w.Button(description=label, layout=w.Layout(width="90px"))
        b.on_click(act(fn, label))
        buttons.append(b)
    show()
    panel = w.VBox([status, memory, cpus, w.HBox(buttons), log])
    panel.container, panel.memory, panel.cpus, panel.buttons = c, memory, cpus, {b.description: b for b in buttons}
    return panel
