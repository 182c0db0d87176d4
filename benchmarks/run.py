"""Measure what the browser really sends, against the seed's naive pipeline; print a table, write JSON and RESULTS.md.

    .venv/bin/python -m benchmarks.run [--model-dir DIR] [--data PATH] [--requests 30] [--skip-browser]

1. Capture: the app (`python app.py`) in its own process; in headless Chromium, every callback request the
   page sends for each user action (benchmarks/capture.py): layer clicks on every card, and --requests digit
   changes on distinct digits with the page as it opens and with every panel open.
2. Replay: the captured bodies over HTTP on loopback, against a fresh server each time (so no captured
   digit is already in its per-digit caches): one after another (their sum: the server time) on one
   server, all of each action's requests together on six connections (wall time) on another.
3. The naive pipeline on exactly the captured digits and layers, in-process on the same saved model.
4. Click to render in headless Chromium, the attribution methods, the model's own work, cold start.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import browser, capture, in_process, replay, report  # noqa: E402
from benchmarks.capture import AS_IT_OPENS, DIGIT_CHANGE, EVERY_PANEL_OPEN, LAYER_CLICK, OPEN_PANELS, PAGE_OPEN  # noqa: E402
from benchmarks.server import Server  # noqa: E402
from benchmarks.stats import summary  # noqa: E402
from dashboard import data as data_module  # noqa: E402
from dashboard.config import default_model_dir  # noqa: E402

log = logging.getLogger("benchmarks")

# The headline rows: (row, action kind, page state, the naive pipeline's counterpart or None).
ROWS = [
    (report.DIGIT_CHANGE_AS_IT_OPENS, DIGIT_CHANGE, AS_IT_OPENS, in_process.DIGIT_CHANGE_VIEW),
    (report.DIGIT_CHANGE_EVERY_PANEL_OPEN, DIGIT_CHANGE, EVERY_PANEL_OPEN, in_process.DIGIT_CHANGE_VIEW),
    (report.LAYER_CLICK, LAYER_CLICK, AS_IT_OPENS, in_process.LAYER_VIEW),
]


def warm_up(replayer: replay.Replayer, captured: capture.Capture) -> dict:
    """Replay what the page sends as it opens and as its panels open (traces, caches the opening digit).

    Returns what the page sends as it opens (requests and bytes), measured on the way; its times are not
    reported, being the server's first requests.
    """
    opening = {}
    for action in captured.of(PAGE_OPEN) + captured.of(OPEN_PANELS):
        answers = replay.require_ok(replayer.one_after_another(action), action.kind)
        if action.kind == PAGE_OPEN and action.state == AS_IT_OPENS:
            opening = {"requests": len(answers), "raw_kb": round(sum(a.raw_bytes for a in answers) / 1024, 1),
                       "gzip_kb": round(sum(a.wire_bytes for a in answers) / 1024, 1),
                       "timer_requests_excluded": len(action.timer_requests),
                       "rounds": action.rounds, "last_answer_ms": action.browser_ms,
                       "callbacks": [a.output for a in answers]}
    return opening


def on_fresh_server(args: argparse.Namespace, captured: capture.Capture,
                    measure: Callable[[replay.Replayer], dict]) -> tuple[dict, dict, float]:
    """Start a server, warm it up with the opening requests, run measure; return (results, opening, peak MB)."""
    server = Server.app(args.model_dir, args.data)
    try:
        replayer = replay.Replayer(server.url)
        try:
            opening = warm_up(replayer, captured)
            results = measure(replayer)
        finally:
            replayer.close()
    finally:
        peak = server.stop()
    return results, opening, peak


def measure_rows(replayer: replay.Replayer, captured: capture.Capture,
                 measure: Callable[[replay.Replayer, list[capture.CapturedAction]], dict], how: str) -> dict:
    """Return measure(replayer, actions) for every headline row that has captured actions."""
    rows = {}
    for row, kind, state, _ in ROWS:
        actions = captured.of(kind, state)
        if actions:
            log.info("replaying %s, %s", row, how)
            rows[row] = measure(replayer, actions)
    return rows


def describe_capture(captured: capture.Capture, errors: list[dict]) -> dict:
    """Return what was captured: per row and per page state, the action counts, requests and exclusions."""
    rows = {}
    for row, kind, state, _ in ROWS:
        actions = captured.of(kind, state)
        rows[row] = {"actions": len(actions),
                     "distinct_digits": len({a.digit for a in actions if a.digit is not None}),
                     "layers": sorted({a.layer for a in actions if a.layer}),
                     "rounds_max": max((a.rounds for a in actions), default=0),
                     "timer_requests_excluded": sum(len(a.timer_requests) for a in actions),
                     "browser_ms": summary([a.browser_ms for a in actions if a.browser_ms is not None])}
    return {"states": captured.states, "rows": rows,
            "timer_requests_excluded_total": sum(len(a.timer_requests) for a in captured.actions),
            "open_panels_requests": sum(len(a.requests) for a in captured.of(OPEN_PANELS)),
            "console_errors": errors}


def naive_jobs(captured: capture.Capture) -> dict:
    """Return, per headline row, the naive counterpart and the captured (digit, layer) of each action."""
    return {row: (view, [(a.digit, a.layer) for a in captured.of(kind, state)])
            for row, kind, state, view in ROWS if view}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=default_model_dir(),
                        help="the model cache to serve (trained first if empty); default: the app's")
    parser.add_argument("--data", type=Path, help="a Keras-format mnist.npz, as for app.py")
    parser.add_argument("--requests", type=int, default=30,
                        help="digit changes captured per page state, and at least as many layer clicks (default 30)")
    parser.add_argument("--browser-repeats", type=int, default=10, help="click-to-render samples per action")
    parser.add_argument("--skip-browser", action="store_true", help="skip click to render (the capture still runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    dataset = data_module.load_mnist(args.data)
    log.info("checking the model cache in %s", args.model_dir)
    model_work = in_process.measure_model_work(args.model_dir, dataset)

    log.info("starting the app and capturing what the page sends")
    server = Server.app(args.model_dir, args.data)
    peaks = []
    try:
        captured, capture_errors = capture.capture_page(server.url, digit_changes=args.requests,
                                                        layer_clicks=args.requests)
        captured.save(ROOT / "benchmarks" / ".capture.json")
        clicks = None
        if not args.skip_browser:
            log.info("timing click to render in headless Chromium")
            clicks = browser.measure(server.url, repeats=args.browser_repeats)
    finally:
        peaks.append(server.stop())

    log.info("replaying the captured requests, one after another, on a fresh server")
    sequential, opening, peak = on_fresh_server(args, captured, lambda replayer: {
        "rows": measure_rows(replayer, captured, replay.measure_one_after_another, "one request after another"),
        "bytes_by_layer": replay.bytes_by_layer(replayer, captured.of(LAYER_CLICK))})
    peaks.append(peak)
    log.info("replaying the captured requests, each action's together, on a fresh server")
    concurrent, _, peak = on_fresh_server(args, captured, lambda replayer: measure_rows(
        replayer, captured, replay.measure_together, "each action's requests sent together"))
    peaks.append(peak)

    log.info("timing the naive pipeline on the captured digits and layers")
    naive = in_process.measure_naive(args.model_dir, dataset, naive_jobs(captured),
                                     warmup_digit=next((a.digit for a in captured.of(PAGE_OPEN) if a.digit), 0))
    log.info("timing the attribution methods")
    attribution_times = in_process.measure_attributions(args.model_dir, dataset)

    rows = {row: {**sequential["rows"][row], "together": concurrent[row]} for row in sequential["rows"]}
    results = {
        "machine": report.machine(),
        "data": dataset.describe(),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cold_start_seconds": round(server.cold_start_s, 2),
        "server_peak_memory_mb": round(max(peaks), 1),
        "capture": describe_capture(captured, capture_errors),
        "page_open": opening,
        "rows": rows,
        "naive": naive,
        "bytes_by_layer": sequential["bytes_by_layer"],
        "click_to_render": clicks,
        "attributions": attribution_times,
        "model_work": model_work,
        "load": report.latest_load(),
    }
    args.out.write_text(json.dumps(results, indent=2))
    table = report.render(results)
    (ROOT / "benchmarks" / "RESULTS.md").write_text(table)
    print(table)  # noqa: T201 - the command's output is the table.
    return 0


if __name__ == "__main__":
    sys.exit(main())
