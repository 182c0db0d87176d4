"""A bounded load test: gunicorn (-w 2 --threads 4) replaying real callback requests from 16 clients.

    .venv/bin/python -m benchmarks.load [--model-dir DIR] [--requests 10000] [--clients 16] [--max-seconds 300]

Loopback only; stops by itself after --requests or --max-seconds. Reports p50, p95, throughput,
errors, and the workers' memory after warm-up and at the end; writes benchmarks/LOAD.md and load.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from benchmarks.run import LAYERS, action_plans, free_port, with_view  # noqa: E402
from dashboard.config import default_model_dir  # noqa: E402
from tests import dash_requests  # noqa: E402

TARGET_P95_MS = 250
WARMUP_REQUESTS = 1000


def worker_memory_mb(master_pid: int) -> float:
    """Return the summed resident memory of the gunicorn master's worker processes."""
    import psutil

    return sum(child.memory_info().rss for child in psutil.Process(master_pid).children()) / 2**20


def request_bodies(url: str, test_size: int) -> list[bytes]:
    """Return real callback bodies: digit changes, layer changes and class changes (scale toggles send none)."""
    import requests

    dependencies = {d["output"].strip(".").split("...")[0]: d for d in requests.get(url + "/_dash-dependencies").json()
                    if not d.get("clientside_function")}
    digits = [int(d) for d in np.random.default_rng(1).permutation(test_size)[:200]]
    bodies = []
    for updates in action_plans(digits).values():
        for update in updates:
            for name, values in update:
                values = with_view(dependencies[name], values)
                bodies.append(json.dumps(dash_requests.body(dependencies[name], values, LAYERS)).encode())
    np.random.default_rng(2).shuffle(bodies)
    return bodies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--while-training", action="store_true",
                        help="train a run (not served) in the background during the test; writes LOAD_TRAINING.md")
    args = parser.parse_args(argv)
    import requests

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, CNNLENS_MODEL_DIR=str(args.model_dir), TF_CPP_MIN_LOG_LEVEL="2")
    log_file = open(ROOT / "benchmarks" / ".gunicorn.log", "w")  # noqa: SIM115 - closed below.
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "2",
                               "--threads", "4", "--timeout", "600", "app:server"],
                              cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                # With no cached model the page first shows the training's progress: wait for the dashboard.
                if '"digit-pool"' in requests.get(url + "/_dash-layout", timeout=120).text:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not serve the dashboard; see benchmarks/.gunicorn.log")
            time.sleep(0.2)
        layout = requests.get(url + "/_dash-layout", timeout=60).json()
        test_size = _test_size(layout)
        bodies = request_bodies(url, test_size)
        training = start_background_training(args.model_dir) if args.while_training else None
        latencies: list[float] = []
        errors: list[str] = []
        sent = [0]
        lock = threading.Lock()
        memory = {}
        stop_at = time.monotonic() + args.max_seconds

        def client(slot: int) -> None:
            session = requests.Session()
            while True:
                with lock:
                    if sent[0] >= args.requests or time.monotonic() > stop_at:
                        return
                    number = sent[0]
                    sent[0] += 1
                    take_memory = number == WARMUP_REQUESTS
                if take_memory:  # outside the lock, so the other clients keep going
                    memory["after_warmup_mb"] = worker_memory_mb(server.pid)
                body = bodies[number % len(bodies)]
                started = time.perf_counter()
                try:
                    response = session.post(url + "/_dash-update-component", data=body, timeout=30,
                                            headers={"Content-Type": "application/json",
                                                     "Accept-Encoding": "gzip"})
                    ok = response.status_code in (200, 204)
                    detail = f"HTTP {response.status_code}"
                except requests.RequestException as error:
                    ok, detail = False, type(error).__name__
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        errors.append(detail)

        started = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        memory["end_mb"] = worker_memory_mb(server.pid)
        if training is not None:
            training_steps = stop_background_training(args.model_dir, *training)
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()

    results = {
        "machine": report.machine(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "server": "gunicorn -w 2 --threads 4 app:server", "clients": args.clients, "requests": len(latencies),
        "seconds": round(wall, 1), "throughput_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1), "p95_ms": round(float(np.percentile(latencies, 95)), 1),
        "p99_ms": round(float(np.percentile(latencies, 99)), 1), "errors": len(errors),
        "error_kinds": sorted(set(errors)), **{k: round(v, 1) for k, v in memory.items()},
    }
    results["memory_growth_mb"] = round(results["end_mb"] - results.get("after_warmup_mb", results["end_mb"]), 1)
    name = "load"
    if args.while_training:
        name = "load_training"
        results["server"] += f", while a training run (nice 10) took {training_steps:,} steps"
    (ROOT / "benchmarks" / f"{name}.json").write_text(json.dumps(results, indent=2))
    text = render(results)
    (ROOT / "benchmarks" / f"{name.upper()}.md").write_text(text)
    print(text)  # noqa: T201 - the command's output is the table.
    return 0 if results["errors"] == 0 else 1


def start_background_training(model_dir: Path):
    """Start a long training run (not served) on the model folder; return (run id, process) once it trains."""
    import dataclasses

    from dashboard import runs, training
    from dashboard.config import settings_from_env

    settings = dataclasses.replace(settings_from_env(), model_dir=model_dir)
    run_id, process = training.start_run(settings, runs.TrainingOptions(epochs=50), serve=False)
    store = runs.RunStore(model_dir)
    while not (store.progress(run_id) or {}).get("step"):
        if process.poll() is not None:
            raise RuntimeError(f"the training ended early; see {store.folder(run_id) / 'training.log'}")
        time.sleep(0.2)
    return run_id, process


def stop_background_training(model_dir: Path, run_id: str, process) -> int:
    """Cancel the background run; return how many steps it trained."""
    from dashboard import runs

    store = runs.RunStore(model_dir)
    steps = int((store.progress(run_id) or {}).get("step", 0))
    store.request_cancel(run_id)
    process.wait(timeout=120)
    return steps


def _test_size(layout: dict) -> int:
    """Return the test-set size the page announces in its digit pool store."""
    stack = [layout]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            props = node.get("props", {})
            if props.get("id") == "digit-pool":
                return int(props["data"]["size"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise RuntimeError("the page has no digit pool")


def render(results: dict) -> str:
    """Return the load-test results as Markdown."""
    m = results["machine"]
    p95 = results["p95_ms"]
    verdict = "met" if p95 <= TARGET_P95_MS and results["errors"] == 0 else "MISSED"
    return "\n".join([
        "# Load test",
        "",
        f"Run {results['when']} with `.venv/bin/python -m benchmarks.load`, on {m['cpu']}, {m['cores']} cores "
        f"(the 16 client threads share those cores with the server).",
        f"Server: `{results['server']}`; {results['clients']} concurrent clients replaying real callback requests "
        "(digit changes, layer changes, saliency classes) over loopback.",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| requests | {results['requests']:,} in {results['seconds']} s |",
        f"| throughput | {results['throughput_per_s']} requests/s |",
        f"| latency p50 / p95 / p99 | {results['p50_ms']} / {p95} / {results['p99_ms']} ms |",
        f"| errors | {results['errors']} {results['error_kinds'] or ''} |",
        f"| workers' memory after {WARMUP_REQUESTS:,} requests → at the end | "
        f"{results.get('after_warmup_mb', 'n/a')} → {results['end_mb']} MB "
        f"(growth {results['memory_growth_mb']} MB; target < 50) |",
        "",
        f"Target p95 ≤ {TARGET_P95_MS} ms with zero errors: **{verdict}**.",
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
