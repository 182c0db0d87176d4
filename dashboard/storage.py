"""Atomic file writes and tolerant JSON reads, shared by the model cache and the training runs."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: Path, write: Callable[[Path], object], suffix: str = "") -> None:
    """Write through a temporary file in the same folder, fsync it, then os.replace it into place.

    `write` fills the temporary file; what it returns (write_text's count, say) is ignored.

    A reader sees the old file or the new one, never half of one; a crash leaves no partial file.
    """
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(handle)
    temp = Path(temp_name)
    try:
        write(temp)
        with open(temp, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(temp, 0o644)  # mkstemp makes 0600; models and run records are not secret.
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def write_json(path: Path, value: Any) -> None:
    """Write a JSON document atomically."""
    text = json.dumps(value, indent=1, allow_nan=False)
    atomic_write(path, lambda temp: temp.write_text(text), suffix=".json")


def read_json(path: Path, default: Any = None) -> Any:
    """Return a JSON document, or `default` when the file is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default
