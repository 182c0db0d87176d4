"""Click-to-render latency in headless Chromium: performance.now() from a click to the last plotly_afterplot.

The graphs watched are found in the page, not listed: every visible `.js-plotly-plot` (laid out, not
hidden; a closed section's graphs are not) when the action starts. The click is dispatched inside the page in the same
script that starts the clock (a WebDriver click adds its own 50–100 ms round trip).
"""

from __future__ import annotations

import logging
import statistics

from benchmarks import page as page_module

log = logging.getLogger("benchmarks.browser")

# Listen to a graph's redraws (once per graph), under the id of its component.
_LISTEN = """
window.__renders = window.__renders || [];
const listen = (gd, key) => {
  if (!gd.__benchWatched && typeof gd.on === 'function') {
    gd.__benchWatched = true;
    gd.on('plotly_afterplot', () => window.__renders.push({graph: key, t: performance.now()}));
  }
};
const keyOf = (gd, fallback) => (gd.closest('[id]') || {}).id || fallback;
"""

# Listen to every graph the page has now; the key is the id of the graph's component (or its position).
WATCH = _LISTEN + """
const graphs = [...document.querySelectorAll('.js-plotly-plot')];
return graphs.map((gd, index) => {
  const key = keyOf(gd, 'graph ' + index);
  listen(gd, key);
  const box = gd.getBoundingClientRect();
  const visible = box.width > 0 && box.height > 0 && getComputedStyle(gd).visibility !== 'hidden';
  const onScreen = visible && box.bottom > 0 && box.top < window.innerHeight && box.right > 0
    && box.left < window.innerWidth;
  return {graph: key, visible: visible, on_screen: onScreen};
});
"""

# For `ms` after now, listen also to graphs that appear inside `selector` (a section opened: its contents come into
# the document only then), each from its first animation frame with Plotly's events, so before its data arrives.
WATCH_NEW = _LISTEN + """
const root = document.querySelector(arguments[0]), until = performance.now() + arguments[1];
(function poll() {
  if (root) { root.querySelectorAll('.js-plotly-plot').forEach((gd) => listen(gd, keyOf(gd, 'new graph'))); }
  if (performance.now() < until) { requestAnimationFrame(poll); }
})();
"""

# Resolve once no graph has drawn for quietMs: the renders since the click.
RENDERS_SETTLED = """
const done = arguments[arguments.length - 1];
const since = arguments[0], quietMs = arguments[1];
let count = -1, stable = performance.now();
(function check() {
  const now = performance.now();
  if (window.__renders.length !== count) { count = window.__renders.length; stable = now; }
  if (now - stable >= quietMs) { done(window.__renders.filter(r => r.t > since)); return; }
  setTimeout(check, 20);
})();
"""


def watch_graphs(driver) -> list[dict]:
    """Listen to every graph's redraws; return each graph's key, whether it is visible, and whether on screen."""
    return driver.execute_script(WATCH)


def watch_new_graphs(driver, selector: str, ms: int = 5000) -> None:
    """For `ms`, listen to the redraws of graphs that come into the document inside `selector`."""
    driver.execute_script(WATCH_NEW, selector, ms)


def renders_since(driver, since: float, quiet_ms: int = 150) -> list[dict]:
    """Wait until no graph has redrawn for quiet_ms; return the redraws (graph, t) after `since`."""
    return driver.execute_async_script(RENDERS_SETTLED, since, quiet_ms)


def click_to_render(page: page_module.InstrumentedPage, target: tuple[str, tuple]) -> dict | None:
    """Dispatch the click; return ms to the last redraw of a visible graph and which graphs redrew, or None
    if the click changed nothing (no request, no redraw: e.g. Random digit drew the digit already shown)."""
    watched = {g["graph"] for g in watch_graphs(page.driver) if g["visible"]}
    sent_before = page.request_count()
    clicked = page.dispatch(target[0], *target[1])
    page.wait_quiet()
    renders = [r for r in renders_since(page.driver, clicked) if r["graph"] in watched]
    if not renders:
        if page.request_count() == sent_before:
            return None
        raise RuntimeError(f"the click sent requests but no visible graph redrew ({sorted(watched)})")
    return {"ms": round(max(r["t"] for r in renders) - clicked, 1),
            "graphs": sorted({r["graph"] for r in renders})}


def _samples(page: page_module.InstrumentedPage, targets: list[tuple[str, tuple]]) -> list[dict]:
    """Return one click-to-render sample per target, clicking a target again when the click changed nothing."""
    samples = []
    for target in targets:
        for _ in range(5):
            sample = click_to_render(page, target)
            if sample is not None:
                samples.append(sample)
                break
        else:
            raise RuntimeError("five clicks in a row changed nothing in the page")
    return samples


def _summarise(samples: list[dict]) -> dict:
    times = [s["ms"] for s in samples]
    redrawn = sorted({graph for s in samples for graph in s["graphs"]})
    return {"p50_ms": statistics.median(times), "samples_ms": times, "graphs_redrawn": redrawn}


def measure(url: str, repeats: int = 10, warmup: int = 2) -> dict:
    """Return click-to-render for a digit change and a layer click at 1280x800, and the console's errors."""
    driver = page_module.start_browser()
    try:
        page = page_module.InstrumentedPage(driver, url)
        page.open()
        digit = _samples(page, [page_module.digit_change_target()] * (warmup + repeats))
        cards = page.count(page_module.LAYER_CARD)
        # Every card in turn, starting after the selected first one.
        order = [i % cards for i in range(1, warmup + repeats + 1)] if cards > 1 else []
        layer = _samples(page, [page_module.layer_card_target(index) for index in order])
        results = {"digit change": _summarise(digit[warmup:])}
        if layer[warmup:]:
            results["layer click"] = _summarise(layer[warmup:])
        return {**results, "console_errors": page.console_errors()}
    finally:
        driver.quit()
