"""Measure every view against the seed's naive pipeline, in the same run; print a table, write JSON and RESULTS.md.

    .venv/bin/python -m benchmarks.run [--model-dir DIR] [--data PATH] [--requests 40] [--skip-browser]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import browser, report  # noqa: E402
from benchmarks.naive import NaivePipeline  # noqa: E402
from dashboard import data as data_module  # noqa: E402
from dashboard import views  # noqa: E402
from dashboard.config import Settings, default_model_dir  # noqa: E402
from tests import dash_requests  # noqa: E402

log = logging.getLogger("benchmarks")
GRAPHS = ["input-graph", "probability-graph", "saliency-graph", "activation-graph", "weight-graph", "gradient-graph",
          "explanation-graph", "deletion-graph"]
LAYERS = ["conv1", "pool1", "conv2", "pool2", "flatten", "dense", "probabilities"]


def percentile(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q))


def summary(samples_ms: list[float]) -> dict:
    return {"p50_ms": round(percentile(samples_ms, 50), 2), "p95_ms": round(percentile(samples_ms, 95), 2),
            "n": len(samples_ms)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """The real app in its own process, as a user runs it."""

    def __init__(self, model_dir: Path, data: Path | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, str(ROOT / "app.py"), "--port", str(self.port), "--model-dir", str(model_dir)]
        if data:
            command += ["--data", str(data)]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        self.log_file = open(ROOT / "benchmarks" / ".server.log", "w")  # noqa: SIM115 - closed in stop().
        started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)
        try:
            self.cold_start_s = self._wait_until_served(started)
        except BaseException:
            self.process.kill()
            self.log_file.close()
            raise

    def _wait_until_served(self, started: float, timeout: float = 600) -> float:
        import requests

        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see benchmarks/.server.log")
            try:
                # With no cached model the page first shows the training's progress: wait for the dashboard.
                layout = requests.get(self.url + "/_dash-layout", timeout=5)
                if layout.ok and '"digit-pool"' in layout.text:
                    return time.perf_counter() - started
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise TimeoutError("the server did not answer")

    def stop(self) -> float:
        peak = peak_memory_mb(self.process.pid)
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log_file.close()
        return peak


class Client:
    """POSTs callback requests as the browser does, timing each and measuring its bytes."""

    def __init__(self, url: str) -> None:
        import requests

        self.url = url
        self.session = requests.Session()
        self.session.get(url + "/")
        self.dependencies = {self._key(d): d for d in self.session.get(url + "/_dash-dependencies").json()
                             if not d.get("clientside_function")}

    @staticmethod
    def _key(dependency: dict) -> str:
        return dependency["output"].strip(".").split("...")[0]

    def call(self, first_output: str, values: list) -> tuple[float, int, int]:
        """Return (ms, raw bytes, gzip bytes on the wire) for one callback request."""
        dependency = self.dependencies[first_output]
        body = json.dumps(dash_requests.body(dependency, with_view(dependency, values), LAYERS))
        started = time.perf_counter()
        response = self.session.post(self.url + "/_dash-update-component", data=body, stream=True,
                                     headers={"Content-Type": "application/json", "Accept-Encoding": "gzip"})
        wire = response.raw.read(decode_content=False)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{first_output}: HTTP {response.status_code}")
        raw = gzip.decompress(wire) if response.headers.get("Content-Encoding") == "gzip" else wire
        return elapsed, len(raw), len(wire)


SERVED_VIEW = {"model": "served"}  # what the page sends while it shows the served model


def with_view(dependency: dict, values: list) -> list:
    """Return the values with the page's view appended for the callbacks that take one as their last input."""
    slots = dependency["inputs"] + dependency["state"]
    if len(values) == len(slots) - 1 and slots[-1]["id"] in ("checkpoint-view", "explain-view"):
        return [*values, SERVED_VIEW]
    return values


