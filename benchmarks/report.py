"""Describe the machine and render benchmark results as a Markdown table with the targets."""

from __future__ import annotations

import os
import platform
from pathlib import Path

TARGET_P95_MS = 40
TARGET_RATIO = 8
TARGET_GZIP_KB = 100
TARGET_CLICK_MS = 120
TARGET_COLD_S = 8
TARGET_EXPLAIN_MS = 150  # issue 5: a method change renders within 150 ms of the click


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


def _mark(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _miss(value: float, target: float, unit: str) -> str:
    """Return " (met)" or " (MISSED by N unit, N %)" for an upper-bound target."""
    if value <= target:
        return " (met)"
    return f" (MISSED by {value - target:.1f} {unit}, {100 * (value - target) / target:.0f} %)"


def _miss_ratio(ratio: float) -> str:
    if ratio >= TARGET_RATIO:
        return " (met)"
    return f" (MISSED: {TARGET_RATIO / ratio:.2f}× short)"


def render(results: dict) -> str:
    """Return the results as Markdown: headline table with targets, then the details."""
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['when']} with `.venv/bin/python -m benchmarks.run`.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; Python {m['python']}, "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, Dash {m['dash']}, Plotly {m['plotly']}.",
        f"Data: {results['data']}.",
        "",
        "Ours: HTTP on loopback against the real app (`python app.py` in its own process), every request a "
        "user action fires, sent one after another (the browser sends them in parallel, so this is the "
        "pessimistic sum). Naive: the seed's pipeline in-process on the same saved model and digits "
        "(`model.predict` on a multi-output model, eager GradientTape, one `make_subplots` subplot per "
        "channel, `to_json`), with no HTTP cost at all.",
        "",
        "## Headline",
        "",
        "The browser sends all the requests of an action at once; *ours, as the browser sends them* is the wall "
        "time from sending them together until the last answer. *One after another* is their sum. On 2 cores "
        "with Python's GIL neither is reliably smaller, so the ratio uses the larger of the two. Bytes: the "
        "largest single response of the action.",
        "",
        f"| action | ours, as the browser sends them: p50 / p95 | one after another: p50 / p95 "
        f"| slowest single request p95 (target ≤ {TARGET_P95_MS} ms) | naive p50 / p95 "
        f"| ratio naive / ours at p50, ours the larger (target ≥ {TARGET_RATIO}×) "
        f"| largest response, gzip KB (target ≤ {TARGET_GZIP_KB}) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for action, ours in results["ours"].items():
        together = results["ours_concurrent"][action]
        if action not in results["naive"]:
            slow, kb = ours["slowest_request"]["p95_ms"], ours["response_gzip_kb_max"]
            lines.append(f"| {action} (no naive counterpart; sent with every digit change) "
                         f"| {together['p50_ms']:.1f} / {together['p95_ms']:.1f} ms "
                         f"| {ours['all_requests']['p50_ms']:.1f} / {ours['all_requests']['p95_ms']:.1f} ms "
                         f"| {slow:.1f} ms{_miss(slow, TARGET_P95_MS, 'ms')} | — | — "
                         f"| {kb:.1f}{_miss(kb, TARGET_GZIP_KB, 'KB')} |")
            continue
        naive = results["naive"][action]
        ratio = naive["p50_ms"] / max(together["p50_ms"], ours["all_requests"]["p50_ms"])
        slow = ours["slowest_request"]["p95_ms"]
        kb = ours["response_gzip_kb_max"]
        lines.append(
            f"| {action} | {together['p50_ms']:.1f} / {together['p95_ms']:.1f} ms "
            f"| {ours['all_requests']['p50_ms']:.1f} / {ours['all_requests']['p95_ms']:.1f} ms "
            f"| {slow:.1f} ms{_miss(slow, TARGET_P95_MS, 'ms')} "
            f"| {naive['p50_ms']:.1f} / {naive['p95_ms']:.1f} ms "
            f"| {ratio:.1f}×{_miss_ratio(ratio)} | {kb:.1f}{_miss(kb, TARGET_GZIP_KB, 'KB')} |")
    clicks = results.get("click_to_render") or {}
    if "scale toggle" in results["naive"] and "scale toggle" not in results["ours"]:
        naive = results["naive"]["scale toggle"]
        browser_ms = clicks.get("scale toggle", {}).get("p50_ms")
        in_browser = f"{browser_ms:.0f} ms from click to redrawn panel" if browser_ms else "not measured"
        lines.append(f"| scale toggle | no request: the browser recolours the panels ({in_browser}) | — | — "
                     f"| {naive['p50_ms']:.1f} / {naive['p95_ms']:.1f} ms | ∞ (met) | 0 (met) |")
    lines += ["", "| measure | value | target |", "| --- | ---: | --- |"]
    cold = results["cold_start_seconds"]
    lines.append(f"| cold start to first served page, cached model | {cold:.2f} s | ≤ {TARGET_COLD_S} s:"
                 f"{_miss(cold, TARGET_COLD_S, 's')} |")
    clicks = results.get("click_to_render")
    if clicks:
        for name in [n for n in ("digit change", "layer change", "scale toggle", "explanation class change")
                     if n in clicks]:
            p50 = clicks[name]["p50_ms"]
            target = TARGET_EXPLAIN_MS if name == "explanation class change" else TARGET_CLICK_MS
            lines.append(f"| click to render, {name} (median of {len(clicks[name]['samples_ms'])}) | {p50:.0f} ms "
                         f"| ≤ {target} ms:{_miss(p50, target, 'ms')} |")
        lines.append(f"| browser console errors during the clicks | {len(clicks['console_errors'])} | 0 |")
    work = results["model_work"]
    lines.append(f"| training, seconds per epoch ({work['train_digits']:,} digits) | {work['seconds_per_epoch']:.2f} s | |")
    lines.append(f"| evaluate the whole test set ({work['test_digits']:,} digits), compiled call | "
                 f"{work['evaluate_test_set_seconds']:.3f} s | naive `model.predict`: "
                 f"{results['naive']['evaluate test set (model.predict)']['seconds']:.3f} s |")
    lines.append(f"| server peak memory (VmHWM) | {results['server_peak_memory_mb']:.0f} MB | |")
    lines += ["", "## Per callback (ours, over HTTP)", "", "| action | callback | p50 | p95 |", "| --- | --- | ---: | ---: |"]
    for action, ours in results["ours"].items():
        for name, stats in ours["per_callback"].items():
            lines.append(f"| {action} | {name} | {stats['p50_ms']:.1f} ms | {stats['p95_ms']:.1f} ms |")
    lines += ["", "## Bytes per panel update, by layer (raw / gzip KB)", "",
              "| layer | activations | weights | weight gradients |", "| --- | ---: | ---: | ---: |"]
    for layer, row in results["bytes_by_layer"].items():
        cells = [f"{row[name]['raw_kb']:.1f} / {row[name]['gzip_kb']:.1f}"
                 for name in ("activation-figure", "weight-figure", "gradient-figure")]
        lines.append(f"| {layer} | " + " | ".join(cells) + " |")
    if any("full matrix" in layer for layer in results["bytes_by_layer"]):
        lines += ["", "The dense layer's full matrix is 102,400 float32 values, which gzip cannot shrink below "
                  "~400 KB; the page sends it only when *full matrix* is chosen, and shows the same weights as "
                  "64 per-unit 5×5 maps (under 12 KB) otherwise."]
    if results.get("attributions"):
        lines += ["", "## Attribution methods (in-process, one compiled call per request)", "",
                  "Targets: gradient ≤ 5 ms, SmoothGrad (n = 50) ≤ 50 ms, Integrated Gradients (64 steps) ≤ 50 ms, "
                  "Grad-CAM ≤ 10 ms. Gradient, gradient × input and Grad-CAM always come out of the same call.", "",
                  "| what the call computes | p50 | p95 |", "| --- | ---: | ---: |"]
        for name, stats in results["attributions"].items():
            lines.append(f"| {name} | {stats['p50_ms']:.1f} ms | {stats['p95_ms']:.1f} ms |")
    lines += _why_missed(results)
    return "\n".join(lines) + "\n"


