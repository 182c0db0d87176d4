"""One frozen settings object, read from CLI flags and environment variables."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ENV_PREFIX = "CNNLENS_"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def default_model_dir() -> Path:
    """Return the per-user cache folder for trained models (XDG-style on Linux)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cnn-lens" / "models"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything the app can be told; tests build their own small instances."""

    host: str = "127.0.0.1"
    port: int = 8050
    model_dir: Path = dataclasses.field(default_factory=default_model_dir)
    data: Path | None = None
    epochs: int = 5
    batch_size: int = 128
    retrain: bool = False
    debug: bool = False
    # Skip the short network probe for Keras's MNIST download (tests, air-gapped hosts).
    offline: bool = False
    # Train on at most this many digits (tests and CI use a small subset).
    train_limit: int | None = None
    seed: int = 0
    # Redis URL for training jobs on Celery workers (e.g. redis://127.0.0.1:6379/0); unset: an embedded
    # diskcache job queue on this machine.
    redis_url: str | None = None
    # Users' own .keras files (or folders of them) shown beside the seed CNN, each opened safely.
    models: tuple[Path, ...] = ()
    # A model file larger than this is refused unread; the probe process that opens a new file gets this
    # much address space.
    max_model_mb: float = 200.0
    probe_memory_mb: int = 4096
    # Visitors may upload a .keras file from the page (off unless the operator turns it on); an upload goes
    # through the same checks as a --model file.
    allow_upload: bool = False
    # Signs Flask sessions; when unset, one is generated per install and kept beside the model cache.
    secret_key: str | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be between 1 and 65535, got {self.port}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if self.train_limit is not None and self.train_limit < 10:
            raise ValueError(f"train limit must be at least 10 digits, got {self.train_limit}")
        if not 0 < self.max_model_mb <= 10_000:
            raise ValueError(f"max model size must be between 0 and 10,000 MB, got {self.max_model_mb}")
        if self.debug and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"debug mode runs arbitrary code from the browser; it is refused on host {self.host!r} "
                "(use 127.0.0.1 or localhost)"
            )


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Return settings from CNNLENS_* environment variables over the defaults."""
    env = os.environ if environ is None else environ
    # Each value has its field's type by _convert's construction; mypy cannot follow the field names.
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Settings):
        raw = env.get(ENV_PREFIX + field.name.upper())
        if raw is None or raw == "":
            continue
        values[field.name] = _convert(field.name, raw)
    return Settings(**values)


def _convert(name: str, raw: str) -> object:
    if name == "models":
        return tuple(Path(part).expanduser() for part in raw.split(os.pathsep) if part)
    if name == "max_model_mb":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a number, got {raw!r}") from None
    if name in {"port", "epochs", "batch_size", "seed", "train_limit", "probe_memory_mb"}:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{name.upper()} must be an integer, got {raw!r}") from None
    if name in {"retrain", "debug", "offline", "allow_upload"}:
        return _env_bool(raw)
    if name in {"model_dir", "data"}:
        return Path(raw).expanduser()
    return raw


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; every flag also has a CNNLENS_* variable."""
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="CNN Lens: a dashboard that shows the filters, activations and "
        "gradients of a CNN, layer by layer: the seed MNIST CNN, and any Keras image classifier you give it.",
        epilog="Each flag can also be set through an environment variable, e.g. "
        "CNNLENS_MODEL_DIR, CNNLENS_DATA, CNNLENS_EPOCHS, CNNLENS_PORT, CNNLENS_REDIS_URL.",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default 8050)")
    parser.add_argument("--model-dir", type=Path, help="folder for the trained model cache")
    parser.add_argument("--data", type=Path,
                        help="the data: a Keras dataset name (mnist, fashion_mnist, cifar10), an .npz with x_train, "
                             "y_train, x_test, y_test, or a folder of images with one sub-folder per class "
                             "(default: MNIST from the best source)")
    parser.add_argument("--model", dest="models", type=Path, action="append",
                        help="a .keras image classifier (or a folder of them) to show beside the seed CNN; "
                             "repeatable (CNNLENS_MODELS: paths separated by ':')")
    parser.add_argument("--max-model-mb", type=float, help="refuse model files larger than this (default 200)")
    parser.add_argument("--allow-model-upload", dest="allow_upload", action="store_true", default=None,
                        help="let visitors upload a .keras model from the page (off by default; an upload gets "
                             "the same checks as --model)")
    parser.add_argument("--epochs", type=int, help="training epochs (default 5)")
    parser.add_argument("--batch-size", type=int, help="training batch size (default 128)")
    parser.add_argument("--train-limit", type=int, help="train on at most N digits")
    parser.add_argument("--retrain", action="store_true", default=None, help="train even if a cached model exists")
    parser.add_argument("--offline", action="store_true", default=None, help="never try to download MNIST")
    parser.add_argument("--redis-url", help="run training jobs on Celery workers through this Redis")
    parser.add_argument("--debug", action="store_true", default=None, help="Dash debug mode (loopback only)")
    return parser


def settings_from_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Return settings from CLI flags, falling back to environment variables, then defaults."""
    args = build_parser().parse_args(argv)
    base = settings_from_env(environ)
    if args.models is not None:
        args.models = tuple(args.models)
    overrides = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Settings)
        if getattr(args, field.name, None) is not None
    }
    return dataclasses.replace(base, **overrides)