def action_plans(digits: list[int]) -> dict[str, list[list[tuple[str, list]]]]:
    """Return, per user action, a list of updates; each update is the callback requests it fires."""
    plans: dict[str, list] = {}
    plans["digit change"] = [[
        ("digit-dropdown.options", ["", [], d]),
        ("input-graph.figure", [d]),
        ("saliency-graph.figure", [d, "predicted"]),
        ("activation-figure.data", [d, "conv1"]),
        ("gradient-figure.data", [d, "conv1", views.SUMMARY_CHANNEL]),
    ] for d in digits]
    fixed = digits[0]
    # Selecting the layer and offering its input channels happen in the browser (no request).
    plans["layer change"] = [[
        ("activation-figure.data", [fixed, layer]),
        ("weight-figure.data", [layer, views.SUMMARY_CHANNEL]),
        ("gradient-figure.data", [fixed, layer, views.SUMMARY_CHANNEL]),
    ] for i, layer in enumerate(LAYERS * max(1, len(digits) // len(LAYERS)))]
    plans["class change"] = [[("saliency-graph.figure", [d, i % 10])] for i, d in enumerate(digits)]
    # Since the explanations panel, every digit change also sends this request (six maps, deletion curves).
    plans["explanations"] = [[("explanation-graph.figure", [d, "predicted", "none", 50, 0.15, 64, "black", "conv2",
                                                            0.7, []])] for d in digits]
    return plans


def measure_ours(client: Client, plans: dict) -> dict:
    """Time each action's requests one after another (per-callback latency, bytes per response)."""
    results = {}
    for action, updates in plans.items():
        for request in updates[0]:  # Warm-up: compile traces, fill nothing the samples will use.
            client.call(*request)
        totals, slowest, per_callback, largest_raw, largest_wire, action_wire = [], [], {}, [], [], []
        for update in updates[1:]:
            times, raws, wires = [], [], []
            for name, values in update:
                ms, raw, wire = client.call(name, values)
                times.append(ms)
                per_callback.setdefault(name, []).append(ms)
                raws.append(raw)
                wires.append(wire)
            totals.append(sum(times))
            slowest.append(max(times))
            largest_raw.append(max(raws))
            largest_wire.append(max(wires))
            action_wire.append(sum(wires))
        results[action] = {
            "all_requests": summary(totals), "slowest_request": summary(slowest),
            "per_callback": {name: summary(samples) for name, samples in per_callback.items()},
            "response_raw_kb_max": round(max(largest_raw) / 1024, 1),
            "response_gzip_kb_max": round(max(largest_wire) / 1024, 1),
            "action_gzip_kb_max": round(max(action_wire) / 1024, 1),
        }
    return results


def measure_concurrent(url: str, plans: dict, dependencies: dict) -> dict:
    """Time each action as the browser sends it: all of its requests at once; wall time until the last answers."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    sessions = [requests.Session() for _ in range(6)]  # Chromium opens up to 6 connections per host.

    def send(job):
        slot, (name, values) = job
        body = json.dumps(dash_requests.body(dependencies[name], with_view(dependencies[name], values), LAYERS))
        response = sessions[slot].post(url + "/_dash-update-component", data=body,
                                       headers={"Content-Type": "application/json", "Accept-Encoding": "gzip"})
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{name}: HTTP {response.status_code}")

    results = {}
    with ThreadPoolExecutor(max_workers=6) as pool:
        for action, updates in plans.items():
            samples = []
            for position, update in enumerate(updates):
                started = time.perf_counter()
                list(pool.map(send, list(enumerate(update))))
                if position:  # the first is a warm-up
                    samples.append((time.perf_counter() - started) * 1000)
            results[action] = summary(samples)
    return results


def measure_layer_bytes(client: Client, digit: int) -> dict:
    """Return the gzip KB of each panel's update for every layer (where the largest updates are)."""
    sizes = {}
    for layer in LAYERS:
        row = {}
        for name, values in [("activation-figure.data", [digit, layer]),
                             ("weight-figure.data", [layer, views.SUMMARY_CHANNEL]),
                             ("gradient-figure.data", [digit, layer, views.SUMMARY_CHANNEL])]:
            _, raw, wire = client.call(name, values)
            row[name.split(".")[0]] = {"raw_kb": round(raw / 1024, 1), "gzip_kb": round(wire / 1024, 1)}
        sizes[layer] = row
    # The dense layer's whole weight matrix, which the page sends only when asked ("full matrix").
    row = {}
    for name, values in [("activation-figure.data", [digit, "dense"]), ("weight-figure.data", ["dense", "matrix"]),
                         ("gradient-figure.data", [digit, "dense", "matrix"])]:
        _, raw, wire = client.call(name, values)
        row[name.split(".")[0]] = {"raw_kb": round(raw / 1024, 1), "gzip_kb": round(wire / 1024, 1)}
    sizes["dense, full matrix (on request)"] = row
    return sizes


def measure_naive(model_dir: Path, dataset, digits: list[int], repeats: int) -> dict:
    import keras

    model = keras.models.load_model(model_dir / "model.keras", compile=False)
    naive = NaivePipeline(model)
    x, y = dataset.x_test, dataset.y_test
    jobs = {
        "digit change": [lambda d=d: naive.digit_change_json(x[d], int(y[d]), "conv1") for d in digits],
        "layer change": [lambda layer=layer: naive.layer_view_json(x[digits[0]], layer)
                         for layer in LAYERS * max(1, len(digits) // len(LAYERS))],
        "class change": [lambda d=d, i=i: naive.class_change_json(x[d], i % 10) for i, d in enumerate(digits)],
        "scale toggle": [lambda s=s: naive.layer_view_json(x[digits[0]], "conv1", shared_scale=s)
                         for s in [False, True] * max(1, len(digits) // 2)],
    }
    results = {}
    for action, calls in jobs.items():
        calls[0]()
        samples = []
        for call in calls[1:repeats + 1]:
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        results[action] = summary(samples)
    started = time.perf_counter()
    model.predict(x, batch_size=500, verbose=0)
    results["evaluate test set (model.predict)"] = {"seconds": round(time.perf_counter() - started, 3)}
    return results


def measure_model_work(model_dir: Path, dataset) -> dict:
    """Seconds per training epoch, and time to evaluate the whole test set with the compiled call."""
    from dashboard.model_service import ModelService, train_seed_model

    _, run = train_seed_model(dataset, epochs=2, batch_size=128)
    served = ModelService(model_dir).load_or_train(dataset, epochs=Settings().epochs)
    served.extractor.probabilities(dataset.x_test[:10])
    started = time.perf_counter()
    served.extractor.probabilities(dataset.x_test)
    evaluate = time.perf_counter() - started
    return {"train_digits": run["train_digits"], "train_seconds_2_epochs": run["train_seconds"],
            "seconds_per_epoch": round(run["train_seconds"] / 2, 2),
            "evaluate_test_set_seconds": round(evaluate, 3), "test_digits": len(dataset.x_test)}


def measure_attributions(model_dir: Path, dataset, repeats: int = 20) -> dict:
    """Median ms of the one compiled attribution call, per method's share of it, after warm-up."""
    import keras

    from dashboard.attributions import (MAX_IG_STEPS, MAX_SMOOTHGRAD_SAMPLES, AttributionEngine,
                                        AttributionRequest, class_score)

    engine = AttributionEngine(keras.models.load_model(model_dir / "model.keras", compile=False))
    configurations = {
        "gradient, gradient × input, Grad-CAM (batch of 3)": dict(smoothgrad_samples=1, ig_steps=1),
        "+ SmoothGrad n = 50": dict(smoothgrad_samples=50, ig_steps=1),
        "+ Integrated Gradients, 64 steps": dict(smoothgrad_samples=1, ig_steps=64),
        "all methods at their defaults (one call)": dict(smoothgrad_samples=50, ig_steps=64),
        "all methods at the caps (200 samples, 256 steps)": dict(smoothgrad_samples=MAX_SMOOTHGRAD_SAMPLES,
                                                                  ig_steps=MAX_IG_STEPS),
    }
    results = {}
    for name, parameters in configurations.items():
        request = AttributionRequest(class_score(10, 0), **parameters)
        for warm in range(3):
            engine.explain(dataset.x_test[warm], request)
        samples = []
        for index in range(repeats):
            started = time.perf_counter()
            engine.explain(dataset.x_test[index], request)
            samples.append((time.perf_counter() - started) * 1000)
        results[name] = summary(samples)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=default_model_dir(),
                        help="the model cache to serve (trained first if empty); default: the app's")
    parser.add_argument("--data", type=Path, help="a Keras-format mnist.npz, as for app.py")
    parser.add_argument("--requests", type=int, default=40, help="samples per action (default 40)")
    parser.add_argument("--browser-repeats", type=int, default=10)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    dataset = data_module.load_mnist(args.data)
    order = [int(d) for d in np.random.default_rng(0).permutation(len(dataset.x_test))]
    digits, fresh = order[:args.requests + 1], order[args.requests + 1:2 * args.requests + 2]
    log.info("checking the model cache in %s", args.model_dir)
    model_work = measure_model_work(args.model_dir, dataset)

    log.info("starting the app")
    server = Server(args.model_dir, args.data)  # Server stops its process itself if it never answers.
    try:
        client = Client(server.url)
        log.info("cold start %.2f s; timing callbacks over HTTP", server.cold_start_s)
        ours = measure_ours(client, action_plans(digits))
        # Other digits for the concurrent run, so that it too pays for each digit's tensor pass.
        concurrent = measure_concurrent(server.url, action_plans(fresh), client.dependencies)
        layer_bytes = measure_layer_bytes(client, digits[0])
        clicks = None
        if not args.skip_browser:
            log.info("timing click to render in headless Chromium")
            clicks = browser.measure(server.url, GRAPHS, repeats=args.browser_repeats)
    finally:
        peak_mb = server.stop()
    log.info("timing the naive pipeline on the same model and digits")
    naive = measure_naive(args.model_dir, dataset, digits, args.requests)
    log.info("timing the attribution methods")
    attribution_times = measure_attributions(args.model_dir, dataset)

    results = {
        "machine": report.machine(),
        "data": dataset.describe(),
        "cold_start_seconds": round(server.cold_start_s, 2),
        "server_peak_memory_mb": round(peak_mb, 1),
        "model_work": model_work,
        "ours": ours,
        "ours_concurrent": concurrent,
        "naive": naive,
        "bytes_by_layer": layer_bytes,
        "click_to_render": clicks,
        "attributions": attribution_times,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    args.out.write_text(json.dumps(results, indent=2))
    table = report.render(results)
    (ROOT / "benchmarks" / "RESULTS.md").write_text(table)
    print(table)  # noqa: T201 - the command's output is the table.
    return 0


if __name__ == "__main__":
    sys.exit(main())
