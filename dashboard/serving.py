"""What makes the Flask server behind Dash safe to share: secret key, body limit, security headers, and
callback requests that cannot be run refused with a 400 before Dash dispatches them."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dash
import flask
import werkzeug.exceptions

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
SECRET_FILE = "secret_key"
CALLBACK_ROUTE = "_dash-update-component"


def secret_key(model_dir: Path, configured: str | None = None) -> str:
    """Return the configured secret, or the one generated once for this install (kept beside the model cache).

    Every worker of one install reads the same file; the first to start creates it with os.link,
    which fails if another worker got there first, so they never disagree.
    """
    if configured:
        return configured
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / SECRET_FILE
    if not path.exists():
        handle, temp_name = tempfile.mkstemp(dir=model_dir, prefix=".secret.")
        try:
            with os.fdopen(handle, "w") as temp:
                temp.write(secrets.token_hex(32))
            os.link(temp_name, path)  # atomic create-if-absent; mkstemp already made it 0600
            log.info("generated a secret key in %s", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temp_name)
    return path.read_text().strip()


def content_security_policy(app: dash.Dash) -> str:
    """Return a CSP under which the page works: own scripts plus Dash's inline ones by hash; no eval."""
    script_sources = " ".join(["'self'", *app.csp_hashes()])
    return "; ".join([
        "default-src 'self'",
        f"script-src {script_sources}",
        # Plotly and Dash's components set inline styles on the elements they draw.
        "style-src 'self' 'unsafe-inline'",
        # Plotly draws heatmaps as data: images.
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def callback_request_problem(body: Any, callback_map: Mapping[str, dict]) -> str | None:
    """Return why Dash could not run a server callback for this /_dash-update-component body, or None if it could.

    Checked is what Dash reads before it calls the callback, where a wrong shape raises and answers 500: the
    output names a server-side callback, inputs and state fill its slots, outputs are its outputs. The values
    in the slots are the callbacks' own to check.
    """
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str):
        return 'the body names no callback ("output")'
    callback = callback_map.get(output)
    if callback is None:
        return "no callback has this output"
    if "callback" not in callback:
        return "this callback runs in the browser"
    for key in ("inputs", "state"):
        slots = body.get(key, [])
        if not (isinstance(slots, list) and len(slots) == len(callback[key]) and all(map(_is_slot, slots))):
            return f'"{key}" does not match the callback\'s {key}'
    if not callback.get("no_output") and not _are_outputs(body.get("outputs"), callback["output"]):
        return '"outputs" are not the callback\'s outputs'
    changed = body.get("changedPropIds", [])
    if not (isinstance(changed, list) and all(isinstance(prop_id, str) for prop_id in changed)):
        return '"changedPropIds" is not a list of strings'
    return None


def _is_dependency(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("id"), (str, dict)) and isinstance(item.get("property"), str)


def _is_slot(slot: Any) -> bool:
    # A wildcard (pattern-matching) slot is a list: one entry per matching component.
    return all(map(_is_dependency, slot)) if isinstance(slot, list) else _is_dependency(slot)


def _are_outputs(outputs: Any, declared: dash.Output | list[dash.Output]) -> bool:
    if isinstance(declared, (list, tuple)):  # a multi-output callback gets one entry per output
        return isinstance(outputs, list) and len(outputs) == len(declared) and all(map(_is_output, outputs, declared))
    return _is_output(outputs, declared)


def _is_output(entry: Any, declared: dash.Output) -> bool:
    # Dash compares the same way before it runs a callback; allow_duplicate adds "@<hash>" to the property.
    return all(_is_dependency(spec) and dash.Output(spec["id"], spec["property"].split("@")[0]) == declared
               for spec in (entry if isinstance(entry, list) else [entry]))


def upload_body_bytes(max_model_mb: float) -> int:
    """Return the body cap that lets a model file of max_model_mb through as base64 (4/3 larger) in a callback."""
    return max(MAX_BODY_BYTES, int(max_model_mb * 1024 * 1024 * 4 / 3) + 64 * 1024)


def harden(app: dash.Dash, *, secret: str, max_body_bytes: int | None = None) -> None:
    """Set the secret key, cap request bodies (at MAX_BODY_BYTES unless model uploads need more), refuse
    malformed callback requests with a 400, and add security headers to every response."""
    server = app.server
    server.secret_key = secret
    server.config["MAX_CONTENT_LENGTH"] = max_body_bytes or MAX_BODY_BYTES
    callback_endpoint = app.config.routes_pathname_prefix + CALLBACK_ROUTE
    policy: list[str] = []  # Computed on the first request, after every callback is registered.

    @server.before_request
    def refuse_malformed_callback_requests() -> tuple[flask.Response, int] | None:
        # Without this, Dash answers a body it cannot dispatch with a 500 and logs a traceback: a stale tab
        # naming a renamed callback, or a client posting a callback that runs in the browser. Dash's own
        # before_request (registered first) has merged every dash.callback into app.callback_map by now.
        if flask.request.endpoint != callback_endpoint:
            return None
        try:
            body = flask.request.get_json()  # Flask keeps the parsed body: Dash's dispatch does not parse it again.
        except (werkzeug.exceptions.BadRequest, RecursionError):  # 415 (not sent as JSON) and 413 pass through.
            problem: str | None = "the body is not valid JSON"
        else:
            problem = callback_request_problem(body, app.callback_map)
        if problem is None:
            return None
        log.info("refused a callback request: %s", problem)
        return flask.jsonify(error=f"Bad callback request: {problem}."), 400

    @server.after_request
    def add_security_headers(response: flask.Response) -> flask.Response:
        if not policy:
            policy.append(content_security_policy(app))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", policy[0])
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
