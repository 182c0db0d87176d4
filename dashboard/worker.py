"""Training jobs on Celery workers, through Redis.

Start a worker beside the web server, with the same CNNLENS_* settings (model folder, data) and a
shared filesystem for the model folder:

    CNNLENS_REDIS_URL=redis://127.0.0.1:6379/0 celery -A dashboard.worker worker --concurrency 1

The worker registers the page's training job under the same name the web side uses. Its pool
processes are forks of a process that never imported TensorFlow, and each job trains in a fresh
Python process of its own (dashboard.training), so nothing TensorFlow touches is ever forked.
"""

from __future__ import annotations

from typing import Any


def celery_app_for(redis_url: str) -> Any:
    """Return a Celery app that uses Redis as broker and result backend."""
    from celery import Celery

    app = Celery("cnn_lens", broker=redis_url, backend=redis_url)
    # A worker process takes one job at a time (a training job lasts minutes).
    app.conf.update(worker_prefetch_multiplier=1, broker_connection_retry_on_startup=True)
    return app


def background_manager(settings: Any) -> Any:
    """Return the manager for background callbacks: Celery when a Redis URL is set, else an embedded diskcache."""
    import dash

    if settings.redis_url:
        return dash.CeleryManager(celery_app_for(settings.redis_url))
    import diskcache

    folder = settings.model_dir / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return dash.DiskcacheManager(diskcache.Cache(str(folder)))


def _worker_app() -> Any:
    import dash

    from dashboard.callbacks import training
    from dashboard.config import settings_from_env

    settings = settings_from_env()
    if not settings.redis_url:
        raise RuntimeError("set CNNLENS_REDIS_URL (e.g. redis://127.0.0.1:6379/0) to run a Celery worker")
    manager = background_manager(settings)
    training.register_background(dash.Dash(__name__), settings, manager)
    return manager.handle


def __getattr__(name: str) -> Any:
    # `celery -A dashboard.worker` reads `celery`; build it only then, so importing this module stays cheap.
    if name in {"celery", "app"}:
        app = _worker_app()
        globals().update(celery=app, app=app)
        return app
    raise AttributeError(name)
