"""The drawing's pieces: a Picture (SVG for JupyterLab, text for a terminal), boxes, arrows, wrapping."""

from __future__ import annotations

import html


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


#: Latin first, then a CJK family the browser may have (the lab's set-up installs WenQuanYi Micro Hei):
#: a Chinese label draws in it, never as boxes
FONTS = "'DejaVu Sans', 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Noto Sans SC', sans-serif"


def _svg(width, height, parts) -> str:
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' font-family=\"{FONTS}\">"
            "<defs><marker id='arrow' markerWidth='8' markerHeight='8' refX='7' refY='4' orient='auto'>"
            "<path d='M0,0 L8,4 L0,8 z' fill='#555'/></marker></defs>" + "".join(parts) + "</svg>")


def wrap(text: str, width: int = 24) -> list[str]:
    """Words on lines of about `width` characters (SVG text does not wrap by itself)."""
    lines, line = [], ""
    for word in text.split():
        if len(line) + len(word) > width and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])
