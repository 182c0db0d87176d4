"""The app in its own process for the benchmarks: `python app.py` as a user runs it, or gunicorn as deployed."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """Return a loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_memory_mb(pid: int) -> float:
    """Return the process's peak resident memory (VmHWM) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def serves_dashboard(url: str, timeout: float = 120) -> bool:
    """Return whether the app at url serves the dashboard (not the first training's progress page)."""
    import requests

    from dashboard import ids

    try:
        layout = requests.get(url + "/_dash-layout", timeout=timeout)
    except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still loading
        return False
    return layout.ok and f'"{ids.RANDOM_DIGIT}"' in layout.text


def command_line(description: str, argv: list[str] | None) -> argparse.Namespace:
    """Parse a browser benchmark's command line (--model-dir, --repeats) and set up its logging."""
    from dashboard.config import default_model_dir

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=default_model_dir(),
                        help="the model cache (trained first if empty), as the app's --model-dir")
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return args


class Server:
    """The app in its own process on a free loopback port, until stop()."""

    def __init__(self, command: list[str], env: dict[str, str], log_name: str, timeout: float = 600) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = ROOT / "benchmarks" / log_name
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop().
        started = time.perf_counter()
        command = [part.replace("{port}", str(self.port)) for part in command]
        self.process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env},
                                        stdout=self.log_file, stderr=subprocess.STDOUT)
        try:
            self.cold_start_s = self._wait_until_served(started, timeout)
        except BaseException:
            self.stop()
            raise

    @classmethod
    def app(cls, model_dir: Path, data: Path | None = None, extra: list[str] | None = None) -> Server:
        """Start `python app.py` on the model cache (which trains first if the cache is empty), with any
        `extra` flags (e.g. --model)."""
        command = [sys.executable, str(ROOT / "app.py"), "--port", "{port}", "--model-dir", str(model_dir)]
        if data:
            command += ["--data", str(data)]
        command += extra or []
        return cls(command, {}, ".server.log")

    @classmethod
    def gunicorn(cls, model_dir: Path, workers: int = 2, threads: int = 4) -> Server:
        """Start `gunicorn -w workers --threads threads app:server` on the model cache."""
        command = [sys.executable, "-m", "gunicorn", "-b", "127.0.0.1:{port}", "-w", str(workers),
                   "--threads", str(threads), "--timeout", "600", "app:server"]
        return cls(command, {"CNNLENS_MODEL_DIR": str(model_dir)}, ".gunicorn.log")

    def _wait_until_served(self, started: float, timeout: float) -> float:
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}; see {self.log_path}")
            if serves_dashboard(self.url):
                return time.perf_counter() - started
            time.sleep(0.05)
        raise TimeoutError(f"the server did not serve the dashboard within {timeout} s; see {self.log_path}")

    def stop(self) -> float:
        """Stop the server; return its peak memory in MB (the master's, for gunicorn)."""
        peak = float("nan")
        if self.process.poll() is None:
            peak = peak_memory_mb(self.process.pid)
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log_file.close()
        return peak
