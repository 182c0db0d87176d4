"""Training benchmarks: checkpoint overhead, epoch-slider latency, and web latency while a training runs.

    .venv/bin/python -m benchmarks.training        (writes benchmarks/TRAINING.md and training.json)

1. Overhead: the same model.fit with and without the run recorder (checkpoints within the first epoch
   and at every epoch end, probe-batch gradients, test scores, histograms, history and progress files),
   alternating, after a warm-up fit, in one fresh process.
2. Slider: the app in its own process; in headless Chromium, a key press on the epoch slider to the
   last redraw of the graphs on the first screen (found in the page), and of every graph.
3. Web latency: the requests of a digit change, captured from the page in headless Chromium and replayed
   one after another on a fresh server, with no training, then while a training runs.
"""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import browser, capture, replay
from benchmarks import page as page_module
from benchmarks.server import ROOT, Server
from benchmarks.stats import summary

OVERHEAD_SCRIPT = r"""
import json, sys, tempfile, time
from pathlib import Path
from dashboard import runs, training
from dashboard.data import load_mnist
from dashboard.model_service import build_seed_model
import numpy as np
data = load_mnist(offline=True)
epochs, repeats = int(sys.argv[1]), int(sys.argv[2])
x, y = data.x_train, data.y_train
store = runs.RunStore(Path(tempfile.mkdtemp()))
def plain(validate=False):
    model = build_seed_model(0)
    extra = {"validation_data": (data.x_test, data.y_test)} if validate else {}
    started = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0, **extra)
    return time.perf_counter() - started
def recorded():
    run_id = store.create(runs.TrainingOptions(epochs=epochs))
    model = build_seed_model(0)
    pick = np.random.default_rng(1).permutation(len(x))[:training.PROBE_TRAIN_DIGITS]
    recorder = training.RunRecorder(store, run_id, probe=(x[pick], y[pick]),
                                    test=(data.x_test[:training.PROBE_TEST_DIGITS],
                                          data.y_test[:training.PROBE_TEST_DIGITS]),
                                    epochs=epochs, should_stop=lambda: False)
    started = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0, callbacks=[recorder.callback])
    return time.perf_counter() - started, len(recorder.snapshots)
plain()  # warm-up: the first fit pays for tracing
results = {"plain_s": [], "validated_s": [], "recorded_s": []}
for _ in range(repeats):
    results["plain_s"].append(plain())
    results["validated_s"].append(plain(validate=True))
    seconds, snapshots = recorded()
    results["recorded_s"].append(seconds)
results["snapshots"] = snapshots
results["train_digits"] = int(len(x))
print(json.dumps(results))
"""

# The key press is dispatched in the same script that takes the time: a separate WebDriver command
# would add its own round trip (~50-100 ms here) to every sample.
SLIDER_KEY = """
const handle = document.querySelector('#' + arguments[1] + ' [role="slider"]');
const pressed = performance.now();
window.__bench.last = pressed;
handle.dispatchEvent(new KeyboardEvent('keydown', {key: arguments[0], code: arguments[0], bubbles: true}));
return pressed;
"""


def measure_overhead(epochs: int = 3, repeats: int = 5) -> dict:
    """Return plain, validated and recorded fit times (s) and the overhead of recording."""
    output = subprocess.run([sys.executable, "-c", OVERHEAD_SCRIPT, str(epochs), str(repeats)], cwd=ROOT,
                            capture_output=True, text=True, check=True,
                            env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "2"}).stdout
    result = json.loads(output.strip().splitlines()[-1])
    plain, recorded = statistics.median(result["plain_s"]), statistics.median(result["recorded_s"])
    validated = statistics.median(result["validated_s"])
    return {**result, "epochs": epochs, "plain_median_s": plain, "validated_median_s": validated,
            "recorded_median_s": recorded, "overhead_percent": 100 * (recorded - plain) / plain,
            "overhead_vs_validated_percent": 100 * (recorded - validated) / validated}


