"""Drawings a learner would rather look at than read, as SVG (crisp in JupyterLab, no matplotlib).

    lk.pictures.sees_and_uses()        # namespaces (what a process sees) beside cgroups (what it may use)
    lk.pictures.sees_and_uses(c)       # ... filled in from a running container: its inodes, its limits
    lk.pictures.client_server()        # the clients, labkitd and its sockets, the containers, a registry

Every label comes from the message catalog (labkit/exercises/messages/<lang>.toml, entries
"picture.*"), so a translation draws them in its own language. A terminal gets a text outline.
"""

from __future__ import annotations

import html
import os

from .exercises import catalog
from .kernel import namespace_kinds

NAMESPACES = namespace_kinds.NAMES
CONTROLLERS = ("memory", "cpu", "pids", "io", "freezer", "devices")


class Picture:
    def __init__(self, svg: str, text: str):
        self.svg, self.text = svg, text

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return self.text


def _box(x, y, w, h, fill, stroke, title, rows, e=html.escape) -> str:
    out = [f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='8' fill='{fill}' stroke='{stroke}'/>",
           f"<text x='{x + 12}' y='{y + 22}' font-size='14' font-weight='bold'>{e(title)}</text>"]
    for i, (key, what) in enumerate(rows):
        ty = y + 46 + i * 22
        out.append(f"<text x='{x + 12}' y='{ty}' font-size='12'><tspan font-weight='bold' fill='{stroke}'>{e(key)}</tspan>"
                   f"<tspan x='{x + 78}'>{e(what)}</tspan></text>")
    return "".join(out)


def _arrow(x1, y1, x2, y2, label="", color="#555", e=html.escape) -> str:
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    # a label beside a vertical arrow, above a sloping one
    at = f"x='{mx + 6}' y='{my + 4}' text-anchor='start'" if x1 == x2 else f"x='{mx}' y='{my - 5}' text-anchor='middle'"
    return (f"<line x1='{x1}' y1='{y1}' x2='{x2}' y2='{y2}' stroke='{color}' stroke-width='1.5' marker-end='url(#arrow)'/>"
            + (f"<text {at} font-size='10' fill='{color}'>{e(label)}</text>" if label else ""))


def _svg(width, height, parts) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family='sans-serif'>"
            "<defs><marker id='arrow' markerWidth='8' markerHeight='8' refX='7' refY='4' orient='auto'>"
            "<path d='M0,0 L8,4 L0,8 z' fill='#555'/></marker></defs>" + "".join(parts) + "</svg>")


def sees_and_uses(container=None) -> Picture:
    """Namespaces beside cgroups. With a running container: each namespace's inode from
    /proc/PID/ns/ (marked where it is the host's), and each limit from its cgroup's files."""
    t = catalog.entry("picture.sees-and-uses")
    seen = {k: t.get(f"ns_{k}", k) for k in NAMESPACES}
    used = {k: t.get(f"cg_{k}", k) for k in CONTROLLERS}
    who = t.get("process", "a process")
    if container is not None:
        from .cgroups import group
        from .monitoring.probe import read_once

        pid, who = container.pid, f"{container.name} (PID {container.pid})"
        for k in NAMESPACES:
            try:
                mine, host = os.readlink(f"/proc/{pid}/ns/{k}"), os.readlink(f"/proc/self/ns/{k}")  # this process: the host's namespaces
                seen[k] += f" · {t.get('shared', 'the host’s')}" if mine == host else f" · {mine.split(':', 1)[1].strip('[]')}"
            except OSError:
                pass
        fig = read_once(group(container.attrs["cgroup"]))
        none = t.get("no_limit", "no limit")
        used["memory"] = f"{fig['memory_limit'] >> 20} MiB" if fig.get("memory_limit") else none
        used["cpu"] = f"{fig['cpu_limit']:g} CPU" if fig.get("cpu_limit") else none
        used["pids"] = str(fig["pids_limit"]) if fig.get("pids_limit") else none
    parts = [_box(10, 40, 400, 230, "#eef3fb", "#4a6fa5", t.get("sees", "namespaces: what it sees"), seen.items()),
             _box(560, 40, 280, 230, "#fdf0d5", "#c08a1e", t.get("uses", "cgroups: what it may use"), used.items()),
             "<ellipse cx='485' cy='155' rx='66' ry='34' fill='#e3f4e1' stroke='#3a7d44'/>",
             f"<text x='485' y='151' font-size='11' text-anchor='middle' font-weight='bold'>{html.escape(who[:24])}</text>",
             f"<text x='485' y='166' font-size='10' text-anchor='middle'>{html.escape(t.get('kernel', 'one kernel'))}</text>",
             _arrow(419, 155, 412, 155), _arrow(551, 155, 558, 155),
             f"<text x='10' y='22' font-size='12' fill='#555'>{html.escape(t.get('caption', ''))}</text>"]
    text = "\n".join([t.get("sees", "namespaces"), *(f"  {k:<7} {v}" for k, v in seen.items()),
                      t.get("uses", "cgroups"), *(f"  {k:<7} {v}" for k, v in used.items())])
    return Picture(_svg(850, 285, parts), text)


