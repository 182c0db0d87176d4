"""Your own input, links, comparison and report (issue 13), as a person's browser does them.

    .venv/bin/python -m benchmarks.own [--model-dir DIR] [--repeats 8]

Against `python app.py --offline` on the model folder, in headless Chromium at 1280×800, with every callback
request the page sends recorded in the page (benchmarks/page.py), never listed by hand:

- a stroke on the drawing pad, drawn with real pointer events (WebDriver actions): from the pointer's release
  (a `pointerup` listener's performance.now()) to the last redraw of a graph on screen;
- an upload of a ~1 MB JPEG photo through the file input: from the input's `change` event to the last redraw;
- opening a link that holds a whole view (a drawn digit, an edit, a layer, the colour scale, explanation settings)
  against opening the bare page: navigation start to the last redraw of a graph on screen, once quiet;
- the HTML report: the server's build time (the note beside the button), and click to the download's arrival;
- opening "Compare A and B" and choosing another B (no target; recorded).

Each recorded request is sent again afterwards, one after another, for its server time and gzipped size.
Writes benchmarks/own.json and benchmarks/OWN.md.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import browser, capture, report
from benchmarks import page as page_module
from benchmarks.server import ROOT, Server, command_line
from benchmarks.testset import replayed
from dashboard import compare_layout, components, ids

log = logging.getLogger("benchmarks.own")

TARGETS_MS = {"stroke": 150, "upload": 300, "link_extra": 200, "report_build": 2000}

# Times of the last pointerup and of the last file-input change, in the page's clock.
LISTEN = """
if (!window.__ownListening) {
  window.__ownListening = true;
  window.__pointerUp = null; window.__fileChange = null;
  document.addEventListener('pointerup', () => { window.__pointerUp = performance.now(); }, true);
  document.addEventListener('change', (event) => {
    if (event.target && event.target.type === 'file') { window.__fileChange = performance.now(); }
  }, true);
}
"""
# A drawn 7 (a bar and a stem), then a cross-bar: pad pixels from the pad's top-left corner.
STROKES = ([(60, 30), (95, 30), (130, 30), (120, 65), (110, 100), (100, 135), (90, 170)],
           [(70, 100), (100, 100), (130, 100)])
# A link holding a whole view: an edited drawing on conv2, per-channel colours, explanation settings.
LINK_QUERY = ("layer=conv2&scale=per-channel&saliency=3&tab=gradients&samples=20&steps=32&opacity=0.5"
              "&image={image}%7Cx%3D2%2Cr%3D-10")


def _photo_jpeg(path: Path, target_bytes: int = 1_000_000) -> int:
    """Write a ~1 MB JPEG of a dark digit on noisy paper (a phone photo's look); return its size in bytes."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(0)
    width, height = 1800, 1350
    # Paper with a light shading and a camera's grain (which is what makes a photo's JPEG ~1 MB).
    shade = np.linspace(0, 25, width)[np.newaxis, :, np.newaxis]
    image = Image.fromarray((205 + shade + rng.normal(0, 6, (height, width, 3))).clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.line([(700, 300), (1100, 300), (880, 1050)], fill=(30, 30, 40), width=70, joint="curve")
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    grain = rng.normal(0, 6, (height, width, 3))
    image = Image.fromarray((np.asarray(image, np.float32) + grain).clip(0, 255).astype(np.uint8))
    quality = 95
    while True:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        if buffer.tell() <= target_bytes * 1.05 or quality <= 40:
            break
        quality -= 5
    path.write_bytes(buffer.getvalue())
    return buffer.tell()


def _graphs_on_screen(page: page_module.InstrumentedPage) -> set[str]:
    return {g["graph"] for g in browser.watch_graphs(page.driver) if g["on_screen"]}


def requests_sent(page: page_module.InstrumentedPage, start: int) -> list[capture.CapturedRequest]:
    """Return the callback requests the page sent from index `start` on, timer-caused ones set aside."""
    records = [capture.CapturedRequest(body=r["body"], path="", sent_ms=r["sent"], answered_ms=r["answered"],
                                       status=r["status"]) for r in page.requests_since(start)]
    sent, _ = capture.split_timer_requests(records)
    return sent


def _sample(page: page_module.InstrumentedPage, start: int, since: float) -> dict:
    """Return ms from `since` to the last redraw of a graph on screen, with the requests sent since `start`."""
    page.wait_quiet()
    shown = _graphs_on_screen(page)
    renders = [r for r in browser.renders_since(page.driver, since) if r["graph"] in shown]
    if not renders:
        raise RuntimeError("the action redrew no graph on screen")
    sent = requests_sent(page, start)
    sizes, server_ms = replayed(page.url, sent)
    # The drawing pad redraws itself too (its strokes made non-editable): the panels' own last redraw beside it.
    panels = [r["t"] for r in renders if r["graph"] != ids.PAD] or [since]
    return {"ms": round(max(r["t"] for r in renders) - since, 1), "panels_ms": round(max(panels) - since, 1),
            "requests": len(sent), "server_ms": server_ms,
            "largest_kb": max(sizes, default=0.0), "outputs": sorted({r.output[:50] for r in sent}),
            "graphs": sorted({r["graph"] for r in renders})}


def _open_workbench(page: page_module.InstrumentedPage, label: str, tab: str | None = None) -> None:
    page.driver.execute_script(
        "[...document.querySelectorAll('button')].find(b => b.textContent.startsWith(arguments[0])).click();", label)
    if tab:
        page.driver.execute_script(
            "[...document.querySelectorAll('#workbench-mode input')].find(i => i.value === arguments[0]).click();",
            tab)
    page.wait_quiet()


def _stroke(page: page_module.InstrumentedPage, points: list[tuple[int, int]]) -> None:
    from selenium.webdriver.common.by import By

    page_module.draw_stroke(page.driver, page.driver.find_element(By.CSS_SELECTOR, "#drawing-pad .nsewdrag"), points)


def stroke_samples(page: page_module.InstrumentedPage, repeats: int) -> list[dict]:
    """Draw two strokes, then clear, `repeats` times; each stroke is one sample (pointer release to render)."""
    samples = []
    page.open()
    page.driver.execute_script(LISTEN)
    _open_workbench(page, "Draw")
    browser.watch_graphs(page.driver)
    for _ in range(repeats):
        for points in STROKES:
            start = page.request_count()
            _stroke(page, points)
            released = page.driver.execute_script("return window.__pointerUp;")
            samples.append(_sample(page, start, released))
        page.driver.execute_script("document.getElementById('pad-clear').click();")
        page.wait_quiet()
    return samples


def upload_samples(page: page_module.InstrumentedPage, photo: Path, repeats: int) -> list[dict]:
    """Upload the photo `repeats` times (the page reloaded between, so each upload changes the picture)."""
    from selenium.webdriver.common.by import By

    samples = []
    for _ in range(repeats):
        page.open()
        page.driver.execute_script(LISTEN)
        _open_workbench(page, "Draw", "upload")
        browser.watch_graphs(page.driver)
        start = page.request_count()
        page.driver.find_element(By.CSS_SELECTOR, "#image-upload input[type=file]").send_keys(str(photo))
        page.wait_quiet(timeout_s=60)
        changed = page.driver.execute_script("return window.__fileChange;")
        if changed is None:
            raise RuntimeError("the file input never changed")
        sample = _sample(page, start, changed)
        note = page.driver.execute_script("return document.getElementById('image-upload-note').textContent;")
        if "pixels" not in note:
            raise RuntimeError(f"the upload was refused: {note}")
        samples.append(sample)
    return samples


LOAD_TIME = """
const done = arguments[arguments.length - 1];
const quietMs = arguments[0];
// Polled every 10 ms: the page has loaded when every graph on screen shows a figure with data, nothing is
// loading or in flight; the time is when that state began (it must then hold for quietMs).
let since = null;
(function check() {
  const plots = [...document.querySelectorAll('.js-plotly-plot')].filter((gd) => {
    const box = gd.getBoundingClientRect();
    return box.width > 0 && box.bottom > 0 && box.top < window.innerHeight;
  });
  const drawn = plots.length > 0 && plots.every((gd) => gd.querySelector('.main-svg') && (gd.data || []).length > 0);
  const loading = document.querySelector('[data-dash-is-loading="true"]') !== null;
  const bench = window.__bench;
  const now = performance.now();
  if (!drawn || loading || !bench || bench.inflight > 0) { since = null; }
  else if (since === null) { since = now; }
  if (since !== null && now - since >= quietMs) {
    done({ms: since, graphs: plots.length, requests: bench.requests.length});
    return;
  }
  setTimeout(check, 10);
})();
"""


def load_samples(page: page_module.InstrumentedPage, url: str, repeats: int) -> list[dict]:
    """Open `url` `repeats` times in the same browser (its HTTP cache warm, as a person's second visit) and
    return navigation start (performance.now() = 0) to when every graph on screen shows its figure, quiet."""
    samples = []
    for _ in range(repeats):
        page.driver.get(url)
        samples.append(page.driver.execute_async_script(LOAD_TIME, 400))
    return samples


def report_samples(page: page_module.InstrumentedPage, repeats: int) -> list[dict]:
    """Click Report `repeats` times: the server's build time from the note, and click to the note's arrival
    (the note and the 5 MB download come in one response)."""
    samples = []
    page.open()
    for _ in range(repeats):
        start = page.request_count()
        clicked = page.dispatch("document.getElementById(arguments[0])", "report-button")
        page.wait_quiet(timeout_s=60)
        if page.request_count() == start:
            raise RuntimeError("the Report button sent no request")
        note = page.driver.execute_script("return document.getElementById('export-note').textContent;")
        match = re.search(r"([0-9.]+) MB, built in ([0-9.]+) s", note)
        if not match:
            raise RuntimeError(f"no report: {note!r}")
        answered = max(r["answered"] for r in page.requests_since(start))
        samples.append({"build_ms": float(match.group(2)) * 1000, "size_mb": float(match.group(1)),
                        "click_to_download_ms": round(answered - clicked, 1)})
    return samples


def compare_samples(page: page_module.InstrumentedPage, repeats: int) -> dict[str, list[dict]]:
    """Open "Compare A and B" (the layer conv1), then pick another B, `repeats` times."""
    toggle = ("[...document.querySelectorAll('.section-toggle')].find(b => b.textContent.includes('Compare A and B'))")
    out: dict[str, list[dict]] = {"open the comparison": [], "another B": []}
    for repeat in range(repeats):
        page.open()
        time.sleep(1.0)
        browser.watch_graphs(page.driver)
        # The section's graphs come into the document as it opens (components.section).
        browser.watch_new_graphs(page.driver, f"#{components.section_id(compare_layout.AB)}")
        start = page.request_count()
        clicked = page.dispatch(f"({{click: () => {{ const b = {toggle}; b.scrollIntoView({{block: 'start'}}); "
                                "b.click(); }})")
        out["open the comparison"].append(_sample(page, start, clicked))
        browser.watch_graphs(page.driver)
        start = page.request_count()
        # The B dropdown's value set as choosing an option sets it (Dash's own setProps on the component).
        clicked = page.driver.execute_script("""
            const clicked = performance.now(); window.__bench.last = clicked;
            window.dash_clientside.set_props('ab-image', {value: arguments[0]});
            return clicked;""", 2 + repeat)
        out["another B"].append(_sample(page, start, clicked))
    return out


def summary(rows: list[dict], key: str = "ms") -> dict:
    times = [row[key] for row in rows]
    result = {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(float(np.percentile(times, 95)), 1),
              "samples_ms": times}
    for extra in ("requests", "server_ms", "largest_kb"):
        if extra in rows[0]:
            values = [row[extra] for row in rows]
            result[extra] = sorted(set(values)) if extra == "requests" else round(statistics.median(values), 1)
    if "outputs" in rows[0]:
        result["outputs"] = sorted({o for row in rows for o in row["outputs"]})
    return result


def measure(url: str, repeats: int, photo: Path) -> dict:
    from dashboard import image_keys

    driver = page_module.start_browser()
    try:
        page = page_module.InstrumentedPage(driver, url)
        results: dict = {}
        strokes = stroke_samples(page, repeats)
        results["stroke"] = summary(strokes)
        results["stroke_panels"] = summary(strokes, "panels_ms")
        results["upload"] = summary(upload_samples(page, photo, max(3, repeats // 2)))
        from dashboard import pad_figures

        # The digit the stroke samples draw, as the pad names it: a link holds its strokes.
        drawn = image_keys.encode_drawing(STROKES, size=pad_figures.PAD_SIZE, width=pad_figures.STROKE_WIDTH)
        link = f"{url}/?model=seed&" + LINK_QUERY.format(image=drawn)
        # The same view on a test digit: what the view itself costs to draw, apart from the drawing in the link.
        same_view = f"{url}/?model=seed&" + LINK_QUERY.format(image="0")
        page.driver.get(url)  # warm the browser's cache of the page's scripts
        page.wait_quiet(quiet_ms=500, min_requests=1)
        bare = load_samples(page, url + "/", repeats)
        linked = load_samples(page, link, repeats)
        test_digit = load_samples(page, same_view, repeats)
        results["load"] = {"bare": summary(bare), "link": summary(linked), "link_chars": len(link),
                           "same_view_test_digit": summary(test_digit),
                           "link_requests": sorted({s["requests"] for s in linked}),
                           "bare_requests": sorted({s["requests"] for s in bare})}
        results["load"]["extra_p50_ms"] = round(results["load"]["link"]["p50_ms"] - results["load"]["bare"]["p50_ms"],
                                                1)
        builds = report_samples(page, max(3, repeats // 2))
        results["report"] = {"build": summary(builds, "build_ms"), "click_to_download": summary(
            builds, "click_to_download_ms"), "size_mb": builds[-1]["size_mb"]}
        results["compare"] = {name: summary(rows) for name, rows in compare_samples(page, max(3, repeats // 2)).items()}
        results["console_errors"] = page.console_errors()
        return results
    finally:
        driver.quit()


def _row(name: str, row: dict, target: str = "", verdict: str = "") -> str:
    counts = ", ".join(map(str, row.get("requests", [])))
    return (f"| {name} | {row['p50_ms']} / {row['p95_ms']} | {target} | {verdict} | {counts} | "
            f"{row.get('server_ms', '')} | {row.get('largest_kb', '')} |")


def write_report(results: dict) -> None:
    b, met = results["browser"], report.verdict
    load, built = b["load"], b["report"]
    extra = load["extra_p50_ms"]
    lines = [
        "# Your own input, links, comparison and report (issue 13)", "",
        f"Measured {results['measured']} by `python -m benchmarks.own`. Machine: {results['machine']}.",
        "The app: `python app.py --offline` (the seed CNN); browser: headless Chromium 1280×800; every request the "
        "page sent for an action recorded in the page (not listed by hand), then sent again one after another for "
        "its server time and gzipped size.", "",
        "| action | p50 / p95 ms | target | verdict | requests | server time replayed, p50 ms | largest gzip KB |",
        "|---|---|---|---|---|---|---|",
        _row("a stroke on the pad (pointer up → last render of a graph on screen)", b["stroke"],
             f"≤ {TARGETS_MS['stroke']}", met(b["stroke"]["p50_ms"], TARGETS_MS["stroke"], "ms")),
        _row("a stroke: pointer up → the last redraw of a panel (the pad's own redraw aside)", b["stroke_panels"]),
        _row(f"upload a {results['photo_kb']:,} KB JPEG photo ({results['photo_size']}; file chosen → last render)",
             b["upload"], f"≤ {TARGETS_MS['upload']}", met(b["upload"]["p50_ms"], TARGETS_MS["upload"], "ms")),
        _row("open the bare page (navigation → every graph on screen drawn, quiet)",
             {**load["bare"], "requests": load["bare_requests"]}),
        _row(f"open a link holding a whole view ({load['link_chars']} characters)",
             {**load["link"], "requests": load["link_requests"]}, f"≤ bare + {TARGETS_MS['link_extra']}",
             f"{met(extra, TARGETS_MS['link_extra'], 'ms')} ({extra:+g} ms)"),
        _row("open a link to the same view on test digit #0 (what the view costs to draw, apart from the drawing)",
             load["same_view_test_digit"]),
        _row(f"build the HTML report on the server ({built['size_mb']} MB)", {**built["build"], "requests": [1]},
             f"≤ {TARGETS_MS['report_build']}", met(built["build"]["p50_ms"], TARGETS_MS["report_build"], "ms")),
        _row("Report click → the download arrived in the page", {**built["click_to_download"], "requests": [1]}),
    ]
    lines += [_row(f"Compare A and B: {name}", row) for name, row in b["compare"].items()]
    lines += ["", "Requests each action sent (first output of each):", ""]
    lines += [f"- {name}: {', '.join(b[name]['outputs'])}" for name in ("stroke", "upload")]
    lines += [f"- compare, {name}: {', '.join(row['outputs'])}" for name, row in b["compare"].items()]
    lines += ["", f"Browser console errors: {len(b['console_errors'])}.", ""]
    (ROOT / "benchmarks" / "OWN.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = command_line(__doc__, argv)
    folder = Path(tempfile.mkdtemp(prefix="cnn-lens-bench-"))
    photo = folder / "photo.jpg"
    size = _photo_jpeg(photo)
    server = Server.app(args.model_dir, extra=["--offline"])
    try:
        measured = measure(server.url, args.repeats, photo)
    finally:
        server.stop()
    results = {"measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": report.describe_machine(report.machine()), "photo_kb": round(size / 1024),
               "photo_size": "1800×1350", "browser": measured}
    (ROOT / "benchmarks" / "own.json").write_text(json.dumps(results, indent=1))
    write_report(results)
    log.info("wrote benchmarks/OWN.md:\n%s", (ROOT / "benchmarks" / "OWN.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
