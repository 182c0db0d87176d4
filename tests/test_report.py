"""The HTML report: plotly.js inline once, every text escaped, the numbers intact, and a clean offline render.

The browser test drives headless Chromium through selenium directly: the report is a file, not a Dash page.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timezone

import numpy as np
import plotly.graph_objects as go
import plotly.io
import plotly.offline
import pytest

from dashboard import report

FIGURE_JSON = re.compile(r'<script type="application/json" id="figure-(\d+)-json">(.*?)</script>', re.DOTALL)
GENERATED_AT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=timezone.utc)


def sample_arrays() -> dict[str, np.ndarray]:
    """Return the arrays the sample figures show: two 28x28 images and one 200x400 activation map."""
    rng = np.random.default_rng(0)
    return {"digit": rng.random((28, 28), dtype=np.float32),
            "saliency": rng.normal(size=(28, 28)).astype(np.float32),
            "activations": rng.random((200, 400), dtype=np.float32)}


def sample_figures() -> list[report.ReportFigure]:
    """Return eight figures as the app holds them: go.Figures, unvalidated ones, and dicts (numpy and bdata)."""
    arrays = sample_arrays()
    weights = np.linspace(-1, 1, 72, dtype=np.float32).reshape(8, 9)
    # As Dash holds a figure: the JSON of a go.Figure, numpy arrays encoded as {"dtype", "bdata", "shape"}.
    weights_as_dash_holds = json.loads(plotly.io.to_json(go.Figure(go.Heatmap(z=weights))))
    return [
        report.ReportFigure("Input digit", go.Figure(go.Heatmap(z=arrays["digit"], colorscale="Greys"))),
        report.ReportFigure("Saliency", {"data": [{"type": "heatmap", "z": arrays["saliency"]}], "layout": {}},
                            "Gradient of the predicted class's score."),
        report.ReportFigure("conv_1 activations", go.Figure(go.Heatmap(z=arrays["activations"]))),
        report.ReportFigure("Probabilities", go.Figure(go.Bar(x=list("0123456789"), y=np.full(10, 0.1)))),
        report.ReportFigure("conv_1 weights", weights_as_dash_holds, "Kernels, as the page holds them."),
        report.ReportFigure("Loss", go.Figure(go.Scatter(x=np.arange(50), y=np.exp(-np.arange(50) / 10)))),
        report.ReportFigure("Unvalidated", go.Figure({"data": [{"type": "heatmap", "z": weights}]}, _validate=False)),
        report.ReportFigure("Pixel values", go.Figure(go.Histogram(x=arrays["digit"].ravel()))),
    ]


def decoded(values: object) -> np.ndarray:
    """Return an array from a figure JSON's values: a list, or a typed-array encoding {"dtype", "bdata", "shape"}."""
    if isinstance(values, dict):
        flat = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
        shape = values.get("shape")
        return flat.reshape([int(n) for n in shape.split(",")]) if shape else flat
    return np.asarray(values)


def without_plotlyjs(document: str) -> str:
    """Return the report without its plotly.js bundle, whose source holds "<a " and CDN URLs of its own."""
    return document.replace(plotly.offline.get_plotlyjs(), "")


def figures_in(document: str) -> dict[int, dict]:
    """Return the figure JSON the report embeds, by figure index."""
    return {int(index): json.loads(text) for index, text in FIGURE_JSON.findall(document)}


@pytest.fixture(scope="module")
def document() -> str:
    """The report of the eight sample figures."""
    return report.build_report("Digit 42", "seed CNN, test digit #42", sample_figures(),
                               facts=[("Model", "seed CNN"), ("Prediction", "7 (99.1%)")],
                               link="http://localhost:8050/?model=seed&image=42", generated_at=GENERATED_AT)


def test_plotlyjs_is_inline_exactly_once(document):
    banner = next(line for line in plotly.offline.get_plotlyjs().splitlines() if "plotly.js v" in line)
    assert document.count(banner) == 1
    assert not re.search(r"<script[^>]*\bsrc=", document)
    assert "cdn.plot.ly" not in without_plotlyjs(document)


def test_one_div_and_one_json_per_figure(document):
    assert len(re.findall(r'<div class="plot" id="figure-\d+" data-figure-index=', document)) == 8
    assert sorted(figures_in(document)) == list(range(8))
    # plotly.js, one JSON per figure, and the script that draws them: nothing else runs.
    assert document.count("<script") == 1 + 8 + 1


