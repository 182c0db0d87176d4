"""Uploading a model from the page: off unless the operator turns it on; when on, the same checks as --model."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

import pytest

from tests import dash_requests
from tests.test_callbacks import server_callbacks


def upload_dependency(client) -> dict | None:
    return next((d for d in server_callbacks(client.get("/_dash-dependencies").get_json())
                 if "model-upload" in json.dumps(d["inputs"])), None)


def post_upload(client, dependency, content, filename):
    body = dash_requests.body(dependency, [content, filename], [])
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return response.get_json()["response"] if response.status_code == 200 else {}


def as_data_url(content: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(content).decode()


@pytest.fixture(scope="module")
def upload_settings(test_settings, tmp_path_factory):
    # A model folder of its own, so the uploads do not mix with other tests' catalogs.
    folder = tmp_path_factory.mktemp("upload-models")
    for name in ("model.keras", "model.json"):
        (folder / name).write_bytes((test_settings.model_dir / name).read_bytes())
    return dataclasses.replace(test_settings, model_dir=folder, allow_upload=True)


@pytest.fixture(scope="module")
def upload_app(upload_settings, lens):
    from app import create_app
    from dashboard.catalog import Catalog

    catalog = Catalog.start(upload_settings, lens)
    return create_app(upload_settings, catalog=catalog), catalog


def test_without_the_flag_the_page_offers_no_upload(test_settings, catalog):
    from app import create_app
    from dashboard import serving

    app = create_app(test_settings, catalog=catalog)
    client = app.server.test_client()
    assert "model-upload" not in client.get("/_dash-layout").get_data(as_text=True)
    assert upload_dependency(client) is None
    assert app.server.config["MAX_CONTENT_LENGTH"] == serving.MAX_BODY_BYTES
    # A hand-made upload request names a callback the server does not have: refused before Dash.
    body = {"output": "..model-location.search@x...upload-message.children..", "outputs": [],
            "inputs": [{"id": "model-upload", "property": "contents", "value": "data:;base64,AAAA"}],
            "changedPropIds": ["model-upload.contents"], "state": []}
    response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400


def test_an_uploaded_model_opens_on_its_own_page_and_another_worker_finds_it(upload_app, upload_settings, lens,
                                                                             user_model_folder):
    from dashboard import serving
    from dashboard.catalog import Catalog

    app, catalog = upload_app
    client = app.server.test_client()
    assert "model-upload" in client.get("/_dash-layout").get_data(as_text=True)
    assert app.server.config["MAX_CONTENT_LENGTH"] == serving.upload_body_bytes(upload_settings.max_model_mb)
    content = (user_model_folder / "sequential.keras").read_bytes()
    key = "upload-" + hashlib.sha256(content).hexdigest()[:12]
    answer = post_upload(client, upload_dependency(client), as_data_url(content), "My sequential.keras")
    assert answer["model-location"]["search"] == f"?model={key}"
    assert "Opening My sequential.keras" in answer["upload-message"]["children"]
    uploaded = catalog.resolve(key)
    assert uploaded.name == "My sequential" and [i.name for i in uploaded.layers][:2] == ["conv_a", "leaky"]
    page = client.get("/_dash-layout", headers={"Referer": f"http://localhost/?model={key}"}).get_data(as_text=True)
    assert "conv_a" in page and "My sequential" in page
    # Another gunicorn worker has its own catalog: it opens the same upload when a page asks for it.
    other = Catalog.start(upload_settings, lens)
    assert other.resolve(key).name == "My sequential"


def test_bad_uploads_get_a_message_and_change_nothing(upload_app, upload_settings, user_model_folder):
    app, catalog = upload_app
    client = app.server.test_client()
    dependency = upload_dependency(client)
    uploads = upload_settings.model_dir / "user-models" / "uploads"
    before = sorted(p.name for p in uploads.glob("*")) if uploads.exists() else []
    cases = [
        ((user_model_folder / "with-lambda.keras").read_bytes(), "lambda.keras", "lambda.keras: it contains a Lambda"),
        ((user_model_folder / "unfitting.keras").read_bytes(), "cifar.keras", "takes 32×32×3 images"),
        (b"PK\x03\x04 not really a zip" * 10, "broken.keras", "broken.keras is not a .keras file: not a readable zip"),
        (b"anything", "model.h5", "Choose a .keras file"),
    ]
    for content, filename, words in cases:
        answer = post_upload(client, dependency, as_data_url(content), filename)
        assert words in answer["upload-message"]["children"], (filename, answer)
        assert "model-location" not in answer  # the page stays where it is
    for contents, words in [("data:application/octet-stream;base64,@@@@", "not valid base64"),
                            (None, "did not arrive as a file"), (12, "did not arrive as a file"),
                            ("x" * 5000, "did not arrive as a file")]:
        answer = post_upload(client, dependency, contents, "model.keras")
        assert words in answer["upload-message"]["children"], (contents, answer)
    # Nothing refused was kept, and the server still serves the page.
    assert sorted(p.name for p in uploads.glob("*")) == before
    assert client.get("/").status_code == 200


def test_an_upload_over_the_size_cap_is_refused_unread(upload_settings, lens):
    from dashboard.callbacks.upload import upload_model
    from dashboard.catalog import Catalog

    small = Catalog(lens, settings=dataclasses.replace(upload_settings, max_model_mb=0.01))
    _, message = upload_model(small, as_data_url(b"\0" * 20_000), "big.keras")
    assert "larger than this server's limit of 0.01 MB" in message
