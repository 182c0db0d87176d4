"""The real page in headless Chromium, instrumented: every callback request it sends is recorded.

A script installed before the page's own scripts (Chrome DevTools' ``Page.addScriptToEvaluateOnNewDocument``)
wraps ``window.fetch``; each POST to ``/_dash-update-component`` is kept with its exact body, its send and
answer times (``performance.now()``; answered = the whole response body read) and its HTTP status. Installing
it before the page loads, rather than from ``execute_script`` afterwards, also records the requests the page
sends as it opens.

Actions are dispatched inside the page (``element.click()`` from ``execute_script``), not with WebDriver
clicks, which add their own 50–100 ms round trip; the page is *quiet* when no request is in flight, none has
started or answered for ``quiet_ms``, and no element has ``data-dash-is-loading="true"``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dashboard import ids

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

WINDOW = (1280, 800)
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run")
CALLBACK_PATH = "/_dash-update-component"
# Every section below the main view has a toggle with this class and aria-expanded="false" while closed.
SECTION_TOGGLE = ".section-toggle"
LAYER_CARD = ".layer-card"

RECORDER = """
(() => {
  if (window.__bench) { return; }
  const bench = {requests: [], inflight: 0, last: performance.now()};
  window.__bench = bench;
  const original = window.fetch.bind(window);
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : (input && input.url) || String(input);
    const method = ((init && init.method) || (input && input.method) || "GET").toUpperCase();
    if (method !== "POST" || url.indexOf("__CALLBACK_PATH__") < 0) { return original(input, init); }
    const record = {url: url, body: init && typeof init.body === "string" ? init.body : null,
                    sent: performance.now(), answered: null, status: null};
    bench.requests.push(record);
    bench.inflight += 1;
    bench.last = record.sent;
    const finish = (status) => {
      record.answered = performance.now();
      record.status = status;
      bench.inflight -= 1;
      bench.last = record.answered;
    };
    return original(input, init).then((response) => {
      // Answered when the whole body has arrived, not at the headers: read a copy, leave the original to Dash.
      response.clone().arrayBuffer().then(() => finish(response.status), () => finish(response.status));
      return response;
    }, (error) => { finish(0); throw error; });
  };
})();
""".replace("__CALLBACK_PATH__", CALLBACK_PATH)

WAIT_QUIET = """
const done = arguments[arguments.length - 1];
const quietMs = arguments[0], timeoutMs = arguments[1], minRequests = arguments[2];
const started = performance.now();
(function check() {
  const bench = window.__bench;
  const now = performance.now();
  if (bench) {
    const loading = document.querySelector('[data-dash-is-loading="true"]') !== null;
    if (bench.requests.length >= minRequests && bench.inflight === 0 && !loading
        && now - Math.max(bench.last, started) >= quietMs) {
      done({quiet: true});
      return;
    }
  }
  if (now - started > timeoutMs) {
    done({quiet: false, inflight: bench ? bench.inflight : null, requests: bench ? bench.requests.length : null});
    return;
  }
  setTimeout(check, 20);
})();
"""

# Run an action's script with the clock started in the same call (returns performance.now() at dispatch).
DISPATCH = """
const bench = window.__bench;
const clicked = performance.now();
bench.last = clicked;
const target = (__TARGET__);
if (!target) { throw new Error("nothing to click for this action"); }
target.click();
return clicked;
"""

PAGE_HEIGHT = "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);"


def start_browser(width: int = WINDOW[0], height: int = WINDOW[1]) -> Chrome:
    """Return a headless Chromium WebDriver with the given window size."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (*CHROMIUM_FLAGS, f"--window-size={width},{height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options)


