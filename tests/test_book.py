"""`./lab book`: both editions run for real and rendered to a static site that reads offline.

Built here for notebook 00 only (both editions, ~20 s); `./lab book` builds all 13 of each.
"""

from __future__ import annotations

import base64
import re
import subprocess

import pytest

from conftest import PYTHON, REPO
from test_browser import CHROMIUM


@pytest.fixture(scope="module")
def book(tmp_path_factory, busybox):
    out = tmp_path_factory.mktemp("book")
    p = subprocess.run([PYTHON, "-m", "labkit.host.book", "--out", str(out), "--only", "00"],
                       capture_output=True, text=True, timeout=600, cwd=REPO)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return out


def test_both_editions_are_built_with_their_outputs_and_an_index_with_the_seed_map(book):
    for lang, words in (("en", "memory"), ("zh", "内存")):
        page = (book / lang / "00-welcome.html").read_text()
        # the live plot's last frame, with its words (in the edition's language) as the image's alt text
        plots = [(m.group(2), m.group(1)) for m in re.finditer(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"', page)]
        assert plots and any(words in alt for _, alt in plots), [alt for _, alt in plots]
        assert base64.b64decode(plots[0][0])[:8] == b"\x89PNG\r\n\x1a\n"
        assert "Out[" in page and "jp-OutputArea-output" in page  # outputs, not only the code
        # the other edition's same page, and the contents
        other = "zh" if lang == "en" else "en"
        assert f'href="../{other}/00-welcome.html"' in page and (book / other / "00-welcome.html").exists()
        index = (book / lang / "index.html").read_text()
        assert 'href="00-welcome.html"' in index and "基础概念" in index  # the seed map: the seed's own section names
    assert 'lang="zh-CN"' in (book / "zh" / "00-welcome.html").read_text()[:2000]
    assert "欢迎" in (book / "zh" / "index.html").read_text()


def test_no_page_loads_anything_from_the_network(book):
    for page in book.rglob("*.html"):
        text = page.read_text()
        remote = re.findall(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']((?:https?:)?//[^"']+)""", text, re.I)
        assert not remote, (page, remote[:3])
        assert "import(\"http" not in text, page


def test_a_chinese_page_reads_in_chromium_offline_with_its_plot_and_pictures_in_chinese(book):
    """In Chromium, with every request beyond the book's own files refused and counted: the zh page, its
    plot drawn (a PNG that decodes, with a Chinese alt text), its picture's labels as text in the CJK
    font, and the language switch leading to the same page in English."""
    from playwright.sync_api import sync_playwright

    refused = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})

            def only_files(route):
                if route.request.url.startswith(("file://", "data:")):
                    route.continue_()
                else:
                    refused.append(route.request.url)
                    route.abort()

            page.route("**/*", only_files)
            page.goto((book / "zh" / "00-welcome.html").as_uri())
            page.wait_for_load_state("load")
            assert page.evaluate("document.documentElement.lang") == "zh-CN"
            plot = page.locator("img[alt*='内存']").first
            assert plot.evaluate("img => img.complete && img.naturalWidth > 300"), "the plot did not draw"
            label = page.locator(".jp-RenderedSVG svg text", has_text="命名空间").first
            assert label.count() == 1 or label.is_visible()
            family = label.evaluate("t => getComputedStyle(t).fontFamily")
            assert "WenQuanYi" in family or "Noto Sans CJK" in family, family
            page.locator("nav.labkit-book a[hreflang='en']").click()
            page.wait_for_load_state("load")
            assert page.evaluate("document.documentElement.lang") == "en" and page.url.endswith("/en/00-welcome.html")
        finally:
            browser.close()
    assert not refused, refused[:5]