def client_server(inst=None) -> Picture:
    """The clients, the two sockets, labkitd, and what it drives (the socket paths are this lab's)."""
    from .paths import instance

    inst = inst or instance()
    t = catalog.entry("picture.client-server")
    e = html.escape
    clients = [("docker CLI", "HTTP: Docker Engine API"), ("docker-py", "HTTP: Docker Engine API"),
               ("lk.run, labkit CLI", t.get("own_protocol", "labkit's own protocol (JSON lines)"))]
    parts = []
    for i, (name, proto) in enumerate(clients):
        y = 30 + i * 70
        parts += [f"<rect x='10' y='{y}' width='170' height='44' rx='6' fill='#eef3fb' stroke='#4a6fa5'/>",
                  f"<text x='20' y='{y + 27}' font-size='13' font-weight='bold'>{e(name)}</text>",
                  _arrow(182, y + 22, 388, 120 + (i - 1) * 30, proto)]
    parts += ["<rect x='390' y='70' width='180' height='110' rx='8' fill='#fdf0d5' stroke='#c08a1e'/>",
              "<text x='400' y='94' font-size='14' font-weight='bold'>labkitd</text>",
              f"<text x='400' y='112' font-size='10'>{e(t.get('server', 'the server: one loop'))}</text>",
              f"<text x='400' y='140' font-size='9' fill='#555'>{e(str(inst.run / 'docker.sock'))}</text>",
              f"<text x='400' y='154' font-size='9' fill='#555'>{e(str(inst.run / 'labkitd.sock'))}</text>"]
    for i, what in enumerate((t.get("containers", "containers: namespaces, cgroups, overlay"),
                              t.get("images", "images: layers in the store"), t.get("networks", "networks: bridges, veths"))):
        y = 30 + i * 70
        parts += [_arrow(572, 125, 648, y + 22),
                  f"<rect x='650' y='{y}' width='280' height='44' rx='6' fill='#e3f4e1' stroke='#3a7d44'/>",
                  f"<text x='660' y='{y + 27}' font-size='12'>{e(what)}</text>"]
    parts += ["<rect x='390' y='230' width='180' height='44' rx='6' fill='#f2f2f2' stroke='#777'/>",
              f"<text x='400' y='257' font-size='12'>{e(t.get('registry', 'a registry: HTTP /v2/...'))}</text>",
              _arrow(480, 182, 480, 228, t.get("pull_push", "pull, push"))]
    text = (f"{t.get('clients', 'clients')}: docker CLI, docker-py (HTTP on {inst.run / 'docker.sock'}); "
            f"lk.run, labkit CLI ({inst.run / 'labkitd.sock'})\n  -> labkitd -> containers, images, networks; "
            f"labkitd <-> registry (HTTP /v2/)")
    return Picture(_svg(940, 290, parts), text)


def layers(ov, subdir: str = "") -> Picture:
    """An overlay's layers as a stack, the merged view on top: a box per name in each layer (`subdir`
    of it), a whiteout crossed out, and in the merged row the layer each name shows from. Drawn
    before and after a write, it shows copy-on-write: the name moves up into the upper layer."""
    t = catalog.entry("picture.layers")
    rows = ov.views(subdir)
    names = [r["name"] for r in rows]
    stack = [k for k in rows[0] if k != "name"] if rows else ["upper", "merged"]  # lower 0 .. upper, merged
    order = list(reversed(stack))  # merged on top, then upper, then the lowers down to lower 0
    w, h, left = 96, 30, 130
    parts = [f"<text x='10' y='18' font-size='12' fill='#555'>{html.escape(t.get('caption', ''))}</text>"]
    for j, name in enumerate(names):
        parts.append(f"<text x='{left + j * (w + 6) + w / 2}' y='40' font-size='11' text-anchor='middle' "
                     f"font-weight='bold'>{html.escape(name[:14])}</text>")
    for i, layer in enumerate(order):
        y = 50 + i * (h + 10)
        merged = layer == "merged"
        label = t.get(layer.split()[0], layer) + (f" {layer.split()[1]}" if " " in layer else "")
        parts.append(f"<text x='10' y='{y + 20}' font-size='12' font-weight='bold'>{html.escape(label)}</text>")
        for j, row in enumerate(rows):
            what = row[layer]
            if not what:
                continue
            x = left + j * (w + 6)
            whiteout = "whiteout" in what
            fill = "#e3f4e1" if merged else ("#fdecea" if whiteout else "#fdf0d5" if layer == "upper" else "#eef3fb")
            if merged:  # the layer it shows from: the highest that has it
                src = next((k for k in reversed(stack[:-1]) if row[k]), "")
                what = f"↑ {src}" if src else what
            what = what.removeprefix("file: ").replace("\n", " ⏎ ")
            parts.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='4' fill='{fill}' stroke='#888'/>"
                         f"<text x='{x + w / 2}' y='{y + 19}' font-size='10' text-anchor='middle'>{html.escape(what[:16])}</text>")
            if whiteout:
                parts.append(f"<line x1='{x}' y1='{y}' x2='{x + w}' y2='{y + h}' stroke='#c33'/>"
                             f"<line x1='{x}' y1='{y + h}' x2='{x + w}' y2='{y}' stroke='#c33'/>")
    width = left + max(1, len(names)) * (w + 6) + 10
    text = "\n".join(f"{layer:<8} " + "  ".join(f"{r['name']}: {r[layer]}".replace("\n", " ⏎ ") for r in rows if r[layer])
                     for layer in order)
    return Picture(_svg(max(width, 400), 60 + len(order) * (h + 10), parts), text)


