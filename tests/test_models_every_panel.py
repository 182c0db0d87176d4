"""MobileNetV2 (96×96×3) and a Sequential CNN (28×28×1), saved as .keras and opened as --model opens them,
through every panel and every server callback: every layer on both tabs with every choice of its controls,
each response small enough to send."""

from __future__ import annotations

import dataclasses
import gzip
import json

import plotly.utils
import pytest

from dashboard import views
from dashboard.callbacks import layers
from dashboard.layout import GRADIENTS_TAB, WEIGHTS_TAB
from tests import dash_requests, user_models

MAX_GZIP = 150 * 1024


@pytest.fixture(scope="module")
def model_catalog(test_settings, lens, tmp_path_factory):
    from dashboard.catalog import Catalog

    folder = tmp_path_factory.mktemp("more-user-models")
    user_models.save(user_models.mobilenet_v2(), folder, "mobilenet")
    user_models.write_rgb_npz(folder / "shapes96.npz", size=96, n_train=20, n_test=12)
    (folder / "mobilenet.json").write_text(json.dumps({"data": "shapes96.npz"}))
    user_models.save(user_models.sequential_cnn(), folder, "sequential")
    return Catalog.start(dataclasses.replace(test_settings, models=(folder,)), lens)


def gzip_size(value) -> int:
    return len(gzip.compress(json.dumps(value, cls=plotly.utils.PlotlyJSONEncoder).encode(), 1))


@pytest.mark.parametrize("key", ["mobilenet", "sequential"])
def test_every_layer_on_both_tabs_with_every_choice(model_catalog, key):
    served = model_catalog.resolve(key)
    largest = (0, "")
    for info in served.layers:
        choices = [o["value"] for o in views.channel_options(info)] or [None]
        pages = [o["value"] for o in views.page_options(info)] or [None]
        for tab in (WEIGHTS_TAB, GRADIENTS_TAB):
            for channel in choices:
                for page in pages[:2]:
                    answer = layers.layer_views(served, 3, info.name, channel, tab, None, page)
                    text = json.dumps([a for a in answer if isinstance(a, str)])
                    assert "went wrong" not in text and "no view yet" not in text, (info.name, tab, channel)
                    assert answer[2] == f"Activations of {info.name} ({info.kind})"
                    size = gzip_size([a for a in answer if not isinstance(a, str)])
                    largest = max(largest, (size, f"{info.name} {tab} {channel} page {page}"))
    assert largest[0] <= MAX_GZIP, largest


@pytest.mark.parametrize("key", ["mobilenet", "sequential"])
def test_every_server_callback_answers_over_http(test_settings, model_catalog, key):
    from app import create_app
    from tests.test_callbacks import server_callbacks
    from tests.test_catalog import _valid_values

    client = create_app(test_settings, catalog=model_catalog).server.test_client()
    served = model_catalog.resolve(key)
    names = [info.name for info in served.layers]
    page = client.get("/_dash-layout", headers={"Referer": f"http://localhost/?model={key}"})
    assert page.status_code == 200 and names[0] in page.get_data(as_text=True)
    for dependency in server_callbacks(client.get("/_dash-dependencies").get_json()):
        body = dash_requests.body(dependency, _valid_values(dependency, served, key), names)
        response = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
        assert response.status_code in (200, 204), dependency["output"]
        text = dash_requests.answer_text(dependency, response)
        assert "Traceback" not in text and "went wrong" not in text, dependency["output"]
