"""Describe the machine and render benchmark results as Markdown: headline with targets, then the details.

    .venv/bin/python -m benchmarks.report     re-render RESULTS.md from results.json and the latest load.json
                                              (e.g. after `python -m benchmarks.load`), measuring nothing
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

FOLDER = Path(__file__).resolve().parent

# The targets (issue: "the benchmark measures what the browser really sends").
TARGET_DIGIT_SUM_MS = 25        # digit change, page as it opens: sum of its requests' server time, p50
TARGET_RATIO = 8                # ... and at least this many times faster than the naive pipeline
TARGET_ACTION_GZIP_KB = 100     # ... and all of its responses together at most this many KB gzip
TARGET_PANELS_SUM_MS = 70       # digit change, every panel open: sum p50
TARGET_CLICK_MS = 120           # click to render, digit change and layer click, p50
TARGET_LOAD_P95_MS = 300        # load test: p95 per digit change, with zero errors
TARGET_COLD_S = 8

# The headline rows (benchmarks/run.py measures them).
DIGIT_CHANGE_AS_IT_OPENS = "digit change, page as it opens"
DIGIT_CHANGE_EVERY_PANEL_OPEN = "digit change, every panel open"
LAYER_CLICK = "layer click"
HEADLINE_TARGETS = {
    DIGIT_CHANGE_AS_IT_OPENS: {"sum_ms": TARGET_DIGIT_SUM_MS, "ratio": TARGET_RATIO, "gzip_kb": TARGET_ACTION_GZIP_KB},
    DIGIT_CHANGE_EVERY_PANEL_OPEN: {"sum_ms": TARGET_PANELS_SUM_MS},
}


def machine() -> dict:
    """Return the CPU, cores, memory and library versions of this machine."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import dash
    import keras
    import plotly
    import tensorflow as tf

    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory_gb, 1), "os": platform.platform(),
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "dash": dash.__version__, "plotly": plotly.__version__}