def image_layers(image, base=None, store=None) -> Picture:
    """An image's read-only layers, bottom first, with a container's writable layer on top: each
    layer by the start of its digest and its size as stored (compressed); those it shares with `base`
    (e.g. busybox, under an image committed from it) in one colour, its own in another.

        lk.pictures.image_layers("localhost/nb06/mine:1", base="busybox")"""
    from .images.store import ImageStore
    from .paths import instance

    store = store or ImageStore(instance())
    img = store.get(image) if isinstance(image, str) else image
    under = store.get(base) if isinstance(base, str) else base
    shared = {d for d, _ in under.layers} if under is not None else set()
    t = catalog.entry("picture.image-layers")
    w, h, x = 640, 28, 20
    rows = []  # top first: the writable layer, then the image's layers from the top down
    rows.append(("#ffffff", t.get("writable", "a container's writable layer (upper dir)"), True))
    for d, _diff in reversed(img.layers):
        try:
            n = store.blob_path(d).stat().st_size
            size = f"{n / 1e3:.0f} kB" if n >= 1000 else f"{n} B"
        except OSError:
            size = "?"
        whose = t.get("shared", "shared") if d in shared else t.get("own", "its own")
        rows.append(("#9ecae1" if d in shared else "#fdae6b", f"{d[7:19]} · {size} · {whose}", False))
    parts = [f"<text x='{x}' y='18' font-size='12' fill='#555'>{html.escape(t.get('caption', ''))}</text>",
             "<defs><pattern id='hatch' width='8' height='8' patternUnits='userSpaceOnUse' patternTransform='rotate(45)'>"
             "<line x1='0' y1='0' x2='0' y2='8' stroke='#bbb' stroke-width='2'/></pattern></defs>"]
    for i, (fill, label, hatched) in enumerate(rows):
        y = 30 + i * (h + 4)
        parts.append(f"<rect x='{x}' y='{y}' width='{w}' height='{h}' rx='3' fill='{'url(#hatch)' if hatched else fill}' "
                     f"stroke='#444'/><text x='{x + 10}' y='{y + 18}' font-size='12' font-family='monospace'>"
                     f"{html.escape(label)}</text>")
    text = "\n".join(label for _f, label, _h in rows)
    return Picture(_svg(w + 2 * x, 40 + len(rows) * (h + 4), parts), text)


def run_flow(result) -> Picture:
    """The seed's `docker run` flow for one traced run (lk.run(..., trace=True)): a box per step that
    happened, in the seed's order, with the milliseconds labkit's steps of it took (runtime/flow.py
    says which step each belongs to, by its ID). Step 1 shows only when the image had to be pulled."""
    from .runtime.flow import seed_totals

    t = catalog.entry("picture.run-flow")
    totals = seed_totals(result.steps, result.trace)
    w, h, gap, x0 = 150, 74, 26, 10
    parts = [f"<text x='{x0}' y='16' font-size='12' fill='#555'>{html.escape(t.get('caption', ''))}</text>"]
    for i, (seed, ms) in enumerate(totals.items()):
        x = x0 + i * (w + gap)
        parts.append(f"<rect x='{x}' y='28' width='{w}' height='{h}' rx='8' fill='{'#718096' if seed == '0' else '#2b6cb0'}'/>"
                     f"<text x='{x + w / 2}' y='50' font-size='13' font-weight='bold' fill='white' text-anchor='middle'>"
                     f"{html.escape(t.get('step', 'step {n}').format(n=seed))}</text>"
                     f"<text x='{x + w / 2}' y='70' font-size='12' fill='white' text-anchor='middle'>{ms:.1f} ms</text>")
        words, line, lines = t.get(seed, "").split(), "", []
        for word in words:  # the step's words under its box, wrapped at ~24 characters
            if len(line) + len(word) > 24 and line:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
        for k, text in enumerate(lines):
            parts.append(f"<text x='{x + w / 2}' y='{124 + k * 14}' font-size='11' text-anchor='middle'>{html.escape(text)}</text>")
        if i:
            parts.append(_arrow(x - gap + 2, 28 + h / 2, x - 2, 28 + h / 2))
    text = "\n".join(f"{t.get('step', 'step {n}').format(n=seed):<8} {ms:8.1f} ms  {t.get(seed, '')}" for seed, ms in totals.items())
    return Picture(_svg(max(400, x0 + len(totals) * (w + gap)), 190, parts), text)