def train_a_run(model_dir: Path, epochs: int = 3) -> str:
    """Train one run (recorded) in the model folder and publish it; return its id."""
    from dashboard import runs, training
    from dashboard.config import Settings

    store = runs.RunStore(model_dir)
    run_id = store.create(runs.TrainingOptions(epochs=epochs))
    process = training.launch(Settings(model_dir=model_dir, offline=True), run_id)
    if process.wait(timeout=900) != 0:
        raise RuntimeError(f"training failed: see {store.folder(run_id) / 'training.log'}")
    return run_id


def measure_slider(url: str, repeats: int = 30, warmup: int = 2) -> dict:
    """Return key press -> the graphs on the first screen redrawn, and -> every graph redrawn, in ms, when moving
    the epoch slider by one checkpoint (the graphs are found in the page: every `.js-plotly-plot`)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from dashboard import ids

    driver = page_module.start_browser()
    try:
        page = page_module.InstrumentedPage(driver, url)
        page.open()
        driver.find_element(By.ID, ids.SHOWN_RUN).click()
        time.sleep(0.5)
        driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")[-1].click()
        page.wait_quiet()
        driver.find_element(By.CSS_SELECTOR, f"#{ids.EPOCH_SLIDER} [role='slider']").send_keys(Keys.HOME)
        page.wait_quiet()
        first_screen = {g["graph"] for g in browser.watch_graphs(driver) if g["on_screen"]}
        panels, settled = [], []
        for i in range(warmup + repeats):
            pressed = driver.execute_script(SLIDER_KEY, "ArrowRight" if (i // 3) % 2 == 0 else "ArrowLeft",
                                            ids.EPOCH_SLIDER)
            page.wait_quiet()
            renders = browser.renders_since(driver, pressed)
            seen = [r["t"] for r in renders if r["graph"] in first_screen]
            if not seen:
                raise RuntimeError("no graph on the first screen redrew after a slider move")
            panels.append(max(seen) - pressed)
            settled.append(max(r["t"] for r in renders) - pressed)
        return {"main_panels": summary(panels[warmup:]), "everything": summary(settled[warmup:]),
                "first_screen_graphs": sorted(first_screen), "console_errors": page.console_errors()}
    finally:
        driver.quit()


def measure_digit_requests(replayer: replay.Replayer, actions: list[capture.CapturedAction]) -> dict:
    """Return the latency (ms) of each request of the captured digit changes, sent one after another."""
    samples = []
    for action in actions:
        samples += [answer.ms for answer in replay.require_ok(replayer.one_after_another(action), action.kind)]
    return summary(samples)


def main() -> int:
    """Run the three measurements and write TRAINING.md and training.json."""
    results: dict = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores, "
                                f"Python {platform.python_version()}"}
    results["overhead"] = measure_overhead()
    print(json.dumps(results["overhead"], indent=1), flush=True)  # noqa: T201 - progress of a long command
    model_dir = Path(tempfile.mkdtemp(prefix="cnn-lens-bench-"))
    try:
        results["run"] = train_a_run(model_dir)
        server = Server.app(model_dir)
        try:
            results["slider"] = measure_slider(server.url)
            print(json.dumps(results["slider"], indent=1), flush=True)  # noqa: T201
            # Distinct digits, replayed on a fresh server below so that none is in its per-digit caches.
            digit_changes = capture.capture_digit_changes(server.url, capture.AS_IT_OPENS, 61)
        finally:
            server.stop()
        server = Server.app(model_dir)
        replayer = replay.Replayer(server.url)
        try:
            replay.require_ok(replayer.one_after_another(digit_changes[0]), "warm-up")
            results["web_idle"] = measure_digit_requests(replayer, digit_changes[1:31])
            from dashboard import runs, training
            from dashboard.config import Settings

            store = runs.RunStore(model_dir)
            run_id = store.create(runs.TrainingOptions(epochs=10))
            process = training.launch(Settings(model_dir=model_dir, offline=True), run_id, serve=False)
            while not (store.progress(run_id) or {}).get("step"):
                time.sleep(0.2)
            results["web_while_training"] = measure_digit_requests(replayer, digit_changes[31:61])
            store.request_cancel(run_id)
            process.wait(timeout=60)
            print(json.dumps({k: results[k] for k in ("web_idle", "web_while_training")}, indent=1),  # noqa: T201
                  flush=True)
        finally:
            replayer.close()
            server.stop()
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    (ROOT / "benchmarks" / "training.json").write_text(json.dumps(results, indent=1))
    write_report(results)
    return 0


def write_report(results: dict) -> None:
    """Write benchmarks/TRAINING.md from the results."""
    overhead, slider = results["overhead"], results["slider"]
    idle, busy = results["web_idle"], results["web_while_training"]
    lines = [
        "# Training benchmarks", "",
        f"Machine: {results['machine']}, no GPU. Data: the offline MNIST sample (4,000 train / 1,000 test digits). "
        "Command: `.venv/bin/python -m benchmarks.training`.", "",
        "| what | measured | target |", "| --- | --- | --- |",
        f"| model.fit, {overhead['epochs']} epochs, plain (median of {len(overhead['plain_s'])}) | "
        f"{overhead['plain_median_s']:.2f} s | |",
        "| the same with checkpoints, probe gradients, test scores, histograms "
        f"({overhead['snapshots']} checkpoints) | "
        f"{overhead['recorded_median_s']:.2f} s | |",
        f"| model.fit with the test set as validation_data (scored every epoch) | "
        f"{overhead['validated_median_s']:.2f} s | |",
        f"| recording overhead over plain model.fit | {overhead['overhead_percent']:+.1f} % | ≤ 15 % |",
        f"| recording overhead over model.fit with per-epoch validation | "
        f"{overhead['overhead_vs_validated_percent']:+.1f} % | |",
        f"| epoch slider: key press → the graphs on the first screen redrawn, p50 / p95 | "
        f"{slider['main_panels']['p50_ms']:.0f} / {slider['main_panels']['p95_ms']:.0f} ms | ≤ 200 ms |",
        f"| epoch slider: key press → every graph redrawn, p50 / p95 | "
        f"{slider['everything']['p50_ms']:.0f} / {slider['everything']['p95_ms']:.0f} ms | |",
        f"| a digit change's requests (captured from the page), no training, p50 / p95 "
        f"| {idle['p50_ms']:.1f} / {idle['p95_ms']:.1f} ms | |",
        f"| the same while a training runs (nice 10), p50 / p95 | {busy['p50_ms']:.1f} / {busy['p95_ms']:.1f} ms | "
        "keep latency |", "",
        "The training process runs at nice 10, so interactive requests come first on a shared machine; on 2 cores "
        "the training still competes for memory bandwidth and caches.",
        "",
        "## Reading the numbers",
        "",
        "- **Recording** costs about as much per checkpoint as training once on its two probes (128 training "
        "digits forward and backward, 500 test digits forward), plus ~10 ms of files. A run takes 4 checkpoints in "
        "the first epoch and one per epoch after, so the share shrinks with longer epochs: with the full 60,000 "
        "digits (469 steps an epoch instead of 32) it is a few per cent. Single fits vary ±20 % here, so the "
        "medians move between runs (1–10 % measured).",
        "- **The slider**: the server's share is small — each panel callback takes 3–5 ms of Python plus under "
        "2 ms of JSON (profiled), and a checkpoint's weights are swapped into an already-traced model (~2 ms) "
        "instead of loading and tracing a model (~250 ms). The rest is the browser: ~30 ms before the requests "
        "leave, then the redraws, on a main thread that shares the two cores with the server. What moved it from "
        "372 ms: explanations and the run comparison wait for the activation panel; the curves and distributions "
        "no longer redraw per step; the input digit, the same at every checkpoint, is not redrawn.",
        "- The key press is dispatched in the same script that starts the clock: a WebDriver `send_keys` or "
        "`click()` adds its own 50–100 ms round trip to every sample.",
    ]
    (ROOT / "benchmarks" / "TRAINING.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
