"""The Celery path for real: Debian's redis-server and a Celery worker on loopback run one tiny training.

The page's training job is POSTed to the web app exactly as the browser does, then polled with the
signed job handles until the worker's result comes back through Redis.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard import runs
from dashboard.model_service import METADATA_FILE
from tests import dash_requests
from tests.test_browser import _free_port

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def redis_url(tmp_path):
    """A redis-server of our own on a free loopback port, with nothing saved to disk."""
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: ./test.sh installs Debian's redis-server"
    port = _free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.time() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert time.time() < deadline and process.poll() is None, "redis-server did not start"
            time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture()
def celery_worker(redis_url, private_settings, tmp_path):
    """A Celery worker for the training jobs, with the web app's settings in its environment."""
    log_path = tmp_path / "worker.log"
    environment = dict(os.environ, CNNLENS_REDIS_URL=redis_url, CNNLENS_MODEL_DIR=str(private_settings.model_dir),
                       CNNLENS_OFFLINE="1", PYTHONPATH=str(REPO))
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "dashboard.worker", "worker",
                                    "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat",
                                    "--without-mingle", "--without-gossip"],
                                   stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=REPO)
    deadline = time.time() + 60
    while "ready." not in log_path.read_text(errors="replace"):
        assert process.poll() is None and time.time() < deadline, log_path.read_text(errors="replace")[-3000:]
        time.sleep(0.2)
    yield log_path
    process.terminate()
    process.wait(timeout=30)


def test_a_training_job_runs_on_a_celery_worker_through_redis(private_settings, redis_url, celery_worker):
    from app import create_app
    from dashboard.lens import Lens

    settings = dataclasses.replace(private_settings, redis_url=redis_url)
    lens = Lens.start(settings)
    app = create_app(settings, lens=lens)
    assert type(app._background_manager).__name__ == "CeleryManager"
    client = app.server.test_client()
    client.get("/")
    dependency = next(d for d in client.get("/_dash-dependencies").get_json() if "training-result" in d["output"])
    token = "0123456789abcdef0123456789abcdef"  # what the page's Start draws (clientside startRequest)
    body = dash_requests.body(dependency, [token, 1, 50, 0.002, 150, "relu"], [info.name for info in lens.layers])
    started = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert started.status_code == 200, started.get_data(as_text=True)[:500]
    handles = started.get_json()
    assert {"cacheKey", "job"} <= set(handles)
    progress_seen, result, deadline = [], None, time.time() + 180
    while result is None and time.time() < deadline:
        time.sleep(0.5)
        poll = client.post("/_dash-update-component", query_string={"cacheKey": handles["cacheKey"],
                                                                     "job": handles["job"]},
                           data=json.dumps(body), content_type="application/json")
        assert poll.status_code in (200, 204), poll.get_data(as_text=True)[:500]
        if poll.status_code == 204 or not poll.data:
            continue
        answer = poll.get_json()
        if "progress" in answer:
            progress_seen.append(answer["progress"])
        if "response" in answer:
            result = answer["response"]["training-result"]["children"]
    worker_log = celery_worker.read_text(errors="replace")
    assert result is not None, f"no result from the worker; its log:\n{worker_log[-3000:]}"
    assert "finished" in result and "now the served model" in result, result
    assert progress_seen, "the worker's progress never reached the web app"
    assert "succeeded" in worker_log  # Celery ran the task, not the web process
    (record,) = runs.RunStore(settings.model_dir).list()
    assert record["status"] == runs.FINISHED
    assert json.loads((settings.model_dir / METADATA_FILE).read_text())["run"] == record["id"]
    assert lens.served.metadata["run"] == record["id"]
