"""The view in the address bar (issue 13): every field round-trips through a link, values a link cannot hold are
refused one by one with the rest kept, and the page's own checks refuse what this model cannot show."""

from __future__ import annotations

import urllib.parse

import numpy as np
import pytest

from dashboard import edits, gates, ids, image_keys, layout, view_state

# A value for every field that differs from the seed model's default view.
OTHER = {
    "image": 42, "layer": "conv2", "scale": layout.PER_CHANNEL_SCALE, "saliency": 3, "tab": layout.GRADIENTS_TAB,
    "explain": layout.TRUE, "contrast": 5, "samples": 20, "sigma": 0.3, "steps": 16, "baseline": "blurred",
    "gradcam": "conv1", "opacity": 0.45, "sanity": ["on"], "open": [gates.EXPLANATIONS, gates.TESTSET],
    "run": "run-20261201-120000", "step": 7, "bmode": "checkpoint", "b": "7|r=15", "bcheck": "run-x@40",
    "cell": "g:3,1,2;c=5", "field": ["on"],
}


def through_the_address(query: dict[str, str]) -> dict[str, str]:
    """Return the query as a browser hands it back after writing it into an address."""
    return dict(urllib.parse.parse_qsl(urllib.parse.urlencode(query), keep_blank_values=True))


def test_every_field_has_a_value_to_test():
    assert set(OTHER) == set(view_state.BY_KEY)


@pytest.mark.parametrize("key", list(OTHER))
def test_each_field_round_trips_alone(lens, key):
    defaults = layout.view_defaults(lens)
    view = {**defaults, key: OTHER[key]}
    query = view_state.to_query("seed", view, defaults)
    assert set(query) == {"model", key}  # only what differs is written
    read, refused = view_state.read(through_the_address(query), defaults, {})
    assert refused == [] and read == view


def test_the_whole_view_round_trips_at_once(lens):
    defaults = layout.view_defaults(lens)
    view = {**defaults, **OTHER}
    query = view_state.to_query("seed", view, defaults)
    read, refused = view_state.read(through_the_address(query), defaults, {})
    assert refused == [] and read == view


def test_the_default_view_writes_only_the_model(lens):
    defaults = layout.view_defaults(lens)
    assert view_state.to_query("seed", defaults, defaults) == {"model": "seed"}


def test_own_and_edited_images_round_trip_through_a_link(lens):
    defaults = layout.view_defaults(lens)
    picture = np.zeros((28, 28, 1), np.float32)
    picture[6:22, 12:16] = 1.0
    drawn = image_keys.encode_pixels(picture, origin=image_keys.DRAWN, label=1)
    for image in (drawn, f"{drawn}|x=3,r=-15", "42|s=1.2,n=0.1,e=3-5-9-12"):
        query = view_state.to_query("seed", {**defaults, "image": image}, defaults)
        read, refused = view_state.read(through_the_address(query), defaults, layout.view_checks(lens))
        assert refused == [] and read["image"] == image
        # …and names the same pixels again.
        np.testing.assert_array_equal(lens.picture(read["image"]), lens.picture(image))


def test_the_pages_checks_pass_every_value_this_model_can_show(lens):
    defaults, checks = layout.view_defaults(lens), layout.view_checks(lens)
    # No run exists in this folder (another test file's may, so none is named).
    showable = {key: value for key, value in OTHER.items() if key not in ("run", "bcheck", "bmode")}
    read, refused = view_state.read(
        through_the_address(view_state.to_query("seed", {**defaults, **showable}, defaults)), defaults, checks)
    assert refused == [] and read == {**defaults, **showable}


@pytest.mark.parametrize("key, text", [
    ("image", "99999"), ("image", "-1"), ("image", "px:AAAA"), ("image", "42|x=99"), ("image", "up:" + "0" * 32),
    ("image", "cat"), ("layer", "conv9"), ("scale", "log"), ("saliency", "12"), ("tab", "biases"),
    ("explain", "-3"), ("contrast", "predicted"), ("samples", "0"), ("samples", "many"), ("sigma", "nan"),
    ("sigma", "2"), ("steps", "100000"), ("baseline", "white"), ("gradcam", "dense1"), ("opacity", "inf"),
    ("sanity", "off"), ("open", "secrets"), ("run", "../../etc"), ("step", "-1"), ("step", "1.5"),
    ("image", "1" * 6000), ("cell", "a:1,2,3,4,5"), ("cell", "z:1"), ("cell", "g:1,2;c=x"), ("field", "yes"),
])
def test_a_value_this_page_cannot_show_is_refused_and_the_rest_kept(lens, key, text):
    defaults, checks = layout.view_defaults(lens), layout.view_checks(lens)
    other = "scale" if key != "scale" else "layer"
    query = {"model": "seed", key: text, other: str(OTHER[other])}
    read, refused = view_state.read(query, defaults, checks)
    assert refused == [key]
    assert read[key] == defaults[key] and read[other] == OTHER[other]


def test_unknown_keys_are_ignored(lens):
    defaults = layout.view_defaults(lens)
    read, refused = view_state.read({"model": "seed", "zoom": "3", "utm_source": "mail"}, defaults, {})
    assert read == defaults and refused == []


@pytest.mark.parametrize("kind, text, value", [
    ("int", "-12", -12), ("float", "0.25", 0.25), ("float", "1e-3", 0.001), ("list", "a,,b", ["a", "b"]),
    ("list", "", []), ("image", "42", 42), ("image", "42|x=1", "42|x=1"), ("text", "7", 7), ("text", "conv1", "conv1"),
])
def test_values_are_read_as_their_kind(kind, text, value):
    assert view_state.parse_value(kind, text) == value


@pytest.mark.parametrize("kind, text", [("int", "--5"), ("int", "1" * 13), ("int", ""), ("float", "abc"),
                                        ("float", "-inf"), ("nope", "1")])
def test_values_that_are_not_their_kind_raise(kind, text):
    with pytest.raises(ValueError):
        view_state.parse_value(kind, text)


def test_the_browser_gets_each_fields_input_slot(lens):
    client = view_state.client_view("seed", layout.view_defaults(lens))
    pairs = view_state.inputs()
    for field in client["fields"]:
        if field["by_browser"]:  # the browser code that changes it writes it; syncAddress does not read it
            assert field["input"] == -1 and (field["component"], field["prop"]) not in pairs
            continue
        assert pairs[field["input"]] == (field["component"], field["prop"])
    assert [field["key"] for field in client["fields"] if field["by_browser"]] == ["cell"]
    assert {field["key"] for field in client["fields"] if not field["in_place"]} == {"open", "run", "step"}
    # run and step are two parts of one store, read from one input.
    assert [pair for pair in pairs if pair[0] == ids.CHECKPOINT_VIEW] == [(ids.CHECKPOINT_VIEW, "data")]


def test_an_edit_in_a_link_is_limited_to_the_edit_grammar():
    assert image_keys.parse("42|x=3", 100).edit == edits.Edit(shift_x=3)
    with pytest.raises(image_keys.BadImageKey, match="edit"):
        image_keys.parse("42|x=3;rm -rf", 100)
