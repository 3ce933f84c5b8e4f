"""``report.html`` in a real headless browser (Debian's chromium): it opens, every image decodes, every ``#`` link
resolves to an element, and a screenshot is taken. Rendered from the synthetic verdicts and tiny PNGs of
tests/_report_cases.py, so no check runs. Without a browser the test is skipped locally and fails under CI
(``.ci/run`` installs chromium)."""
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from paper_checks.html import evidence_html, md_inline, render_html
from paper_checks.report import document

from _report_cases import FIGURES, verdicts, write_figures

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def browser() -> str:
    found = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("no headless browser (chromium) found; .ci/run installs Debian's chromium package")
        pytest.skip("no chromium on this machine (apt-get install chromium); CI fails instead of skipping")
    return found


class Dom(HTMLParser):
    """The ids, ``#`` links, images and ``<body>`` attributes of a page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images, self.body = set(), [], [], {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and (a.get("href") or "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag == "body":
            self.body = a


def parse(text: str) -> Dom:
    d = Dom()
    d.feed(text)
    return d


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    figs = write_figures(folder / "figures")
    doc = document(verdicts(), quick=True, seed=0, figure_names=FIGURES, with_derivations=False)
    path = folder / "report.html"
    path.write_text(render_html(doc, figs))
    return path


def run_browser(*args, timeout=120):
    cmd = [browser(), "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--disable-dev-shm-usage",
           "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_page_is_self_contained(page):
    text = page.read_text()
    dom = parse(text)
    assert len(dom.images) == len(FIGURES) and all(s.startswith("data:image/png;base64,") for s in dom.images)
    assert not re.search(r"""(src|href)=["']?(https?:|//|figures/)""", text)  # nothing fetched from elsewhere
    assert set(dom.links) <= dom.ids, set(dom.links) - dom.ids
    assert text.count('id="fig-distortion_scatter"') == 1  # shared by two cards, shown once
    for v in verdicts():
        assert f'id="claim-{v.id.replace(".", "-").lower()}"' in text
    assert "<details><summary>Notes and evidence" in text


def test_page_opens_in_a_headless_browser_with_every_image_and_anchor(page, tmp_path):
    done = run_browser("--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    assert dom.body.get("data-checked") == "yes", "the page's load script did not run"
    assert dom.body["data-images-total"] == str(len(FIGURES))
    assert dom.body["data-images-loaded"] == str(len(FIGURES)), "an image did not decode (naturalWidth 0)"
    assert dom.body["data-broken-anchors"] == ""
    assert set(dom.links) <= dom.ids and len(dom.links) > 20
    shot = tmp_path / "report.png"
    done = run_browser(f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a rendered page, not a blank one
    print(f"screenshot: {shot}")


def test_a_broken_anchor_or_image_is_reported_by_the_page(tmp_path):
    """The page's own check catches what it is for: a link to a missing id and an image that does not decode."""
    bad = tmp_path / "bad.html"
    text = render_html(document(verdicts()[:2], quick=False, seed=0, figure_names=(), with_derivations=False))
    bad.write_text(text.replace("</body>", '<a href="#nowhere">x</a><img src="data:image/png;base64,AAAA"></body>'))
    dom = parse(run_browser("--dump-dom", bad.as_uri()).stdout)
    assert dom.body.get("data-broken-anchors") == "nowhere"
    assert dom.body.get("data-images-loaded") == "0" and dom.body.get("data-images-total") == "1"


def test_inline_markdown_and_evidence_are_escaped():
    assert md_inline("**a** `x<y` [t](#k) 2 \\* 3 <b>") == \
        '<strong>a</strong> <code>x&lt;y</code> <a href="#k">t</a> 2 * 3 &lt;b&gt;'
    html = evidence_html({"x": "<script>", "ci": {"mean": 1.0, "lo": 0.5, "hi": 1.5, "n": 3}, "none": None})
    assert "&lt;script&gt;" in html and "1 [0.5, 1.5] (n = 3)" in html and "<td>—</td>" in html
