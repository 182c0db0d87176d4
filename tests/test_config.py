"""Settings from flags and environment variables; the CLI answers --help without TensorFlow."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.config import Settings, settings_from_args, settings_from_env

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_safe():
    settings = Settings()
    assert settings.host == "127.0.0.1" and settings.port == 8050 and settings.debug is False
    assert settings.epochs == 5 and "cnn-lens" in str(settings.model_dir)


def test_environment_variables_are_read():
    settings = settings_from_env({"CNNLENS_MODEL_DIR": "/tmp/x", "CNNLENS_EPOCHS": "2", "CNNLENS_DATA": "/d.npz",
                                  "CNNLENS_OFFLINE": "yes", "CNNLENS_PORT": "9000"})
    assert settings.model_dir == Path("/tmp/x") and settings.epochs == 2 and settings.data == Path("/d.npz")
    assert settings.offline is True and settings.port == 9000


def test_flags_override_environment():
    settings = settings_from_args(["--epochs", "3", "--retrain", "--model-dir", "/m"], {"CNNLENS_EPOCHS": "7"})
    assert settings.epochs == 3 and settings.retrain is True and settings.model_dir == Path("/m")


@pytest.mark.parametrize("bad, message", [
    ({"CNNLENS_EPOCHS": "many"}, "integer"),
    ({"CNNLENS_EPOCHS": "0"}, "epochs"),
    ({"CNNLENS_PORT": "70000"}, "port"),
    ({"CNNLENS_DEBUG": "1", "CNNLENS_HOST": "0.0.0.0"}, "debug"),
])
def test_bad_settings_are_refused_with_a_message(bad, message):
    with pytest.raises(ValueError, match=message):
        settings_from_env(bad)


def test_help_answers_at_once_without_tensorflow():
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--model-dir" in result.stdout and "CNNLENS_" in result.stdout
    assert time.perf_counter() - started < 4.0
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys, app, dashboard.layout, dashboard.callbacks.layers, dashboard.callbacks.digit;"
         " print('tensorflow' in sys.modules, 'keras' in sys.modules)"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "False False", probe.stderr


def test_cli_reports_bad_flags_without_a_traceback():
    result = subprocess.run([sys.executable, "app.py", "--debug", "--host", "0.0.0.0"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "debug" in result.stderr and "Traceback" not in result.stderr
