"""Build the JSON bodies the browser POSTs to /_dash-update-component, straight from /_dash-dependencies."""

from __future__ import annotations

import json
from typing import Any

WILDCARD = '["ALL"]'


def _split_outputs(output: str) -> list[tuple[str, str]]:
    if output.startswith(".."):
        parts = output[2:-2].split("...")
    else:
        parts = [output]
    return [tuple(part.rsplit(".", 1)) for part in parts]  # type: ignore[misc]


def _concrete(raw_id: str, layer_names: list[str]) -> Any:
    """Return a string id, a dict id as it is, or for a wildcard pattern id the list of concrete dict ids."""
    if not raw_id.startswith("{"):
        return raw_id
    pattern = json.loads(raw_id)
    key = next((k for k, v in pattern.items() if v == ["ALL"]), None)
    if key is None:
        return pattern
    return [{**pattern, key: name} for name in layer_names]


def body(dependency: dict, values: list[Any], layer_names: list[str]) -> dict:
    """Return a request body for the callback with these input and state values, in order."""
    outputs = []
    for raw_id, prop in _split_outputs(dependency["output"]):
        concrete = _concrete(raw_id, layer_names)
        outputs.append([{"id": i, "property": prop} for i in concrete] if isinstance(concrete, list)
                       else {"id": concrete, "property": prop})
    slots = dependency["inputs"] + dependency["state"]
    assert len(values) == len(slots), f"{len(slots)} values needed for {dependency['output']}"
    filled = []
    for slot, value in zip(slots, values):
        concrete = _concrete(slot["id"], layer_names)
        if isinstance(concrete, list):
            filled.append([{"id": i, "property": slot["property"], "value": value} for i in concrete])
        else:
            filled.append({"id": concrete, "property": slot["property"], "value": value})
    n_inputs = len(dependency["inputs"])
    first = filled[0][0] if isinstance(filled[0], list) else filled[0]
    first_id = json.dumps(first["id"], separators=(",", ":")) if isinstance(first["id"], dict) else first["id"]
    changed = f"{first_id}.{first['property']}"
    return {
        "output": dependency["output"],
        "outputs": outputs if len(outputs) > 1 or dependency["output"].startswith("..") else outputs[0],
        "inputs": filled[:n_inputs],
        "state": filled[n_inputs:],
        "changedPropIds": [changed],
    }


def answer_text(dependency: dict, response: Any) -> str:
    """Return the text of a callback's answer as the page shows it. The report's download is a file holding
    plotly.js (whose own source says "went wrong"): only the note beside the button is kept of it; the report's
    figures are checked in tests/test_report.py and tests/test_own_input.py."""
    text = response.get_data(as_text=True)
    if "report-download" not in dependency["output"] or not text:
        return text
    answer = response.get_json()["response"]
    assert answer["report-download"]["data"]["filename"].endswith(".html")
    return json.dumps(answer.get("export-note"))
