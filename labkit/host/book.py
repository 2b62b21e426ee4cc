"""`./lab book`: both editions of the notebooks as a static site, to read before (or without)
running anything. Every notebook is run for real on this machine (nbclient, as JupyterLab would),
then rendered with its outputs and plots by nbconvert's HTML exporter, with nothing fetched from
the internet when it is read:

    book/index.html             the two editions, side by side
    book/en/index.html          the contents and the seed map (notebooks/README.md's table)
    book/en/03-cgroups.html     one page per notebook; a bar on top: contents, the other language
    book/zh/03-cgroups.html     the same page in Chinese (notebooks/zh-CN/)

    python -m labkit.host.book --out book [--lang all|en|zh] [--only 00,03]
"""

from __future__ import annotations

import argparse
import html
import os
import re
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EDITIONS = {"en": REPO / "notebooks", "zh": REPO / "notebooks" / "zh-CN"}
#: an edition's own words for the bar and the index (kept here: the book is built by an instructor's
#: command, before any lab runs; the learner-facing words are the catalog's "book" entry)
LANG_NAMES = {"en": "English", "zh": "中文"}


def _say(field: str, lang: str, **values) -> str:
    from ..catalog import speaking, text

    with speaking(lang):
        return text("book", field, **values)


def notebooks(lang: str, only: list[str] | None = None) -> list[Path]:
    found = sorted(EDITIONS[lang].glob("[0-9][0-9]-*.ipynb"))
    return [p for p in found if not only or p.name[:2] in only]


def run(path: Path, lang: str, timeout: int = 600):
    """The notebook run for real, as shipped, in the edition's language; its errors are kept in the page."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_lang = os.environ.get("LABKIT_LANG")
    os.environ["LABKIT_LANG"] = lang  # the kernel inherits it: checks, hints and plots in the edition's language
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_lang is None:
            os.environ.pop("LABKIT_LANG", None)
        else:
            os.environ["LABKIT_LANG"] = env_lang
    return nb


def errors(nb) -> list[str]:
    return [f"{out.ename}: {out.evalue}" for cell in nb.cells for out in cell.get("outputs", [])
            if out.get("output_type") == "error"]


#: what a page must not load: the book is read where there may be no network (and a test checks it)
_REMOTE = re.compile(r"""<(script|link)\b[^>]*\b(?:src|href)=["']https?://[^"']*["'][^>]*>(?:\s*</script>)?""", re.I)


def render(nb, lang: str, title: str, bar: str) -> str:
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="labkit-book", extra_template_basedirs=[str(Path(__file__).parent / "book_templates")])
    exporter.mathjax_url = ""  # no MathJax from a CDN (the notebooks hold no formulas)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = _REMOTE.sub("", body)
    body = re.sub(r"<html[^>]*>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', body, count=1)
    return re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + bar, body, count=1)


def _bar(lang: str, page: str) -> str:
    other = "zh" if lang == "en" else "en"
    return (f'<nav class="labkit-book" style="font:14px sans-serif;padding:6px 12px;background:#f3f3f3;'
            f'border-bottom:1px solid #ccc">'
            f'<a href="index.html">{html.escape(_say("contents", lang))}</a> · '
            f'<a href="../{other}/{page}" hreflang="{other}">{LANG_NAMES[other]}</a></nav>')


def _seed_map(lang: str, pages: list[tuple[str, str, int]]) -> str:
    """The seed's sections (their Chinese names, as notebooks/README.md's map gives them) and the pages
    that teach each: "基础概念 › 虚拟化技术 (...): ..." | "01 · the table; ... 12 · ..." -> 基础概念 › 虚拟化技术 | 01, 12."""
    readme = (EDITIONS["en"] / "README.md").read_text(encoding="utf-8")
    by_number = {page[:2]: (page, title) for page, title, _ in pages}
    rows = []
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2 or set(line) <= set("|- ") or "notebook" in cells[1].split("·")[0]:
            continue
        section = re.split(r"[:(（]", cells[0])[0].strip()
        numbers = list(dict.fromkeys(re.findall(r"\b(\d\d) ·", cells[1])))
        links = [f'<a href="{by_number[n][0]}">{html.escape(by_number[n][1])}</a>' if n in by_number else n for n in numbers]
        rows.append(f"<tr><td>{html.escape(section)}</td><td>{'<br>'.join(links)}</td></tr>")
    return f"<table class='seed-map'>{''.join(rows)}</table>" if rows else ""


def _index(lang: str, pages: list[tuple[str, str, int]]) -> str:
    items = "".join(f'<li><a href="{html.escape(page)}">{html.escape(title)}</a>'
                    + (f" — {html.escape(_say('errors', lang, n=n))}" if n else "") + "</li>" for page, title, n in pages)
    other = "zh" if lang == "en" else "en"
    return (f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><meta charset="utf-8">'
            f'<title>{html.escape(_say("title", lang))}</title><body style="font:15px sans-serif;max-width:60em;margin:2em auto">'
            f'<p><a href="../{other}/index.html" hreflang="{other}">{LANG_NAMES[other]}</a></p>'
            f'<h1>{html.escape(_say("title", lang))}</h1><p>{html.escape(_say("intro", lang))}</p>'
            f'<h2>{html.escape(_say("contents", lang))}</h2><ol start="0">{items}</ol>'
            f'<h2>{html.escape(_say("seed-map", lang))}</h2>{_seed_map(lang, pages)}</body></html>')


def _title(nb, path: Path) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def build(out: Path, langs: list[str], only: list[str] | None = None, timeout: int = 600, say=print) -> dict:
    """Run and render; returns {lang: [(page, title, errors)]}."""
    made: dict[str, list] = {}
    for lang in langs:
        folder = out / lang
        folder.mkdir(parents=True, exist_ok=True)
        pages = []
        for path in notebooks(lang, only):
            t0 = time.monotonic()
            nb = run(path, lang, timeout)
            title, page = _title(nb, path), path.stem + ".html"
            (folder / page).write_text(render(nb, lang, title, _bar(lang, page)), encoding="utf-8")
            pages.append((page, title, len(errors(nb))))
            say(f"{lang}/{page}: {time.monotonic() - t0:.0f} s" + (f", {len(errors(nb))} error(s)" if errors(nb) else ""))
        (folder / "index.html").write_text(_index(lang, pages), encoding="utf-8")
        made[lang] = pages
    editions = "".join(f'<li><a href="{lang}/index.html" hreflang="{lang}">{LANG_NAMES[lang]} — '
                       f'{html.escape(_say("title", lang))}</a></li>' for lang in made)
    (out / "index.html").write_text(f'<!doctype html><html><meta charset="utf-8"><title>labkit</title>'
                                    f'<body style="font:16px sans-serif;margin:2em"><ul>{editions}</ul></body></html>',
                                    encoding="utf-8")
    return made


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="./lab book")
    p.add_argument("--out", default=str(REPO / "book"))
    p.add_argument("--lang", default="all", choices=["all", "en", "zh"])
    p.add_argument("--only", default="", help="notebook numbers, e.g. 00,03")
    p.add_argument("--timeout", type=int, default=600, help="seconds a cell may take")
    args = p.parse_args(argv)
    langs = ["en", "zh"] if args.lang == "all" else [args.lang]
    only = [n.strip().zfill(2) for n in args.only.split(",") if n.strip()] or None
    made = build(Path(args.out), langs, only, args.timeout)
    failed = sum(n for pages in made.values() for _, _, n in pages)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
