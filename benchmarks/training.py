"""Training benchmarks: checkpoint overhead, epoch-slider latency, and web latency while a training runs.

    .venv/bin/python -m benchmarks.training        (writes benchmarks/TRAINING.md and training.json)

1. Overhead: the same model.fit with and without the run recorder (checkpoints within the first epoch
   and at every epoch end, probe-batch gradients, test scores, histograms, history and progress files),
   alternating, after a warm-up fit, in one fresh process.
2. Slider: the app in its own process; in headless Chromium, a key press on the epoch slider to the
   last redraw of the activation panel.
3. Web latency: the panel requests of a digit change, with no training, then while a training runs.
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

from benchmarks.run import ROOT, Client, Server, summary

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
                                    test=(data.x_test[:training.PROBE_TEST_DIGITS], data.y_test[:training.PROBE_TEST_DIGITS]),
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
const handle = document.querySelector('#epoch-slider [role="slider"]');
window.__clicked = performance.now();
handle.dispatchEvent(new KeyboardEvent('keydown', {key: arguments[0], code: arguments[0], bubbles: true}));
return window.__clicked;
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


# The panels a checkpoint changes (the input digit's pixels stay as they are and are not redrawn).
MAIN_PANELS = ["probability-graph", "saliency-graph", "activation-graph", "weight-graph", "gradient-graph"]


def measure_slider(url: str, repeats: int = 30) -> dict:
    """Return key press -> the five panels a checkpoint changes redrawn, and -> explanations redrawn too, in ms,
    when moving the epoch slider by one checkpoint."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from benchmarks import browser

    driver = browser.start_browser()
    try:
        browser.wait_for_page(driver, url, ["input-graph"] + MAIN_PANELS)
        driver.find_element(By.ID, "shown-run").click()
        time.sleep(0.5)
        driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")[-1].click()
        time.sleep(3)
        handle = driver.find_element(By.CSS_SELECTOR, "#epoch-slider [role='slider']")
        handle.send_keys(Keys.HOME)
        time.sleep(2)
        watched = MAIN_PANELS + ["explanation-graph", "deletion-graph"]
        driver.execute_script(browser.LISTEN, watched)
        panels, settled = [], []
        for i in range(repeats + 2):
            clicked = driver.execute_script(SLIDER_KEY, "ArrowRight" if (i // 3) % 2 == 0 else "ArrowLeft")
            deadline, quiet_since = time.monotonic() + 20, None
            while time.monotonic() < deadline:
                state = driver.execute_script(browser.SETTLED)
                drawn = {r["id"] for r in state["renders"]}
                if set(MAIN_PANELS) <= drawn and not state["busy"]:
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since > 0.3:
                        panels.append(max(max(r["t"] for r in state["renders"] if r["id"] == graph)
                                          for graph in MAIN_PANELS) - clicked)
                        settled.append(max(r["t"] for r in state["renders"]) - clicked)
                        break
                time.sleep(0.01)
            else:
                raise TimeoutError("the panels did not redraw after a slider move")
        console = [entry for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
        return {"main_panels": summary(panels[2:]), "everything": summary(settled[2:]), "console_errors": console}
    finally:
        driver.quit()


def measure_digit_requests(client: Client, digits: list[int]) -> dict:
    """Return the latency (ms) of each panel request of a digit change, over the digits."""
    samples = []
    for digit in digits:
        view = {"model": "any"}
        for output, values in (("input-graph.figure", [digit, view]), ("saliency-graph.figure", [digit, "predicted", view]),
                               ("activation-figure.data", [digit, "conv2", view]),
                               ("gradient-figure.data", [digit, "conv2", "summary", view])):
            samples.append(client.call(output, values)[0])
    return summary(samples)


def main() -> int:
    """Run the three measurements and write TRAINING.md and training.json."""
    results: dict = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPU cores, "
                                f"Python {platform.python_version()}"}
    results["overhead"] = measure_overhead()
    print(json.dumps(results["overhead"], indent=1), flush=True)
    model_dir = Path(tempfile.mkdtemp(prefix="cnn-lens-bench-"))
    try:
        results["run"] = train_a_run(model_dir)
        server = Server(model_dir, None)
        try:
            results["slider"] = measure_slider(server.url)
            print(json.dumps(results["slider"], indent=1), flush=True)
            client = Client(server.url)
            results["web_idle"] = measure_digit_requests(client, list(range(100, 160)))
            from dashboard import runs, training
            from dashboard.config import Settings

            store = runs.RunStore(model_dir)
            run_id = store.create(runs.TrainingOptions(epochs=10))
            process = training.launch(Settings(model_dir=model_dir, offline=True), run_id, serve=False)
            while not (store.progress(run_id) or {}).get("step"):
                time.sleep(0.2)
            results["web_while_training"] = measure_digit_requests(client, list(range(200, 260)))
            store.request_cancel(run_id)
            process.wait(timeout=60)
            print(json.dumps({k: results[k] for k in ("web_idle", "web_while_training")}, indent=1), flush=True)
        finally:
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
        f"| the same with checkpoints, probe gradients, test scores, histograms ({overhead['snapshots']} checkpoints) | "
        f"{overhead['recorded_median_s']:.2f} s | |",
        f"| model.fit with the test set as validation_data (scored every epoch) | "
        f"{overhead['validated_median_s']:.2f} s | |",
        f"| recording overhead over plain model.fit | {overhead['overhead_percent']:+.1f} % | ≤ 15 % |",
        f"| recording overhead over model.fit with per-epoch validation | "
        f"{overhead['overhead_vs_validated_percent']:+.1f} % | |",
        f"| epoch slider: key press → the five panels a checkpoint changes redrawn, p50 / p95 | "
        f"{slider['main_panels']['p50_ms']:.0f} / {slider['main_panels']['p95_ms']:.0f} ms | ≤ 200 ms |",
        f"| epoch slider: key press → explanations redrawn too, p50 / p95 | "
        f"{slider['everything']['p50_ms']:.0f} / {slider['everything']['p95_ms']:.0f} ms | |",
        f"| a digit change's panel requests, no training, p50 / p95 | {idle['p50_ms']:.1f} / {idle['p95_ms']:.1f} ms | |",
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