# Why a target can be missed on this machine, found by profiling (see the notes of issue 3). Each is
# printed only when its target is missed in the run being reported.
WHY = {
    "ratio": "The naive pipeline does one `predict` and draws; ours answers each panel in its own request, "
             "and each Dash request costs ~3 ms of Flask and Dash dispatch before any work (the digit search "
             "callback, which does almost nothing, takes 3–4 ms). A digit change is five requests, so ~15 ms of "
             "its ~31 ms is that fixed cost. The naive time itself swings between ~240 and ~370 ms from run "
             "to run on this shared 2-core machine, which moves the ratio by ±20 %.",
    "bytes": "A response over the target is a layer view sent whole: the dense layer's full 1,600 × 64 "
             "weight matrix (on request only) is ~400 KB of float32 noise that gzip cannot shrink.",
    "click": "A digit change redraws eight graphs, one after another on the browser's main thread: Plotly "
             "draws the 215×107 activation mosaic in 25–35 ms and each smaller panel in 10–20 ms, after the "
             "server has answered six concurrent requests (the explanations one takes ~50 ms) on the same two "
             "cores Chromium uses. A layer change (three panels) is usually inside the target; when it is not, "
             "it is by a few ms of machine noise.",
    "p95": "The explanations request computes six attribution maps and 126 deletion images (~30 ms of "
           "TensorFlow) and builds a 14-trace figure; elsewhere a single slow request is usually a "
           "garbage-collection pause.",
    "cold": "TensorFlow's import alone is ~3–5 s here.",
}


def _why_missed(results: dict) -> list[str]:
    missed = set()
    for action, ours in results["ours"].items():
        if action not in results["naive"]:
            continue
        naive = results["naive"][action]["p50_ms"]
        larger = max(results["ours_concurrent"][action]["p50_ms"], ours["all_requests"]["p50_ms"])
        if naive / larger < TARGET_RATIO:
            missed.add("ratio")
        if ours["response_gzip_kb_max"] > TARGET_GZIP_KB:
            missed.add("bytes")
        if ours["slowest_request"]["p95_ms"] > TARGET_P95_MS:
            missed.add("p95")
    clicks = results.get("click_to_render") or {}
    if any(clicks[name]["p50_ms"] > TARGET_CLICK_MS
           for name in ("digit change", "layer change", "scale toggle") if name in clicks) or (
            clicks.get("explanation class change", {}).get("p50_ms", 0) > TARGET_EXPLAIN_MS):
        missed.add("click")
    if results["cold_start_seconds"] > TARGET_COLD_S:
        missed.add("cold")
    if not missed:
        return []
    return ["", "## Why the misses", ""] + [f"- **{key}**: {WHY[key]}" for key in WHY if key in missed]
