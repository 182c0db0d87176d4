"""Capture what the page really sends for each user action, in headless Chromium.

An action is one dispatched click and every callback request the page sends until it is quiet again.
Requests a timer caused are not the action's: a request whose changed properties are all timer ticks
(``*.n_intervals``, e.g. the run list's poll) or outputs of such timer requests is set aside and counted.

Page states: *as it opens* (1280×800, nothing else touched) and *every panel open* (every
``.section-toggle[aria-expanded="false"]`` clicked, and the window as tall as the page, so that every
panel is on screen). Digit changes are captured on distinct digits only (a repeat would be served from
the server's per-digit caches when replayed), and distinct from the digit the page opens on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks import page as page_module
from dashboard import ids

log = logging.getLogger("benchmarks.capture")

AS_IT_OPENS = "page as it opens"
EVERY_PANEL_OPEN = "every panel open"
PAGE_OPEN, OPEN_PANELS, DIGIT_CHANGE, LAYER_CLICK = "page open", "open every panel", "digit change", "layer click"
TIMER_PROPERTY = ".n_intervals"


@dataclasses.dataclass
class CapturedRequest:
    """One POST the page sent: its exact body, and when (ms after the action's click) it left and was answered."""

    body: str
    path: str
    sent_ms: float
    answered_ms: float | None
    status: int | None

    @property
    def payload(self) -> dict[str, Any]:
        """Return the body, parsed."""
        return json.loads(self.body)

    @property
    def output(self) -> str:
        """Return the callback's key: the body's "output" field."""
        return self.payload["output"]


@dataclasses.dataclass
class CapturedAction:
    """One user action: the requests it caused, the timer requests set aside, and what it was about."""

    kind: str
    state: str
    requests: list[CapturedRequest]
    timer_requests: list[CapturedRequest]
    digit: int | None = None
    layer: str | None = None

    @property
    def browser_ms(self) -> float | None:
        """Return ms from the click to the last answer, as the page saw it during the capture."""
        answered = [r.answered_ms for r in self.requests if r.answered_ms is not None]
        return max(answered) if answered else None

    @property
    def rounds(self) -> int:
        """Return how many round trips deep the action is (a request sent after another answered is one deeper)."""
        depth: list[int] = []
        for request in self.requests:
            earlier = [depth[index] for index, other in enumerate(self.requests[:len(depth)])
                       if other.answered_ms is not None and other.answered_ms <= request.sent_ms]
            depth.append(1 + max(earlier, default=0))
        return max(depth, default=0)


@dataclasses.dataclass
class Capture:
    """Everything captured from one page: the actions and how the page states were reached."""

    url: str
    actions: list[CapturedAction]
    states: dict[str, dict[str, Any]]

    def of(self, kind: str, state: str | None = None) -> list[CapturedAction]:
        """Return the captured actions of one kind (and page state)."""
        return [a for a in self.actions if a.kind == kind and (state is None or a.state == state)]

    def save(self, path: Path) -> None:
        """Write the capture as JSON (for reading, and for replaying without a browser)."""
        path.write_text(json.dumps(dataclasses.asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Capture:
        """Read a capture written by save()."""
        raw = json.loads(path.read_text())
        actions = [CapturedAction(**{**a, "requests": [CapturedRequest(**r) for r in a["requests"]],
                                     "timer_requests": [CapturedRequest(**r) for r in a["timer_requests"]]})
                   for a in raw["actions"]]
        return cls(url=raw["url"], actions=actions, states=raw["states"])


def prop_id(component_id: Any, prop: str) -> str:
    """Return "id.prop" as Dash writes it in changedPropIds (dict ids as JSON with sorted keys)."""
    if isinstance(component_id, dict):
        component_id = json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return f"{component_id}.{prop}"


def _flatten(slots: Any) -> list[dict]:
    """Return the {id, property, ...} items of a body's outputs, inputs or state (nested for pattern ids)."""
    if isinstance(slots, dict):
        return [slots]
    return [item for slot in slots or [] for item in _flatten(slot)]


def input_value(payload: dict, component_id: str, prop: str) -> Any:
    """Return the value the body sends for one input or state, or None."""
    for item in _flatten(payload.get("inputs")) + _flatten(payload.get("state")):
        if item.get("id") == component_id and item.get("property") == prop:
            return item.get("value")
    return None


def first_input(action: CapturedAction, component_id: str, prop: str, kind: type) -> Any:
    """Return the first value of this kind any of the action's requests sends for the input, or None."""
    for request in action.requests:
        value = input_value(request.payload, component_id, prop)
        if isinstance(value, kind) and not isinstance(value, bool):
            return value
    return None


def split_timer_requests(records: list[CapturedRequest]) -> tuple[list[CapturedRequest], list[CapturedRequest]]:
    """Return (the action's requests, the requests timer ticks caused), in the order they were sent."""
    timer_outputs: set[str] = set()
    caused, timed = [], []
    for record in sorted(records, key=lambda r: r.sent_ms):
        payload = record.payload
        changed = payload.get("changedPropIds") or []
        if changed and all(c.endswith(TIMER_PROPERTY) or c in timer_outputs for c in changed):
            timed.append(record)
            timer_outputs |= {prop_id(item["id"], item["property"]) for item in _flatten(payload.get("outputs"))}
        else:
            caused.append(record)
    return caused, timed


class Capturer:
    """Drives one instrumented page and turns its requests into captured actions."""

    def __init__(self, page: page_module.InstrumentedPage) -> None:
        self.page = page
        self.actions: list[CapturedAction] = []
        self.seen_digits: set[int] = set()

    def _record(self, kind: str, state: str, start: int, clicked: float) -> CapturedAction:
        records = []
        for raw in self.page.requests_since(start):
            if raw["body"] is None:
                raise RuntimeError(f"a request to {raw['url']} had a body that is not text: cannot replay it")
            url = urlsplit(raw["url"])
            path = url.path + (f"?{url.query}" if url.query else "")
            records.append(CapturedRequest(
                body=raw["body"], path=path, sent_ms=round(raw["sent"] - clicked, 2), status=raw["status"],
                answered_ms=None if raw["answered"] is None else round(raw["answered"] - clicked, 2)))
        caused, timed = split_timer_requests(records)
        failed = [r for r in caused if r.status not in (200, 204)]
        if failed:
            raise RuntimeError(f"{kind}: the page got HTTP {failed[0].status} for {failed[0].output}")
        action = CapturedAction(kind=kind, state=state, requests=caused, timer_requests=timed)
        # What the action is about, read from what the page sent: the digit shown, the layer selected.
        action.digit = first_input(action, ids.DIGIT, "value", int)
        action.layer = first_input(action, ids.SELECTED_LAYER, "data", str)
        return action

    def _act(self, kind: str, state: str, target: tuple[str, tuple]) -> CapturedAction:
        start = self.page.request_count()
        clicked = self.page.dispatch(target[0], *target[1])
        self.page.wait_quiet()
        return self._record(kind, state, start, clicked)

    def page_open(self, state: str) -> CapturedAction:
        """Record what the page sent as it opened (already loaded by the caller), as one action."""
        action = self._record(PAGE_OPEN, state, 0, 0.0)
        if action.digit is not None:
            self.seen_digits.add(action.digit)
        self.actions.append(action)
        return action

    def open_panels(self, state: str) -> tuple[CapturedAction, list[str], tuple[int, int]]:
        """Open every section and fit the window to the page; return the action, the toggles and the window."""
        start = self.page.request_count()
        clicked = self.page.driver.execute_script("return performance.now();")
        window, toggles = self.page.open_every_panel()
        action = self._record(OPEN_PANELS, state, start, clicked)
        self.actions.append(action)
        return action, toggles, window

    def digit_changes(self, state: str, count: int) -> list[CapturedAction]:
        """Click Random digit until count distinct, never-seen digits have been captured."""
        captured: list[CapturedAction] = []
        attempts = 0
        while len(captured) < count:
            attempts += 1
            if attempts > 3 * count + 10:
                raise RuntimeError(f"only {len(captured)} distinct digit changes in {attempts} clicks")
            action = self._act(DIGIT_CHANGE, state, page_module.digit_change_target())
            if not action.requests or action.digit in self.seen_digits:
                continue  # a digit seen before: its replay would hit the server's per-digit caches
            if action.digit is not None:
                self.seen_digits.add(action.digit)
            captured.append(action)
        self.actions += captured
        return captured

    def layer_clicks(self, state: str, at_least: int) -> list[CapturedAction]:
        """Click every layer card in turn (starting after the selected first one, ending on it), in rounds."""
        names = self.page.layer_card_names()
        if len(names) < 2:
            log.warning("the page has %d layer card(s): no layer clicks captured", len(names))
            return []
        rounds = max(1, math.ceil(at_least / len(names)))
        order = list(range(1, len(names))) + [0]
        captured = []
        for _ in range(rounds):
            for index in order:
                action = self._act(LAYER_CLICK, state, page_module.layer_card_target(index))
                action.layer = names[index]  # the card clicked, whatever the requests call it
                captured.append(action)
        self.actions += captured
        return captured


def capture_page(url: str, *, digit_changes: int = 30, layer_clicks: int = 28) -> tuple[Capture, list[dict]]:
    """Capture layer clicks and digit changes in both page states; return the capture and console errors."""
    driver = page_module.start_browser()
    try:
        page = page_module.InstrumentedPage(driver, url)
        capturer = Capturer(page)
        states: dict[str, dict[str, Any]] = {}

        page.open()
        opening = capturer.page_open(AS_IT_OPENS)
        log.info("%s: the page opened with %d requests; capturing %d+ layer clicks and %d digit changes",
                 AS_IT_OPENS, len(opening.requests), layer_clicks, digit_changes)
        capturer.layer_clicks(AS_IT_OPENS, layer_clicks)
        capturer.digit_changes(AS_IT_OPENS, digit_changes)
        states[AS_IT_OPENS] = {"window": list(page_module.WINDOW), "sections_opened": []}

        page.open()
        capturer.page_open(EVERY_PANEL_OPEN)
        _, toggles, window = capturer.open_panels(EVERY_PANEL_OPEN)
        if toggles:
            log.info("%s: opened %d section(s) %s; window %dx%d", EVERY_PANEL_OPEN, len(toggles), toggles, *window)
        else:
            log.info("%s: the page has no closed section toggle, so this state is the page as it opens in a "
                     "%dx%d window", EVERY_PANEL_OPEN, *window)
        capturer.digit_changes(EVERY_PANEL_OPEN, digit_changes)
        states[EVERY_PANEL_OPEN] = {"window": list(window), "sections_opened": toggles}
        errors = page.console_errors()
        return Capture(url=url, actions=capturer.actions, states=states), errors
    finally:
        driver.quit()


def capture_digit_changes(url: str, state: str, count: int) -> list[CapturedAction]:
    """Return count digit changes on distinct digits, captured from a fresh page in the given state."""
    driver = page_module.start_browser()
    try:
        page = page_module.InstrumentedPage(driver, url)
        capturer = Capturer(page)
        page.open()
        capturer.page_open(state)
        if state == EVERY_PANEL_OPEN:
            capturer.open_panels(state)
        return capturer.digit_changes(state, count)
    finally:
        driver.quit()
