"""Live monitoring against real cgroups: the sampler's figures, OOM and limit marks, the plots, the controls."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest

import labkit as lk
from labkit import cgroups
from labkit.monitoring.plot import render
from labkit.monitoring.probe import Probe
from labkit.monitoring.sampler import Sampler



@pytest.mark.v2
def test_memory_rising_in_steps_and_the_oom_kill_are_seen(box):
    # Each step keeps 8 MiB in /dev/shm (tmpfs pages are charged to the container); the fifth hits 40M.
    c = lk.run("busybox", ["sh", "-c", "for i in 1 2 3 4 5 6; do dd if=/dev/zero of=/dev/shm/f$i bs=1M count=8 "
                           "2>/dev/null; sleep 0.4; done; sleep 0.5"], detach=True, memory="40M", name="steps")
    box.append(c)
    s = Sampler(c, interval=0.05).start()
    s.wait(120)  # it stops by itself when the container is gone
    assert not s.running
    mem = [m for m in s.series("steps")["memory_current"] if m is not None]
    assert max(mem) > 24 << 20 and max(mem) <= 40 << 20
    assert mem.index(max(mem)) > 0 and mem[0] < max(mem) - (16 << 20)  # it rose
    kinds = [k for _t, label, k, _ in s.events if label == "steps"]
    assert kinds[0] == "start" and "oom" in kinds and kinds[-1] == "stop"
    assert s.series("steps")["memory_limit"][0] == 40 << 20


@pytest.mark.v2
def test_a_cpu_bound_container_under_a_fifth_of_a_cpu_reads_near_20_percent(box):
    c = lk.run("busybox", ["sh", "-c", "while :; do :; done"], detach=True, cpus=0.2, name="hog")
    box.append(c)
    s = Sampler(c, interval=0.25).start()
    time.sleep(3.5)
    s.stop()
    cpu = [x for x in s.series("hog")["cpu_percent"] if x is not None][2:]  # past the first periods
    mean = sum(cpu) / len(cpu)
    assert 12 <= mean <= 28, cpu
    assert all(x == 0.2 for x in s.series("hog")["cpu_limit"]), s.series("hog")["cpu_limit"]
    assert s.latest("hog")["cpu_throttled_us"] > 0


@pytest.mark.v2
def test_a_limit_change_while_running_is_written_and_marked(box):
    c = lk.run("busybox", "sleep 600", detach=True, memory="64M", name="limits")
    box.append(c)
    s = Sampler(c, interval=0.05).start()
    time.sleep(0.3)
    written = c.update(memory="48M", cpus=0.5, pids_limit=30)
    assert any(w.split(" <- ")[1].startswith(repr(str(48 << 20))) for w in written), written
    time.sleep(0.4)
    s.stop()
    texts = [text for _t, _l, kind, text in s.events if kind == "limit"]
    assert "memory 64MiB -> 48MiB" in texts and "pids none -> 30" in texts, texts
    assert c.config["linux"]["resources"]["memory"]["limit"] == 48 << 20  # kept for its next start
    with pytest.raises(lk.InvalidArgument):
        c.update()


@pytest.mark.v2
def test_the_probe_reads_what_stats_reads(box):
    c = lk.run("busybox", "sleep 600", detach=True, memory="32M", pids_limit=7)
    box.append(c)
    g = cgroups.group(c.attrs["cgroup"])
    p = Probe(g)
    try:
        fig, st = p.read(), g.stats()
        assert fig["memory_limit"] == st.memory_limit == 32 << 20
        assert fig["pids_limit"] == st.pids_limit == 7 and fig["pids_current"] == st.pids_current == 1
        assert fig["oom_kills"] == st.oom_kills == 0
    finally:
        p.close()


def test_plots_render_headless_and_export(box, tmp_path):
    c = lk.run("busybox", ["sh", "-c", "sleep 1"], detach=True, name="drawn")
    box.append(c)
    s = Sampler(c, interval=0.1).start()
    s.wait(60)
    png = render(s, ("memory", "cpu", "pids", "io"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width > 400 and height > 400
    out = s.to_csv(tmp_path / "run.csv")
    lines = Path(out).read_text().splitlines()
    assert lines[0].startswith("t,target,memory_current") and len(lines) > 3 and ",drawn," in lines[1]
    with pytest.raises(lk.InvalidArgument):
        Sampler(c, interval=0)


def test_monitor_blocks_then_leaves_the_final_figure(box, tmp_path):
    c = lk.run("busybox", ["sh", "-c", "sleep 1"], detach=True, name="watched")
    box.append(c)
    m = lk.monitor(c, interval=0.1, seconds=30)  # returns when the container is gone
    assert not m.sampler.running and m.plot.png.startswith(b"\x89PNG")
    assert Path(m.save_png(tmp_path / "f.png")).read_bytes().startswith(b"\x89PNG")


@pytest.mark.v2
def test_controls_build_and_their_callbacks_change_the_cgroup(box):
    c = lk.run("busybox", "sleep 600", detach=True, memory="40M", name="knobs")
    box.append(c)
    m = lk.monitor(c, interval=0.05)
    panel = lk.controls(c, m)
    assert panel.memory.value == 40  # starts at the container's own limit, which is one of its stops
    g = cgroups.group(c.attrs["cgroup"])
    panel.memory.value = 32
    assert g.stats().memory_limit == 32 << 20
    panel.cpus.value = 0.25
    assert c.config["linux"]["resources"]["cpu"]["quota"] == 25000
    panel.buttons["pause"].click()
    assert c.status == "paused"
    panel.buttons["unpause"].click()
    time.sleep(0.5)  # a few samples, so the sampler sees the new limit in the kernel's files
    m.stop()
    marks = [(kind, text) for _t, _l, kind, text in m.sampler.events if kind in ("limit", "control")]
    # each change once: the sampler's mark from the kernel's file, none of the panel's own besides pause/unpause
    assert [t for k, t in marks if t.startswith("memory")] == ["memory 40MiB -> 32MiB"], marks
    assert ("control", "pause") in marks and ("control", "unpause") in marks, marks
    panel.buttons["stop"].click()
    assert c.status == "exited"


def test_the_memory_slider_stops_where_the_plot_still_shows_the_container():
    from labkit.monitoring.controls import memory_options

    stops = [v for _, v in memory_options(256, 24000)]
    assert stops[-1] == 1024 and 256 in stops and 8 in stops  # 4x the limit, at least 1 GiB: not 16 GiB
    assert [v for _, v in memory_options(40, 512)][-1] == 512  # never past the host's memory
    unlimited = memory_options(None, 24000)
    assert unlimited[-1] == ("none", "none") and unlimited[-2] == ("1024 MiB", 1024)


def test_the_panel_follows_its_container_and_goes_grey_when_it_is_removed(box):
    """After Run All a clean-up cell further down removes the container: the panel must not go on
    saying "running" and offer buttons that fail (issue 24)."""
    c = lk.run("busybox", "sleep 600", detach=True, name="knobs-gone")
    box.append(c)
    panel = lk.controls(c)
    assert "running" in panel.children[0].value and not panel.buttons["pause"].disabled
    c.pause()  # from a cell, not the panel: the line follows within a second or so
    _until(lambda: "paused" in panel.children[0].value, 10)
    c.remove(force=True)
    _until(lambda: panel.buttons["pause"].disabled, 10)
    assert "knobs-gone" in panel.children[0].value and "no longer exists" in panel.children[0].value
    assert panel.memory.disabled and panel.cpus.disabled and all(b.disabled for b in panel.buttons.values())


def _until(check, seconds):
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the panel did not follow"
        time.sleep(0.05)


@pytest.mark.v2
def test_the_memory_slider_of_a_container_without_a_limit_says_none(box):
    c = lk.run("busybox", "sleep 600", detach=True, name="free")
    box.append(c)
    panel = lk.controls(c)
    assert panel.memory.value == "none" and panel.memory.options[-1] == ("none", "none")
    assert cgroups.group(c.attrs["cgroup"]).stats().memory_limit is None  # showing the panel set nothing
    panel.memory.value = 64
    assert cgroups.group(c.attrs["cgroup"]).stats().memory_limit == 64 << 20


@pytest.mark.v2
def test_monitor_samples_before_its_first_drawing(box, monkeypatch):
    # the first drawing imports matplotlib (~0.7 s): sampling after it left the first second empty
    from labkit.monitoring import plot

    seen = []
    real = plot.render
    monkeypatch.setattr(plot, "render", lambda s, *a, **k: seen.append(s.running) or real(s, *a, **k))
    c = lk.run("busybox", "sleep 600", detach=True, name="early")
    box.append(c)
    m = lk.monitor(c, interval=0.1)
    m.stop()
    assert seen[0] is True


@pytest.mark.v2
def test_an_oom_kill_that_ends_the_container_is_marked_from_its_record(box):
    # dd is PID 1: the kill ends the container and labkitd removes its group within milliseconds, before
    # a sample every 0.5 s can read the kernel's counter
    c = lk.run("busybox", ["sh", "-c", "sleep 0.3; exec dd if=/dev/zero of=/dev/null bs=64M count=1"], detach=True,
               memory="16M", name="ended")
    box.append(c)
    s = Sampler(c, interval=0.5).start()
    s.wait(60)
    kinds = [(kind, text) for _t, label, kind, text in s.events]
    assert ("stop", "exited 137") in kinds and any(k == "oom" for k, _ in kinds), kinds


class _Drawn:
    """A sampler's shape with fixed figures: 3 processes, a host at 150 %, a pause marked."""

    labels = ["a"]
    running = True
    events = [(0.5, "a", "control", "pause"), (1.0, "a", "limit", "memory 64MiB -> 32MiB")]

    def series(self, label):
        from labkit.monitoring.sampler import FIGURES

        out = {"t": [0.0, 0.25, 0.5, 0.75]}
        out.update({f: [None] * 4 for f in FIGURES})
        out.update(pids_current=[1, 2, 3, 3], memory_current=[1 << 20] * 4, memory_limit=[64 << 20] * 4,
                   cpu_percent=[None, 10.0, 20.0, 30.0], host_cpu_percent=[75.0] * 4)
        return out


