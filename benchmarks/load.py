"""A bounded load test: gunicorn (-w 2 --threads 4) and 16 clients, each replaying whole captured digit changes.

    .venv/bin/python -m benchmarks.load [--model-dir DIR] [--seconds 20] [--clients 16] [--every-panel-open]
                                        [--while-training]

The digit changes are captured from the real page, served by the same gunicorn, in headless Chromium
(benchmarks/capture.py). Each client then repeatedly picks one at random and sends all its requests
together, as the browser does, on its own pool of at most 6 connections; one latency sample per action,
from its first send to its last answer. A warm-up (not measured) comes first. Loopback only; stops by
itself. Writes benchmarks/LOAD.md and load.json (LOAD_TRAINING.md and load_training.json with
--while-training).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import capture, report  # noqa: E402
from benchmarks.capture import AS_IT_OPENS, DIGIT_CHANGE, EVERY_PANEL_OPEN  # noqa: E402
from benchmarks.replay import CHROMIUM_CONNECTIONS_PER_HOST, Replayer  # noqa: E402
from benchmarks.server import Server  # noqa: E402
from benchmarks.stats import percentile  # noqa: E402
from dashboard.config import default_model_dir  # noqa: E402
from dashboard.lens import TENSOR_CACHE_SIZE  # noqa: E402

log = logging.getLogger("benchmarks.load")
TARGET_P95_MS = report.TARGET_LOAD_P95_MS


def worker_memory_mb(master_pid: int) -> float:
    """Return the summed resident memory of the gunicorn master's worker processes."""
    import psutil

    return sum(child.memory_info().rss for child in psutil.Process(master_pid).children()) / 2**20


