"""Fonts that draw every language the lab speaks, for matplotlib's figures.

matplotlib's default font (DejaVu Sans) has no Chinese: a title such as "内存" draws as boxes, with a
"Glyph 20869 missing from font(s) DejaVu Sans" warning. matplotlib (3.6 and later) falls back glyph by
glyph along font.family's list, so the list is DejaVu Sans first (Latin, digits, the lab's look),
then a CJK font this machine has: WenQuanYi Micro Hei (Debian's fonts-wqy-microhei, installed by
./lab setup and carried in the offline bundle), or Noto Sans CJK where that is installed instead.
"""

from __future__ import annotations

from functools import lru_cache

#: CJK families to fall back to, in order; the first that is installed is used
CJK = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans CJK JP", "Source Han Sans SC", "Droid Sans Fallback")


#: where Debian's packages put them, for a matplotlib whose font cache was made before they came
FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@lru_cache(maxsize=1)
def cjk_family() -> str | None:
    """The CJK family matplotlib finds on this machine, or None (then Chinese draws as boxes).
    matplotlib lists the fonts it found when it made its cache (~/.cache/matplotlib): a font installed
    after that is added here by its file."""
    import os

    from matplotlib import font_manager

    def found():
        installed = {f.name for f in font_manager.fontManager.ttflist}
        return next((family for family in CJK if family in installed), None)

    if found() is None:
        for path in FILES:
            if os.path.exists(path):
                font_manager.fontManager.addfont(path)
    return found()


def use_fonts() -> list[str]:
    """Set matplotlib's font list (DejaVu Sans, then the CJK family found); returns it."""
    import matplotlib

    families = ["DejaVu Sans"] + ([cjk_family()] if cjk_family() else [])
    matplotlib.rcParams["font.family"] = families
    return families
