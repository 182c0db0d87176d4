"""What makes the Flask server behind Dash safe to share: secret key, body limit, security headers."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path

import dash
import flask

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 2 * 1024 * 1024
SECRET_FILE = "secret_key"


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


def harden(app: dash.Dash, *, secret: str) -> None:
    """Set the secret key, cap request bodies, and add security headers to every response."""
    server = app.server
    server.secret_key = secret
    server.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    policy: list[str] = []  # Computed on the first request, after every callback is registered.

    @server.after_request
    def add_security_headers(response: flask.Response) -> flask.Response:
        if not policy:
            policy.append(content_security_policy(app))
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy", policy[0])
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
