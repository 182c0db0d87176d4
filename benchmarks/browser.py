"""Click-to-render latency in headless Chromium: performance.now() from a click to plotly_afterplot."""

from __future__ import annotations

import statistics
import time

LISTEN = """
window.__renders = [];
for (const id of arguments[0]) {
  const gd = document.getElementById(id).querySelector('.js-plotly-plot');
  gd.on('plotly_afterplot', () => window.__renders.push({id: id, t: performance.now()}));
}
"""

CLICK = """
const target = document.querySelectorAll(arguments[0])[arguments[1]];
window.__clicked = performance.now();
target.click();
return window.__clicked;
"""

SETTLED = """
const busy = document.querySelector('[data-dash-is-loading="true"]');
const renders = window.__renders.filter(r => r.t > window.__clicked);
return {busy: busy !== null, renders: renders};
"""


def start_browser():
    """Return a headless Chromium WebDriver at 1280x800."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1280,800"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options)


def wait_for_page(driver, url: str, graph_ids: list[str], timeout: float = 60) -> None:
    """Open the page and wait until every graph has drawn once."""
    driver.get(url)
    deadline = time.monotonic() + timeout
    script = "return arguments[0].every(id => { const e = document.getElementById(id); " \
             "return e && e.querySelector('.js-plotly-plot .main-svg'); });"
    while not driver.execute_script(script, graph_ids):
        if time.monotonic() > deadline:
            raise TimeoutError("the page did not draw its graphs")
        time.sleep(0.1)
    time.sleep(0.5)
    driver.execute_script(LISTEN, graph_ids)


def click_to_render(driver, selector: str, index: int, watched: str, timeout: float = 20) -> float:
    """Return ms from clicking the index-th element matching selector to the watched graph's last afterplot."""
    clicked = driver.execute_script(CLICK, selector, index)
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        state = driver.execute_script(SETTLED)
        drawn = [r["t"] for r in state["renders"] if r["id"] == watched]
        if drawn and not state["busy"]:
            # Wait 150 ms without new renders so a second redraw of the same update is counted.
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 0.15:
                return max(drawn) - clicked
        time.sleep(0.01)
    raise TimeoutError(f"{watched} did not redraw after clicking {selector}[{index}]")


def measure(url: str, graph_ids: list[str], repeats: int = 10, warmup: int = 2) -> dict:
    """Return median and all samples of click-to-render for a digit change and a layer change."""
    driver = start_browser()
    try:
        wait_for_page(driver, url, graph_ids)
        results = {}
        digit_samples = [click_to_render(driver, "#random-digit-button", 0, "activation-graph")
                         for _ in range(warmup + repeats)][warmup:]
        results["digit change"] = digit_samples
        # Alternate between the two conv layers (cards 2 and 0), whose activation views are the largest;
        # the page starts on card 0, so the first click goes to card 2.
        layer_samples = [click_to_render(driver, ".layer-card", [2, 0][i % 2], "activation-graph")
                         for i in range(warmup + repeats)][warmup:]
        results["layer change"] = layer_samples
        # The colour-scale switch: per channel, then shared again (radio inputs 1 and 0), on conv1 or conv2.
        results["scale toggle"] = [click_to_render(driver, "#scale-mode input", [1, 0][i % 2], "activation-graph")
                                   for i in range(warmup + repeats)][warmup:]
        # The explanations panel: choose another class to explain from its dropdown (open it, then time the
        # click on the option, to the explanation figure's redraw).
        explain_samples = []
        for i in range(warmup + repeats):
            driver.execute_script("document.getElementById('explain-target').click()")
            time.sleep(0.3)
            driver.execute_script(
                "const options = [...document.querySelectorAll('.dash-dropdown-content .dash-dropdown-option')];"
                "options.forEach(o => o.removeAttribute('data-bench'));"
                "options.find(o => o.textContent.trim() === arguments[0]).setAttribute('data-bench', '1');",
                f"class {i % 10}")
            explain_samples.append(click_to_render(driver, "[data-bench='1']", 0, "explanation-graph"))
        results["explanation class change"] = explain_samples[warmup:]
        console = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
        return {name: {"p50_ms": statistics.median(samples), "samples_ms": samples}
                for name, samples in results.items()} | {"console_errors": console}
    finally:
        driver.quit()