def test_heatmap_numbers_survive(document):
    arrays = sample_arrays()
    figures = figures_in(document)
    for index, name in ((0, "digit"), (1, "saliency"), (2, "activations")):
        z = figures[index]["data"][0]["z"]
        assert isinstance(z, dict), "numpy arrays should travel as typed arrays, not lists of floats"
        np.testing.assert_array_equal(decoded(z), arrays[name])
    np.testing.assert_array_equal(decoded(figures[4]["data"][0]["z"]),
                                  np.linspace(-1, 1, 72, dtype=np.float32).reshape(8, 9))


def test_texts_are_escaped():
    hostile = "<script>alert(1)</script>"
    figure = go.Figure(go.Bar(y=[1, 2]), layout={"title": {"text": "</script><script>alert(2)</script>"}})
    document = report.build_report(f"Title {hostile}", "a <b>bold</b> & claim",
                                   [report.ReportFigure(f"Figure {hostile}", figure, hostile)],
                                   facts=[(hostile, "seed & <CNN>")], link="javascript:alert(3)")
    assert "alert(1)</script>" not in document and "alert(2)</script>" not in document
    assert document.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 5  # <title>, <h1>, <h2>, caption, fact
    assert "a &lt;b&gt;bold&lt;/b&gt; &amp; claim" in document and "seed &amp; &lt;CNN&gt;" in document
    assert document.count("<script") == 1 + 1 + 1
    assert "<a " not in without_plotlyjs(document) and "Reopen this view: javascript:alert(3)" in document
    assert figures_in(document)[0]["layout"]["title"]["text"] == "</script><script>alert(2)</script>"


def test_http_link_is_a_link_and_facts_a_table(document):
    assert '<a href="http://localhost:8050/?model=seed&amp;image=42" rel="noopener">' in document
    assert '<tr><th scope="row">Prediction</th><td>7 (99.1%)</td></tr>' in document
    assert "Generated 2025-03-14T09:26:53+00:00 by CNN Lens" in document


def test_no_link_and_no_facts_leave_no_trace():
    document = report.build_report("T", "S", [report.ReportFigure("F", {"data": [], "layout": {}})])
    assert "Reopen" not in document and '<table class="facts">' not in document
    assert re.search(r"Generated \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 by CNN Lens", document)


def test_no_figures_is_an_error():
    with pytest.raises(ValueError, match="at least one figure"):
        report.build_report("T", "S", [])


@pytest.mark.parametrize(("model_key", "image", "expected"), [
    ("seed", "digit-42", "cnn-lens-report-seed-digit-42.html"),
    ("seed", "test digit #42", "cnn-lens-report-seed-test-digit-42.html"),
    ("../../etc", "passwd", "cnn-lens-report-..-..-etc-passwd.html"),
    ("run_2025.03", "Ünïcode/ímage", "cnn-lens-report-run_2025.03-n-code-mage.html"),
    ("seed", "--a -- b--", "cnn-lens-report-seed-a-b.html"),
])
def test_report_filename_is_safe(model_key, image, expected):
    assert report.report_filename(model_key, image) == expected


def test_report_filename_is_capped():
    name = report.report_filename("m" * 300, "i")
    assert len(name) == 120 and name.endswith(".html") and re.fullmatch(r"[A-Za-z0-9._-]+", name)


@pytest.mark.browser
def test_report_renders_offline_in_chromium(tmp_path, document):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    path = tmp_path / report.report_filename("seed", "digit-42")
    path.write_text(document, encoding="utf-8")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(path.as_uri())
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "const plots = document.querySelectorAll('div.plot');"
            "return plots.length === 8 && Array.from(plots).every(div => div.querySelector('.main-svg'));"))
        # plotly.js decoded the typed arrays: the values hover shows are the array's own.
        row = driver.execute_script("return Array.from(document.getElementById('figure-2')._fullData[0].z[199]);")
        np.testing.assert_allclose(row, sample_arrays()["activations"][199], rtol=0, atol=0)
        assert driver.find_elements("css selector", "#figure-0 .modebar-btn[data-title='Download plot as a PNG']")
        requested = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
        assert not [name for name in requested if name.startswith("http")]
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not severe, severe
        # The whole page in one picture: the window grows by the page's height plus the browser's own chrome.
        height = driver.execute_script(
            "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight;")
        driver.set_window_size(1280, height)
        driver.save_screenshot("/tmp/report-shot.png")
    finally:
        driver.quit()