def describe_machine(m: dict) -> str:
    """Return one line about the machine."""
    return (f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; Python {m['python']}, "
            f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, Dash {m['dash']}, Plotly {m['plotly']}")


def verdict(value: float | None, target: float, unit: str) -> str:
    """Return "met" or "MISSED by N unit (N %)" for an upper-bound target."""
    if value is None:
        return "not measured"
    if value <= target:
        return "met"
    return f"MISSED by {value - target:.1f} {unit} ({100 * (value - target) / target:.0f} %)"


def ratio_verdict(ratio: float | None, target: float = TARGET_RATIO) -> str:
    """Return "met" or how far short a lower-bound ratio target is."""
    if ratio is None:
        return "not measured"
    return "met" if ratio >= target else f"MISSED by {target - ratio:.1f}× ({target / ratio:.2f}× short)"


def short_output(output: str) -> str:
    """Return a callback's first output, and how many more it has ("a.figure (+2)")."""
    if not output.startswith(".."):
        return output
    parts = output[2:-2].split("...")
    return parts[0] + (f" (+{len(parts) - 1})" if len(parts) > 1 else "")


def _count(spread: dict) -> str:
    return str(spread["min"]) if spread["min"] == spread["max"] else f"{spread['min']}–{spread['max']}"


def _ms(stats: dict | None) -> str:
    if not stats or stats.get("p50_ms") is None:
        return "—"
    return f"{stats['p50_ms']:.1f} / {stats['p95_ms']:.1f} ms"


def _marked(text: str, mark: str | None) -> str:
    return f"{text} ({mark})" if mark else text


def _headline(results: dict) -> list[str]:
    lines = [
        "| action | requests per action | server time: the requests one after another, summed, p50 / p95 "
        "| sent together (≤ 6 connections), wall p50 / p95 | all responses of the action, gzip KB, p50 / largest "
        "| naive pipeline p50 | naive ÷ server time, at p50 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row, measured in results["rows"].items():
        targets = HEADLINE_TARGETS.get(row, {})
        total = measured["server_time"]
        sum_mark = verdict(total["p50_ms"], targets["sum_ms"], "ms") if "sum_ms" in targets else None
        sum_text = _marked(_ms(total), f"p50 target ≤ {targets['sum_ms']} ms: {sum_mark}" if sum_mark else None)
        gzip = measured["gzip_kb"]
        gzip_text = f"{gzip['p50']:.1f} / {gzip['max']:.1f}"
        if "gzip_kb" in targets:
            gzip_text += f" (largest ≤ {targets['gzip_kb']}: {verdict(gzip['max'], targets['gzip_kb'], 'KB')})"
        naive = results["naive"].get(row)
        naive_text, ratio_text = "—", "—"
        if naive:
            naive_text = f"{naive['p50_ms']:.1f} ms"
            ratio = naive["p50_ms"] / total["p50_ms"]
            ratio_text = f"{ratio:.1f}×"
            if "ratio" in targets:
                ratio_text += f" (≥ {targets['ratio']}×: {ratio_verdict(ratio, targets['ratio'])})"
        lines.append(f"| {row} | {_count(measured['requests_per_action'])} | {sum_text} | {_ms(measured['together'])} "
                     f"| {gzip_text} | {naive_text} | {ratio_text} |")
    return lines


def _other_targets(results: dict) -> list[str]:
    lines = ["| measure | value | target |", "| --- | ---: | --- |"]
    clicks = results.get("click_to_render")
    if clicks:
        for name in ("digit change", "layer click"):
            if name in clicks:
                p50 = clicks[name]["p50_ms"]
                graphs = len(clicks[name]["graphs_redrawn"])
                lines.append(f"| click to render, {name}: p50 of {len(clicks[name]['samples_ms'])} "
                             f"({graphs} visible graph(s) redrawn) | {p50:.0f} ms "
                             f"| ≤ {TARGET_CLICK_MS} ms: {verdict(p50, TARGET_CLICK_MS, 'ms')} |")
        lines.append(f"| browser console errors (SEVERE) while clicking | {len(clicks['console_errors'])} | 0: "
                     f"{'met' if not clicks['console_errors'] else 'MISSED'} |")
    else:
        lines.append("| click to render | not measured (--skip-browser) | |")
    errors = len(results["capture"]["console_errors"])
    lines.append(f"| browser console errors (SEVERE) during the capture | {errors} | 0: "
                 f"{'met' if not errors else 'MISSED'} |")
    load = results.get("load")
    if load and "per_action" in load:
        per_action = load["per_action"]
        lines.append(f"| load test ({load['when']}, `benchmarks.load`): {load['clients']} clients replaying "
                     f"captured digit changes for {load['seconds']} s, p95 per digit change "
                     f"| {per_action['p95_ms']:.0f} ms | ≤ {TARGET_LOAD_P95_MS} ms: "
                     f"{verdict(per_action['p95_ms'], TARGET_LOAD_P95_MS, 'ms')} |")
        lines.append(f"| load test: errors | {load['errors']['requests']} | 0: "
                     f"{'met' if not load['errors']['requests'] else 'MISSED'} |")
    else:
        lines.append("| load test | not run yet in this format: `.venv/bin/python -m benchmarks.load` | "
                     f"p95 ≤ {TARGET_LOAD_P95_MS} ms per digit change, 0 errors |")
    cold = results["cold_start_seconds"]
    lines.append(f"| cold start to the served dashboard, cached model | {cold:.2f} s "
                 f"| ≤ {TARGET_COLD_S} s: {verdict(cold, TARGET_COLD_S, 's')} |")
    work = results["model_work"]
    lines.append(f"| training, seconds per epoch ({work['train_digits']:,} digits) "
                 f"| {work['seconds_per_epoch']:.2f} s | |")
    lines.append(f"| evaluate the whole test set ({work['test_digits']:,} digits), compiled call | "
                 f"{work['evaluate_test_set_seconds']:.3f} s | naive `model.predict`: "
                 f"{results['naive']['evaluate test set (model.predict)']['seconds']:.3f} s |")
    lines.append(f"| server peak memory (VmHWM, largest of the three servers) "
                 f"| {results['server_peak_memory_mb']:.0f} MB | |")
    return lines


def _method(results: dict) -> list[str]:
    captured = results["capture"]
    states = captured["states"]
    panels = states.get("every panel open", {})
    opened = panels.get("sections_opened", [])
    opened_text = (f"clicking every `.section-toggle[aria-expanded=\"false\"]` opened {len(opened)} section(s) "
                   f"({', '.join(opened)})" if opened else
                   "the page had no closed `.section-toggle`, so this state is the page as it opens")
    window = panels.get("window", ["?", "?"])
    counts = "; ".join(f"{row}: {c['actions']} actions over " + (f"{len(c['layers'])} layer cards"
                                                                  if row == LAYER_CLICK
                                                                  else f"{c['distinct_digits']} distinct digits")
                       for row, c in captured["rows"].items())
    return [
        "## How the requests were captured and replayed",
        "",
        "- **Capture**: the app (`python app.py`) in its own process, the page in headless Chromium. A script "
        "installed before the page's own (`Page.addScriptToEvaluateOnNewDocument`) wraps `window.fetch` and "
        "records every POST to `/_dash-update-component`: its exact body, when it left and when its whole "
        "response had arrived (`performance.now()`), its status. An action is one click dispatched inside the "
        "page (`element.click()` from `execute_script`) and every request until the page is quiet: nothing in "
        "flight, no request started or answered for 300 ms, no `data-dash-is-loading=\"true\"` element.",
        "- **Actions**: *digit change* = the Random digit button; *layer click* = the n-th `.layer-card`, every "
        "card in turn, on the digit the page opens on. Digit changes whose digit was already seen (captured, "
        "or the page's opening digit) were clicked again and not kept, so that no replayed digit is served "
        f"from the server's per-digit caches. Captured: {counts}.",
        f"- **Page states**: *page as it opens* = 1280×800, nothing else touched; *every panel open* = "
        f"{opened_text}, in a window of {window[0]}×{window[1]} (as tall as the page, so every panel is on "
        "screen).",
        f"- **Excluded**: requests caused by a timer, not by the action: those whose changed properties are all "
        f"timer ticks (`*.n_intervals`, e.g. the run list's poll) or outputs of such a request. "
        f"{captured['timer_requests_excluded_total']} were set aside over the whole capture (counted, not replayed).",
        "- **Replay**: the captured bodies, byte for byte, over HTTP on loopback (`Accept-Encoding: gzip`, bytes "
        "read raw from the socket), against a fresh server for each way of sending, first warmed up with the "
        "page's own opening requests (and those that opening the panels sent): *one after another* on one "
        "connection, whose sum is the server time an action costs; *together* on up to 6 connections as "
        "Chromium sends them, whose wall time runs from the first send to the last answer. The page itself "
        "sends some requests only after others answered (the *rounds* below); the together replay sends all at "
        "once.",
        "- **Naive**: the seed's pipeline in-process on the same saved model and on exactly the captured digits "
        "(and layers): `model.predict` on a multi-output model, eager GradientTape, one `make_subplots` subplot "
        "per channel, `to_json`; no HTTP cost at all.",
        "",
    ]


def _captured_actions(results: dict) -> list[str]:
    lines = ["| action | actions | rounds of requests (max) | timer requests excluded "
             "| click → last answer in the page during the capture, p50 / p95 "
             "| all responses of the action, raw KB, p50 / largest |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row, c in results["capture"]["rows"].items():
        raw = results["rows"].get(row, {}).get("raw_kb")
        raw_text = f"{raw['p50']:.1f} / {raw['max']:.1f}" if raw else "—"
        lines.append(f"| {row} | {c['actions']} | {c['rounds_max']} | {c['timer_requests_excluded']} "
                     f"| {_ms(c['browser_ms'])} | {raw_text} |")
    opening = results.get("page_open") or {}
    if opening:
        repeated = sorted({short_output(o) for o in opening["callbacks"] if opening["callbacks"].count(o) > 1})
        lines += ["", f"The page as it opens sends {opening['requests']} requests ({opening['gzip_kb']:.1f} KB gzip, "
                  f"{opening['raw_kb']:.1f} KB raw; {opening['timer_requests_excluded']} timer requests excluded)"
                  + (f" in {opening['rounds']} rounds, the last answered {opening['last_answer_ms']:.0f} ms after "
                     "navigation started" if opening.get("rounds") else "")
                  + (f"; sent more than once: {', '.join(repeated)}." if repeated else ".")]
    if results["capture"]["open_panels_requests"]:
        lines.append(f"Opening every panel sent {results['capture']['open_panels_requests']} requests.")
    return lines


def _per_callback(results: dict) -> list[str]:
    lines = ["| action | callback (its first output) | sent per action | p50 | p95 | largest response raw / gzip KB |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for row, measured in results["rows"].items():
        for output, stats in measured["per_callback"].items():
            lines.append(f"| {row} | {short_output(output)} | {stats['per_action']:g} | {stats['p50_ms']:.1f} ms "
                         f"| {stats['p95_ms']:.1f} ms | {stats['raw_kb_max']:.1f} / {stats['gzip_kb_max']:.1f} |")
    return lines


def _bytes_by_layer(results: dict) -> list[str]:
    table = results["bytes_by_layer"]
    outputs = list(dict.fromkeys(output for row in table.values() for output in row))
    if not outputs:
        return ["No layer clicks were captured."]
    lines = ["| layer | " + " | ".join(short_output(o) for o in outputs) + " | whole click, gzip |",
             "| --- | " + " | ".join("---:" for _ in outputs) + " | ---: |"]
    for layer, row in table.items():
        cells = [f"{row[o]['raw_kb']:.1f} / {row[o]['gzip_kb']:.1f}" if o in row else "—" for o in outputs]
        total = sum(cell["gzip_kb"] for cell in row.values())
        lines.append(f"| {layer} | " + " | ".join(cells) + f" | {total:.1f} |")
    return lines


def render(results: dict) -> str:
    """Return the results as Markdown: the method, the headline with targets, then the details."""
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['when']} with `.venv/bin/python -m benchmarks.run`.",
        f"Machine: {describe_machine(results['machine'])}.",
        f"Data: {results['data']}.",
        "",
        *_method(results),
        "## Headline",
        "",
        *_headline(results),
        "",
        *_other_targets(results),
        "",
        "## What was captured",
        "",
        *_captured_actions(results),
        "",
        "## Per callback (one after another, over HTTP)",
        "",
        *_per_callback(results),
        "",
        "## Bytes per layer click, by layer and callback (largest response, raw / gzip KB)",
        "",
        *_bytes_by_layer(results),
    ]
    if results.get("attributions"):
        lines += ["", "## Attribution methods (in-process, one compiled call per request)", "",
                  "| what the call computes | p50 | p95 |", "| --- | ---: | ---: |"]
        for name, stats in results["attributions"].items():
            lines.append(f"| {name} | {stats['p50_ms']:.1f} ms | {stats['p95_ms']:.1f} ms |")
    return "\n".join(lines) + "\n"


def latest_load() -> dict | None:
    """Return the last load test's results (benchmarks/load.json), if there are any."""
    path = FOLDER / "load.json"
    return json.loads(path.read_text()) if path.exists() else None


def main() -> int:
    """Re-render RESULTS.md from results.json with the latest load test; print it."""
    results = json.loads((FOLDER / "results.json").read_text())
    results["load"] = latest_load()
    text = render(results)
    (FOLDER / "RESULTS.md").write_text(text)
    print(text)  # noqa: T201 - the command's output is the table.
    return 0


if __name__ == "__main__":
    sys.exit(main())
