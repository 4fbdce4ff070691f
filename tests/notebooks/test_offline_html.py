"""The rendered HTML reports open offline: a real headless Chromium with the network off.

Each HTML report of the rendered demo week (the session's ``rendered_run``)
is opened in Debian's ``chromium`` whose proxy points where nothing listens
and whose resolver finds no host: the page must make no request beyond its
own file and embedded data, no request may fail, the console must stay free
of errors, no script may run (the planted ``<script>`` alert stays text), and
every chart must be loaded (natural width > 0) and drawn (its screenshot is
not one flat colour). Controls first show that each check can fail: a page
that loads from a CDN, a broken image, a blank page.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from stabmon.report.html_export import export_html, network_references
from support.browser import OfflineBrowser, file_url, need_chromium, png_pixel_spread

#: Standard deviation of grey levels (0..1) above which a picture is not blank:
#: a white page is 0.0; the demo's charts and first screens measure 0.1 to 0.3.
NOT_BLANK = 0.02


@pytest.fixture(scope="module")
def browser():
    with OfflineBrowser(need_chromium()) as running:
        yield running


def _png(width: int = 40, height: int = 20) -> bytes:
    """A small two-colour PNG made with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / 10, height / 10), dpi=10)
    fig.add_subplot().bar([0, 1], [1, 2], color="#d62728")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _notebook_with_scripts() -> nbformat.NotebookNode:
    """A notebook whose outputs would pull scripts: math, JavaScript, a widget view, an image."""
    image = base64.b64encode(_png()).decode()
    code = new_code_cell("show()", outputs=[
        new_output("display_data", data={"image/png": image, "text/plain": "<Figure>"}),
        new_output("display_data", data={"application/javascript": "document.title = 'ran'",
                                         "text/plain": "<javascript>"}),
        new_output("display_data", data={"application/vnd.jupyter.widget-view+json":
                                         {"model_id": "x", "version_major": 2, "version_minor": 0},
                                         "text/plain": "<widget>"}),
    ])
    nb = new_notebook(cells=[new_markdown_cell("# Budget\n\nBurn $x^2$ costs $5 and $6."), code])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                            "version_minor": 0}}
    return nb


def test_export_loads_nothing_from_a_network():
    html = export_html(_notebook_with_scripts(), "Budget")
    assert network_references(html) == []
    assert "<script" not in html  # no require.js, MathJax, Mermaid, widget manager, nor the JS output
    assert 'src="data:image/png;base64,' in html
    assert "$5 and $6" in html  # without MathJax, dollars stay dollars
    assert "&lt;javascript&gt;" in html and "&lt;widget&gt;" in html  # their text form instead
    assert "<style" in html  # the lab look, inlined


def test_network_references_lists_what_a_page_fetches():
    page = ('<script src="https://cdn.example/require.js"></script><link rel="stylesheet" href="//fonts.example/a.css">'
            '<img src="data:image/png;base64,AAAA"><a href="https://docs.example/">docs</a>'
            '<style>@import url("https://x.example/b.css"); .a {background: url(http://x.example/i.png)}</style>')
    assert network_references(page) == ["//fonts.example/a.css", "http://x.example/i.png",
                                        "https://cdn.example/require.js", "https://x.example/b.css"]


def test_controls_each_check_can_fail(browser, tmp_path: Path):
    cdn = tmp_path / "cdn.html"
    cdn.write_text('<html><head><script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js">'
                   '</script></head><body><h1>Report</h1><img src="data:image/png;base64,AAAA"></body></html>')
    report = browser.open(file_url(cdn))
    assert report.network_requests == ["https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"]
    assert len(report.failed_requests) == 1 and "cdnjs" in report.failed_requests[0]
    assert any("Failed to load resource" in line for line in report.console_errors)
    assert [image["naturalWidth"] for image in report.images] == [0]  # a broken image is caught

    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    assert png_pixel_spread(browser.open(file_url(blank)).screenshot) == 0.0

    scripted = tmp_path / "scripted.html"
    scripted.write_text("<html><body><p>x</p><script>console.error('boom'); alert('ran')</script></body></html>")
    report = browser.open(file_url(scripted))
    assert report.console_errors == ["console.error: boom"] and report.dialogs == ["ran"]


def test_every_rendered_report_opens_offline(rendered_run, browser, tmp_path: Path):
    folder, result = rendered_run
    pages = sorted(p for p in result.files if p.suffix == ".html")
    assert len(pages) == 9  # seven days, the weekly summary, the retrospective
    for page in pages:
        report = browser.open(file_url(page), image_shots=3)
        where = page.name
        assert report.network_requests == [], where
        assert report.failed_requests == [], where
        assert report.console_errors == [], where
        assert report.dialogs == [], where  # the planted <script> alert did not run
        assert report.images, f"{where}: no chart"
        for image in report.images:
            assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0, where
            assert image["width"] > 0 and image["height"] > 0, f"{where}: an image is not displayed"
        (tmp_path / f"{page.stem}.png").write_bytes(report.screenshot)
        assert png_pixel_spread(report.screenshot) > NOT_BLANK, f"{where}: blank first screen"
        for shot in report.image_shots:
            assert png_pixel_spread(shot) > NOT_BLANK, f"{where}: a chart draws as one flat colour"