class InstrumentedPage:
    """One browser tab on the app, recording every callback request from before the page's scripts run."""

    def __init__(self, driver: Chrome, url: str) -> None:
        self.driver = driver
        self.url = url
        self.driver.set_script_timeout(120)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORDER})

    def open(self, width: int = WINDOW[0], height: int = WINDOW[1], timeout_s: float = 60) -> None:
        """Load the page in a window of this size and wait until it has sent its opening requests and is quiet."""
        self.driver.set_window_size(width, height)
        self.driver.get(self.url)
        # Quiet for longer than between actions: the opening requests start only once Dash has loaded.
        self.wait_quiet(quiet_ms=500, timeout_s=timeout_s, min_requests=1)

    def wait_quiet(self, quiet_ms: int = 300, timeout_s: float = 30, min_requests: int = 0) -> None:
        """Wait until nothing is in flight or loading and no request has started or answered for quiet_ms
        (and at least quiet_ms from now, so that what a click just started has time to show)."""
        state = self.driver.execute_async_script(WAIT_QUIET, quiet_ms, timeout_s * 1000, min_requests)
        if not state["quiet"]:
            raise TimeoutError(f"the page did not settle within {timeout_s} s: {state}")

    def request_count(self) -> int:
        """Return how many callback requests the page has sent since it was loaded."""
        return self.driver.execute_script("return window.__bench.requests.length;")

    def requests_since(self, start: int) -> list[dict[str, Any]]:
        """Return the recorded requests from index start on: url, body, sent, answered, status."""
        return self.driver.execute_script("return window.__bench.requests.slice(arguments[0]);", start)

    def dispatch(self, target_js: str, *args: Any) -> float:
        """Click the element the JavaScript expression target_js finds; return performance.now() at the click."""
        return self.driver.execute_script(DISPATCH.replace("__TARGET__", target_js), *args)

    def count(self, selector: str) -> int:
        """Return how many elements match the CSS selector."""
        return self.driver.execute_script("return document.querySelectorAll(arguments[0]).length;", selector)

    def layer_card_names(self) -> list[str]:
        """Return each layer card's layer name (its dict id's "layer", else its first line of text)."""
        return self.driver.execute_script("""
            return [...document.querySelectorAll(arguments[0])].map((card, index) => {
              try { const id = JSON.parse(card.id); if (id && id.layer) { return String(id.layer); } } catch (e) {}
              return (card.innerText || "").split("\\n")[0].trim() || ("card " + index);
            });""", LAYER_CARD)

    def open_every_section(self, limit: int = 50) -> list[str]:
        """Click every closed section toggle until none is left; return the toggles' texts, in order."""
        opened = []
        for _ in range(limit):
            text = self.driver.execute_script("""
                const toggle = [...document.querySelectorAll(arguments[0] + '[aria-expanded="false"]')]
                  .find(t => !t.hasAttribute('data-bench-clicked'));
                if (!toggle) { return null; }
                toggle.setAttribute('data-bench-clicked', '1');
                toggle.click();
                try {  // a dict id names the section: {"type": ..., "section": "explanations"}
                  const id = JSON.parse(toggle.id);
                  const names = Object.entries(id).filter(([key]) => key !== 'type').map(([, value]) => value);
                  if (names.length) { return names.join(' '); }
                } catch (error) {}
                return (toggle.id || toggle.innerText.replace(/\\s+/g, ' ').trim() || '?');""", SECTION_TOGGLE)
            if text is None:
                return opened
            opened.append(text)
            self.wait_quiet()
        raise RuntimeError(f"more than {limit} section toggles: is a toggle reopening itself?")

    def open_every_panel(self, attempts: int = 6) -> tuple[tuple[int, int], list[str]]:
        """Open every section, then grow the window until the whole page is inside the viewport (opening any
        section that appears as it grows); return the window size and the sections opened."""
        opened = []
        for _ in range(attempts):
            opened += self.open_every_section()
            needed = self.driver.execute_script(PAGE_HEIGHT)
            inner = self.driver.execute_script("return window.innerHeight;")
            if needed <= inner:
                self.driver.execute_script("window.scrollTo(0, 0);")
                size = self.driver.get_window_size()
                return (size["width"], size["height"]), opened
            outer = self.driver.get_window_size()["height"]
            self.driver.set_window_size(WINDOW[0], needed + max(0, outer - inner))
            self.wait_quiet()
        raise RuntimeError("the page keeps growing: could not fit it in the window")

    def console_errors(self) -> list[dict]:
        """Return (and clear) the browser console's SEVERE entries since the last call."""
        return [entry for entry in self.driver.get_log("browser") if entry.get("level") == "SEVERE"]


def draw_stroke(driver: Chrome, target: Any, points: list[tuple[int, int]]) -> None:
    """Draw one stroke on an element with real pointer events (WebDriver actions) through these points, in
    pixels from the element's top-left corner."""
    from selenium.webdriver.common.action_chains import ActionChains

    chain = ActionChains(driver).move_to_element(target)
    # From the centre, where move_to_element leaves the pointer, to the first point; then point to point.
    x, y = target.size["width"] // 2, target.size["height"] // 2
    for position, (px, py) in enumerate(points):
        chain = chain.move_by_offset(px - x, py - y)
        if position == 0:
            chain = chain.click_and_hold()
        x, y = px, py
    chain.release().perform()


def digit_change_target() -> tuple[str, tuple]:
    """Return the JavaScript expression for the Random digit button, and its argument."""
    return "document.getElementById(arguments[0])", (ids.RANDOM_DIGIT,)


def layer_card_target(index: int) -> tuple[str, tuple]:
    """Return the JavaScript expression for the index-th layer card, and its arguments."""
    return "document.querySelectorAll(arguments[0])[arguments[1]]", (LAYER_CARD, index)