def test_every_panel_is_labelled_and_counts_are_whole_numbers():
    from labkit.monitoring.plot import figure

    fig = figure(_Drawn(), ("memory", "cpu", "pids"), span=30)
    memory, cpu, pids = fig.axes
    for ax in (memory, cpu, pids):
        assert ax.get_legend() is not None, ax.get_title()
    assert any(t.get_text().startswith("whole host") for t in cpu.get_legend().get_texts())
    assert memory.get_xlim() == (0.0, 30.0)  # the span asked for while it runs: lines grow into it
    fig.canvas.draw()  # tick labels exist once drawn (Agg)
    ticks = [t for t in pids.get_yticks() if pids.get_ylim()[0] <= t <= pids.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    notes = [t.get_text() for t in memory.texts]
    assert "pause a" in notes and "memory 64MiB -> 32MiB" in notes, notes


@pytest.mark.v2
def test_any_labkit_cgroup_can_be_sampled(inst):
    g = lk.cgroup("sampled", memory="64M")
    try:
        p = g.spawn("sleep 30")
        s = Sampler(g, interval=0.05, host=False)
        s.sample_once()
        s.sample_once()
        assert s.labels == ["sampled"]
        assert s.latest("sampled")["pids_current"] >= 1 and s.latest("sampled")["memory_limit"] == 64 << 20
        p.kill()
        p.wait()
    finally:
        g.remove()


@pytest.mark.v2
def test_the_figures_table_parses_each_version_s_files():
    from labkit.cgroups import figures as f

    assert f.cpu_max("20000 100000\n") == 0.2 and f.cpu_max("max 100000\n") is None
    assert f.limit("9223372036854771712\n") is None and f.number("max\n") is None
    assert f.keyed("oom_kill")("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n") == 1
    assert f.avg10("some avg10=1.50 avg60=0.00 avg300=0.00 total=12\nfull avg10=0.00") == 1.5
    assert f.io_total("rbytes")("254:0 rbytes=4096 wbytes=0 rios=1\n8:0 rbytes=1 wbytes=2\n") == 4097
    assert f.io_total("Write")("254:0 Read 4096\n254:0 Write 512\n254:0 Total 4608\n") == 512
    assert set(f.V1) - {"cpu_quota_us", "cpu_period_us"} < set(f.V2)  # the same names on both versions


@pytest.mark.v2
def test_a_limit_below_what_the_group_holds_is_refused_on_v1_and_kills_on_v2(box):
    from labkit.errors import LimitRefused

    # dd holds its 40 MiB buffer while it waits to write into a pipe that sleep never reads
    c = lk.run("busybox", ["sh", "-c", "dd if=/dev/zero bs=40M count=1 2>/dev/null | sleep 600"], detach=True,
               memory="256M", name="held")
    box.append(c)
    g = cgroups.group(c.attrs["cgroup"])
    deadline = time.monotonic() + 30
    while (g.stats().memory_current or 0) < 36 << 20:
        assert time.monotonic() < deadline, "dd never held its buffer"
        time.sleep(0.05)
    if cgroups.layout().version == 1:
        with pytest.raises(LimitRefused) as e:  # typed across labkitd's wire: lk.controls retries on it alone
            c.update(memory="16M")
        assert "cgroup v1" in e.value.hint and g.stats().memory_limit == 256 << 20
    else:
        c.update(memory="16M")  # v2 takes it and the OOM killer ends dd
        assert lk.check.oom_killed(c, timeout=30)


def test_the_marks_labels_stay_inside_and_the_legend_covers_no_line():
    """A saw-tooth under a 32 MiB limit with OOM kills, drawn: each mark's label inside its panel
    (rotated labels once ran out over the top), the legend above the panel (it hid the limit line)."""
    from labkit.monitoring import plot
    from labkit.monitoring.sampler import FIGURES

    class Drawn:  # what plot.figure reads of a sampler
        labels, running = ["hog"], False
        events = [(t, "hog", "oom", "") for t in (2.1, 4.1, 6.1, 8.1)]

        def series(self, label):
            t = [i / 10 for i in range(90)]
            out = {"t": t, **{f: [None] * len(t) for f in FIGURES}}
            out["memory_current"] = [(30 if i % 20 == 19 else 0.5) * 2**20 for i in range(len(t))]
            out["memory_limit"] = [32 * 2**20] * len(t)
            out["cpu_percent"] = [5.0] * len(t)
            out["pids_current"] = [2] * len(t)
            return out

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot.figure(Drawn())
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    memory = fig.axes[0]
    box = memory.get_window_extent(renderer)
    labels = [a for a in memory.texts if a.get_text().startswith("OOM")]
    assert len(labels) == 4
    for a in labels:
        b = a.get_window_extent(renderer)
        assert box.y0 - 1 <= b.y0 and b.y1 <= box.y1 + 1 and box.x0 - 1 <= b.x0, (a.get_text(), b, box)
    legend = memory.get_legend().get_window_extent(renderer)
    assert legend.y0 >= box.y1 - 1, "the legend is over the plot, where the limit line runs"
    assert memory.get_ylim()[1] > 32  # headroom over the limit line


def test_in_chinese_the_plot_speaks_chinese_and_draws_every_glyph(monkeypatch):
    """lk.language("zh"): titles, units, legends and marks from the catalog's zh texts, drawn in a CJK
    font (./lab setup installs fonts-wqy-microhei): matplotlib warns of any glyph it lacks, and here
    a warning fails the test."""
    import io
    import warnings

    from labkit.monitoring.fonts import cjk_family
    from labkit.monitoring.plot import figure

    monkeypatch.setenv("LABKIT_LANG", "zh")
    assert cjk_family(), "no CJK font installed: ./lab setup installs fonts-wqy-microhei"
    fig = figure(_Drawn(), ("memory", "cpu", "pids"), span=30)
    memory, cpu, _pids = fig.axes
    assert memory.get_title(loc="left") == "内存" and cpu.get_ylabel() == "单核的 %"
    assert "a 的限制" in [t.get_text() for t in memory.get_legend().get_texts()]
    assert any(t.get_text().startswith("整台宿主机") for t in cpu.get_legend().get_texts())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph 20869 (\N{CJK UNIFIED IDEOGRAPH-5185}) missing from font(s) DejaVu Sans."
        fig.savefig(io.BytesIO(), format="png")  # drawn by Agg, as lk.monitor draws it
    monkeypatch.setenv("LABKIT_LANG", "en")
    assert figure(_Drawn(), ("memory",), span=30).axes[0].get_title(loc="left") == "memory"
