"""Layers, drawn: an overlay's stack and an image's layers."""

from __future__ import annotations

import html

from .. import catalog
from .drawing import Picture, _arrow, _svg


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
    from ..images.store import ImageStore
    from ..paths import instance

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


#: A push, then a pull, as the OCI distribution spec has them: (who sends, the request, the answer, note ID)
PUSH_PULL = (
    ("client", "HEAD /v2/<name>/blobs/<digest>", "404", "has_it"),
    ("client", "POST /v2/<name>/blobs/uploads/", "202 Location: …?_state=…", "open"),
    ("client", "PUT <Location>&digest=sha256:…  (the bytes)", "201", "send"),
    ("client", "PUT /v2/<name>/manifests/<tag>  (the manifest)", "201", "manifest"),
    ("client", "GET /v2/<name>/manifests/<tag>", "200 (Docker-Content-Digest)", "pull_manifest"),
    ("client", "GET /v2/<name>/blobs/<digest>", "200 (the bytes, checked)", "pull_blob"),
)


def registry_requests() -> Picture:
    """A push and a pull as the requests between a client and a registry, top to bottom."""
    t = catalog.entry("picture.registry-requests")
    e = html.escape
    xc, xr, top, row = 120, 600, 50, 44
    parts = [f"<text x='10' y='18' font-size='12' fill='#555'>{e(t.get('caption', ''))}</text>",
             f"<text x='{xc}' y='40' font-size='13' font-weight='bold' text-anchor='middle'>{e(t.get('client', 'the client'))}</text>",
             f"<text x='{xr}' y='40' font-size='13' font-weight='bold' text-anchor='middle'>{e(t.get('registry', 'the registry'))}</text>",
             f"<line x1='{xc}' y1='46' x2='{xc}' y2='{top + row * len(PUSH_PULL)}' stroke='#aaa'/>",
             f"<line x1='{xr}' y1='46' x2='{xr}' y2='{top + row * len(PUSH_PULL)}' stroke='#aaa'/>"]
    lines = []
    for i, (_who, request, answer, note) in enumerate(PUSH_PULL):
        y = top + 14 + i * row
        parts.append(_arrow(xc, y, xr - 2, y, request, color="#2b6cb0") + _arrow(xr, y + 14, xc + 2, y + 14, answer, color="#3a7d44")
                     + f"<text x='{xr + 16}' y='{y + 10}' font-size='11' fill='#555'>{e(t.get(note, ''))}</text>")
        lines.append(f"{request}  ->  {answer}    {t.get(note, '')}")
    return Picture(_svg(xr + 300, top + 20 + row * len(PUSH_PULL), parts), "\n".join(lines))
