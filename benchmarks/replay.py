"""Replay captured callback requests over HTTP, byte for byte, timing each and measuring its wire bytes.

Two ways per action: *one after another* on one connection (the sum of the latencies is the server
time the action costs), and *together* on up to six connections, as Chromium sends them (the wall time
from the first send to the last answer). Responses are asked for with ``Accept-Encoding: gzip`` and read
raw from the socket, so the byte counts are what travels.
"""

from __future__ import annotations

import dataclasses
import gzip
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from benchmarks.capture import CapturedAction, CapturedRequest
from benchmarks.stats import summary

CHROMIUM_CONNECTIONS_PER_HOST = 6
HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "Accept-Encoding": "gzip"}


@dataclasses.dataclass
class Answer:
    """One replayed request: its callback, latency, bytes (decoded and on the wire) and status or error."""

    output: str
    ms: float
    raw_bytes: int
    wire_bytes: int
    status: int
    error: str | None = None
    retried: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status in (200, 204)


def new_session(url: str):
    """Return a requests.Session that has fetched the page once, as the browser had."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.headers.update(HEADERS)
    # A server closes a kept-alive connection after a while idle (gunicorn: 2 s); a request sent on it at that
    # moment fails before any answer. Chromium then sends it again on a new connection; so do we, once, and
    # count it (Answer.retried).
    retry = Retry(total=1, connect=1, read=1, status=0, redirect=0, allowed_methods=None, raise_on_status=False)
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.get(url + "/", timeout=60)
    return session


def send(session, url: str, request: CapturedRequest, timeout: float = 60) -> Answer:
    """POST one captured body exactly as captured; never raises for HTTP or connection errors."""
    import requests

    started = time.perf_counter()
    try:
        response = session.post(url + request.path, data=request.body.encode(), stream=True, timeout=timeout)
        wire = response.raw.read(decode_content=False)
    except requests.RequestException as error:
        return Answer(request.output, (time.perf_counter() - started) * 1000, 0, 0, 0, type(error).__name__)
    elapsed = (time.perf_counter() - started) * 1000
    raw = gzip.decompress(wire) if response.headers.get("Content-Encoding") == "gzip" else wire
    error = None if response.status_code in (200, 204) else f"HTTP {response.status_code}"
    retries = getattr(response.raw, "retries", None)
    return Answer(request.output, elapsed, len(raw), len(wire), response.status_code, error,
                  retried=len(retries.history) if retries is not None else 0)


class Replayer:
    """Replays captured actions against one server: one after another, or all of an action's requests together."""

    def __init__(self, url: str, connections: int = CHROMIUM_CONNECTIONS_PER_HOST) -> None:
        self.url = url
        self._session = None
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=connections)
        self._open_connections(connections)

    def _open_connections(self, count: int) -> None:
        # Every pool thread opens its connection now, so that no timed action pays for opening one: the
        # barrier keeps each of the `count` tasks on a thread of its own.
        barrier = threading.Barrier(count)

        def open_one() -> None:
            self._pool_session()
            barrier.wait(timeout=120)

        for future in [self._pool.submit(open_one) for _ in range(count)]:
            future.result()

    def _pool_session(self):
        # One session (one kept-alive connection) per pool thread: at most `connections` connections.
        if not hasattr(self._local, "session"):
            self._local.session = new_session(self.url)
        return self._local.session

    def one_after_another(self, action: CapturedAction) -> list[Answer]:
        """Send the action's requests in captured order, each after the previous answered, on one connection."""
        if self._session is None:
            self._session = new_session(self.url)
        return [send(self._session, self.url, request) for request in action.requests]

    def together(self, action: CapturedAction) -> tuple[float, list[Answer]]:
        """Send all the action's requests at once on the pool's connections; return (wall ms, answers)."""
        started = time.perf_counter()
        futures = [self._pool.submit(lambda r=request: send(self._pool_session(), self.url, r))
                   for request in action.requests]
        answers = [future.result() for future in futures]
        return (time.perf_counter() - started) * 1000, answers

    def close(self) -> None:
        """Stop the pool's threads."""
        self._pool.shutdown(wait=True)


def require_ok(answers: list[Answer], what: str) -> list[Answer]:
    """Return the answers, or raise if any failed (a benchmark run must not time error pages)."""
    failed = [a for a in answers if not a.ok]
    if failed:
        raise RuntimeError(f"{what}: {failed[0].output} answered {failed[0].error}")
    return answers


def _kb(byte_count: float) -> float:
    return round(byte_count / 1024, 1)


def measure_one_after_another(replayer: Replayer, actions: list[CapturedAction]) -> dict:
    """Return, over the actions: the summed latency (server time), bytes per action and per callback."""
    sums, raw, wire, counts = [], [], [], []
    per_callback: dict[str, dict[str, list]] = {}
    for action in actions:
        answers = require_ok(replayer.one_after_another(action), action.kind)
        sums.append(sum(a.ms for a in answers))
        raw.append(sum(a.raw_bytes for a in answers))
        wire.append(sum(a.wire_bytes for a in answers))
        counts.append(len(answers))
        for answer in answers:
            entry = per_callback.setdefault(answer.output, {"ms": [], "raw": [], "wire": []})
            entry["ms"].append(answer.ms)
            entry["raw"].append(answer.raw_bytes)
            entry["wire"].append(answer.wire_bytes)
    return {
        "actions": len(actions),
        "requests_per_action": {"min": min(counts, default=0), "max": max(counts, default=0)},
        "server_time": summary(sums),
        "raw_kb": {"p50": _kb(float(np.median(raw))) if raw else None, "max": _kb(max(raw, default=0))},
        "gzip_kb": {"p50": _kb(float(np.median(wire))) if wire else None, "max": _kb(max(wire, default=0))},
        "per_callback": {output: {**summary(entry["ms"]), "per_action": round(len(entry["ms"]) / len(actions), 2),
                                  "raw_kb_max": _kb(max(entry["raw"])), "gzip_kb_max": _kb(max(entry["wire"]))}
                         for output, entry in per_callback.items()},
    }


def measure_together(replayer: Replayer, actions: list[CapturedAction]) -> dict:
    """Return the wall time of each action's requests sent together, over the actions."""
    walls = []
    for action in actions:
        wall, answers = replayer.together(action)
        require_ok(answers, action.kind)
        walls.append(wall)
    return summary(walls)


def bytes_by_layer(replayer: Replayer, layer_clicks: list[CapturedAction]) -> dict[str, dict[str, dict]]:
    """Return, per clicked layer and per callback output, the largest raw and gzip KB of its response."""
    table: dict[str, dict[str, dict]] = {}
    for action in layer_clicks:
        row = table.setdefault(action.layer or "?", {})
        for answer in require_ok(replayer.one_after_another(action), action.kind):
            cell = row.setdefault(answer.output, {"raw_kb": 0.0, "gzip_kb": 0.0})
            cell["raw_kb"] = max(cell["raw_kb"], _kb(answer.raw_bytes))
            cell["gzip_kb"] = max(cell["gzip_kb"], _kb(answer.wire_bytes))
    return table