def cpu_seconds(master_pid: int) -> dict[str, float]:
    """Return the CPU seconds used so far by the gunicorn workers and by this process (the load generator)."""
    import psutil

    def used(process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    return {"workers": sum(used(child) for child in psutil.Process(master_pid).children()),
            "clients": used(psutil.Process())}


class Samples:
    """What the clients measured: one latency per action, request counts and errors (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.requests = 0
        self.errors: list[str] = []
        self.failed_actions = 0
        self.retried = 0

    def add(self, wall_ms: float, answers: list) -> None:
        failed = [a.error or f"HTTP {a.status}" for a in answers if not a.ok]
        with self.lock:
            self.latencies.append(wall_ms)
            self.requests += len(answers)
            self.errors += failed
            self.failed_actions += bool(failed)
            self.retried += sum(a.retried for a in answers)

    def add_failure(self, kind: str) -> None:
        with self.lock:
            self.errors.append(kind)


def run_clients(url: str, actions: list[capture.CapturedAction], clients: int, connections: int,
                warmup_s: float, seconds: float, on_warm: Callable[[], None]) -> tuple[Samples, float]:
    """Run the clients for warmup_s, call on_warm(), then measure for seconds; return (samples, measured s).

    Only digit changes started after the warm-up are counted, and none starts after the end.
    """
    samples = Samples()
    ready = threading.Barrier(clients + 1)
    clock = {"measure_from": float("inf"), "stop": float("inf")}

    def client(number: int) -> None:
        chooser = random.Random(number)
        ready.wait()
        try:
            replayer = Replayer(url, connections=connections)  # its own pool of connections, like a browser tab
            try:
                while (started := time.monotonic()) < clock["stop"]:
                    wall, answers = replayer.together(chooser.choice(actions))
                    if started >= clock["measure_from"]:
                        samples.add(wall, answers)
            finally:
                replayer.close()
        except Exception as error:  # a client that cannot go on is an error of the run, not a crash of it
            log.exception("client %d stopped", number)
            samples.add_failure(type(error).__name__)

    threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(warmup_s)
    on_warm()
    clock["measure_from"] = time.monotonic()
    clock["stop"] = clock["measure_from"] + seconds
    for thread in threads:
        thread.join()
    return samples, time.monotonic() - clock["measure_from"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument("--seconds", type=float, default=20, help="measured duration (default 20)")
    parser.add_argument("--warmup-seconds", type=float, default=5, help="unmeasured load first (default 5)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--connections", type=int, default=CHROMIUM_CONNECTIONS_PER_HOST,
                        help="connections per client (default 6, as Chromium per host)")
    parser.add_argument("--digit-changes", type=int, default=30, help="digit changes to capture (default 30)")
    parser.add_argument("--every-panel-open", action="store_true",
                        help="capture the digit changes with every panel open (default: the page as it opens)")
    parser.add_argument("--while-training", action="store_true",
                        help="train a run (not served) in the background during the test; writes LOAD_TRAINING.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    state = EVERY_PANEL_OPEN if args.every_panel_open else AS_IT_OPENS

    server = Server.gunicorn(args.model_dir)
    training = None
    try:
        log.info("capturing %d digit changes (%s) from the page served by gunicorn", args.digit_changes, state)
        actions = capture.capture_digit_changes(server.url, state, args.digit_changes)
        training = start_background_training(args.model_dir) if args.while_training else None
        at_start: dict = {}

        def warmed_up() -> None:
            at_start.update(memory=worker_memory_mb(server.process.pid), cpu=cpu_seconds(server.process.pid))

        log.info("%d clients: %.0f s of warm-up, then %.0f s measured", args.clients, args.warmup_seconds, args.seconds)
        samples, wall = run_clients(server.url, actions, args.clients, args.connections, args.warmup_seconds,
                                    args.seconds, warmed_up)
        cpu = cpu_seconds(server.process.pid)
        usage = {"after_warmup_mb": at_start["memory"], "end_mb": worker_memory_mb(server.process.pid),
                 "cpu_cores_workers": (cpu["workers"] - at_start["cpu"]["workers"]) / wall,
                 "cpu_cores_clients": (cpu["clients"] - at_start["cpu"]["clients"]) / wall}
        training_steps = stop_background_training(args.model_dir, *training) if training else None
        training = None
    finally:
        if training:
            stop_background_training(args.model_dir, *training)
        server.stop()

    results = summarise(args, state, actions, samples, wall, usage)
    name = "load"
    if training_steps is not None:
        name = "load_training"
        results["server"] += f", while a training run (nice 10) took {training_steps:,} steps"
    (ROOT / "benchmarks" / f"{name}.json").write_text(json.dumps(results, indent=2))
    text = render(results)
    (ROOT / "benchmarks" / f"{name.upper()}.md").write_text(text)
    print(text)  # noqa: T201 - the command's output is the table.
    return 0 if not results["errors"]["requests"] else 1


def summarise(args: argparse.Namespace, state: str, actions: list[capture.CapturedAction], samples: Samples,
              wall: float, usage: dict) -> dict:
    """Return the load test's results as a JSON-ready dict."""
    latencies = samples.latencies
    results = {
        "machine": report.machine(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "server": "gunicorn -w 2 --threads 4 app:server", "clients": args.clients,
        "connections_per_client": args.connections, "seconds": round(wall, 1),
        "warmup_seconds": args.warmup_seconds, "action": f"{DIGIT_CHANGE}, {state}",
        "captured_actions": len(actions), "requests_per_action": sorted({len(a.requests) for a in actions}),
        "actions": len(latencies), "requests": samples.requests,
        "actions_per_s": round(len(latencies) / wall, 1), "requests_per_s": round(samples.requests / wall, 1),
        "per_action": {f"p{q}_ms": round(percentile(latencies, q), 1) if latencies else None for q in (50, 95, 99)},
        "errors": {"requests": len(samples.errors), "actions": samples.failed_actions,
                   "kinds": sorted(set(samples.errors))},
        "resent_on_closed_connection": samples.retried,
        **{key: round(value, 1) for key, value in usage.items()},
    }
    results["memory_growth_mb"] = round(results["end_mb"] - results.get("after_warmup_mb", results["end_mb"]), 1)
    return results


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


def render(results: dict) -> str:
    """Return the load-test results as Markdown."""
    per_action, errors = results["per_action"], results["errors"]
    p95 = per_action["p95_ms"]
    met = p95 is not None and p95 <= TARGET_P95_MS and errors["requests"] == 0
    counts = results["requests_per_action"]
    count_text = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return "\n".join([
        "# Load test",
        "",
        f"Run {results['when']} with `.venv/bin/python -m benchmarks.load`, on "
        f"{report.describe_machine(results['machine'])} (the client threads share those cores with the server).",
        f"Server: `{results['server']}`, over loopback. The {results['captured_actions']} digit changes "
        f"({results['action']}; {count_text} requests each) were captured from the page in headless Chromium; "
        f"{results['clients']} clients each repeatedly pick one at random and send all its requests together on "
        f"their own {results['connections_per_client']} connections, as a browser tab does. One sample per digit "
        f"change, from its first send to its last answer. {results['warmup_seconds']:g} s of the same load came "
        f"first, not measured. Each worker keeps the tensors of its last {TENSOR_CACHE_SIZE} digits: with "
        f"{results['captured_actions']} digits picked at random, a digit a worker has seen recently is served "
        "from that cache (about half of them at 150 digits, nearly all at 30), the rest compute.",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| digit changes | {results['actions']:,} in {results['seconds']} s ({results['actions_per_s']} per s) |",
        f"| requests | {results['requests']:,} ({results['requests_per_s']} per s) |",
        f"| latency per digit change, p50 / p95 / p99 | {per_action['p50_ms']} / {p95} / {per_action['p99_ms']} ms |",
        f"| errors | {errors['requests']} requests in {errors['actions']} digit changes {errors['kinds'] or ''} |",
        f"| requests sent again because the server had just closed their kept-alive connection (as Chromium does) "
        f"| {results['resent_on_closed_connection']} |",
        f"| CPU used while measured: the gunicorn workers / the load generator (this process), in cores "
        f"| {results['cpu_cores_workers']} / {results['cpu_cores_clients']} of {results['machine']['cores']} |",
        f"| workers' memory after the warm-up → at the end | {results.get('after_warmup_mb', 'n/a')} → "
        f"{results['end_mb']} MB (growth {results['memory_growth_mb']} MB) |",
        "",
        f"Target p95 ≤ {TARGET_P95_MS} ms per digit change with zero errors: **{'met' if met else 'MISSED'}**"
        + ("" if met or p95 is None else f" (p95 {report.verdict(p95, TARGET_P95_MS, 'ms')})") + ".",
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
