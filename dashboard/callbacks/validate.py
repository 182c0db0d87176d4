"""The validation layer at the callback boundary.

Any callback can be POSTed to /_dash-update-component with arbitrary JSON, so every
input is checked here before it reaches the service. Failures raise InvalidInput,
whose message is shown in the page.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Collection
from typing import Any, TypeVar, cast

from dashboard.jobs import JobFailed
from dashboard.runs import RunError

log = logging.getLogger(__name__)

MAX_TEXT = 200
UNEXPECTED = "Something went wrong while drawing this view; the details are in the server log."
Result = TypeVar("Result")


class InvalidInput(ValueError):
    """A request the page would never send; the message is safe to show to the user."""


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def integer(value: Any, *, low: int, high: int, what: str) -> int:
    """Return value as an int in [low, high]; booleans, floats with fractions and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{what} must be a whole number, got {_describe(value)}")
    if isinstance(value, float) and not value.is_integer():
        raise InvalidInput(f"{what} must be a whole number, got {_describe(value)}")
    number = int(value)
    if not low <= number <= high:
        raise InvalidInput(f"{what} {_describe(number)} is out of range: it must be between {low:,} and {high:,}")
    return number


def number(value: Any, *, low: float, high: float, what: str) -> float:
    """Return value as a finite float in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (
            float("inf"), float("-inf")):
        raise InvalidInput(f"{what} must be a number, got {_describe(value)}")
    if not low <= value <= high:
        raise InvalidInput(f"{what} {_describe(value)} is out of range: it must be between {low} and {high}")
    return float(value)


def digit_index(value: Any, test_size: int) -> int:
    """Return a valid test-digit index."""
    return integer(value, low=0, high=test_size - 1, what="Digit index")


def image(value: Any, lens: Any) -> Any:
    """Return the image a page value names (Lens.resolve: a test index, a person's own image, either edited)."""
    from dashboard.image_keys import BadImageKey

    try:
        return lens.resolve(value)
    except BadImageKey as error:
        raise InvalidInput(str(error)) from None


def one_of(value: Any, allowed: Collection, *, what: str) -> Any:
    """Return value if it is one of the allowed (hashable, same type) values."""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or value not in allowed:
        choices = ", ".join(str(a) for a in allowed)
        raise InvalidInput(f"{what} {_describe(value)} is not one of: {choices}")
    return value


def text(value: Any, *, what: str) -> str:
    """Return value as a short string (None becomes "")."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text, got {_describe(value)}")
    return value[:MAX_TEXT]


def flag_list(value: Any, *, what: str) -> bool:
    """Return whether a one-option Checklist is ticked."""
    if value is None:
        return False
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{what} must be a list of strings, got {_describe(value)}")
    return bool(value)


def shows_errors(on_error: Callable[[str], Result]) -> Callable[[Callable[..., Result]], Callable[..., Result]]:
    """Decorate a callback so that any failure becomes `on_error(message)` in its own panel.

    InvalidInput (the user's doing) shows its message; anything else (the code's doing) is logged
    with its traceback and shows a short apology, so no panel is left showing stale values.
    """

    def decorate(callback: Callable[..., Result]) -> Callable[..., Result]:
        @functools.wraps(callback)
        def guarded(*args: Any) -> Result:
            try:
                return callback(*args)
            except (InvalidInput, RunError, JobFailed) as error:
                # RunError: a run or checkpoint that is gone (deleted in another tab) or never was; JobFailed: a
                # background computation (the test-set pass, a t-SNE map) that failed, in words for the page.
                log.info("refused input in %s: %s", callback.__name__, error)
                return on_error(str(error))
            except Exception:  # noqa: BLE001 - the page must get a message, the log the traceback.
                log.exception("callback %s failed", callback.__name__)
                return on_error(UNEXPECTED)

        return guarded

    return decorate


def model_state() -> Any:
    """Return the State every server callback ends with: the key of the model the page shows (see bind)."""
    from dash import State

    from dashboard import ids

    return State(ids.MODEL_KEY, "data")


def bind(callback: Callable[..., Result], lens: Any) -> Callable[..., Result]:
    """Return the callback with its first argument (the lens) filled in, keeping its name for Dash.

    Given a catalog of models (anything with `resolve`), the callback's last argument is the page's model key
    (model_state()), resolved to that model's lens; an unknown key puts a message in the page's banner and
    changes nothing else.
    """

    def bound(*args: Any) -> Result:
        if not hasattr(lens, "resolve"):
            return callback(lens, *args)
        try:
            chosen = lens.resolve(args[-1])
        except ValueError as error:
            from dash import ctx, no_update, set_props

            from dashboard import ids

            log.info("refused model key in %s: %s", callback.__name__, error)
            set_props(ids.ERROR_BANNER, {"children": str(error)})
            # Every output stays as it is (PreventUpdate would drop the banner's message too).
            outputs = ctx.outputs_list
            if isinstance(outputs, list):
                return cast(Result, [no_update] * len(outputs))
            return cast(Result, no_update)
        return callback(chosen, *args[:-1])

    # Not functools.wraps: its __wrapped__ would make inspect.signature report the lens argument.
    bound.__name__, bound.__qualname__, bound.__module__ = callback.__name__, callback.__qualname__, callback.__module__
    bound.__doc__ = callback.__doc__
    return bound


def triggered_by(component_id: str) -> bool:
    """Return whether this component's change alone fired the running callback (False outside a request)."""
    from dash import ctx
    from dash.exceptions import MissingCallbackContextException

    try:
        return ctx.triggered_id == component_id and len(ctx.triggered) == 1
    except MissingCallbackContextException:
        return False


def gate(value: Any, keys: Collection[str]) -> dict[str, Any] | None:
    """Return a lazy panel's gate (what the browser asks it to show: a dict with exactly these keys), or None
    while the panel has not been on screen yet."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != set(keys):
        raise InvalidInput(f"Panel request must name {', '.join(sorted(keys))}, got {_describe(value)}")
    return value


def triggered_props() -> set[str] | None:
    """Return the ids of the components whose change fired the running callback; None outside a request or
    on the page's first call, when every output is wanted."""
    from dash import ctx
    from dash.exceptions import MissingCallbackContextException

    try:
        triggered = ctx.triggered_prop_ids
    except MissingCallbackContextException:
        return None
    if not triggered:
        return None
    return {component if isinstance(component, str) else str(component) for component in triggered.values()}


def checkpoint_view(value: Any, lens: Any) -> tuple[str, int] | None:
    """Return (run id, step) when the views show a run's checkpoint, None when they show the served model."""
    if value is None or (isinstance(value, dict) and set(value) == {"model"}):
        return None
    if not isinstance(value, dict) or set(value) != {"run", "step"}:
        raise InvalidInput(f"View must name a run and a step, got {_describe(value)}")
    step = integer(value["step"], low=0, high=10**9, what="Checkpoint step")
    try:
        lens.runs.folder(value["run"])  # a run id, not any JSON value
        lens.checkpoints.checkpoint(value["run"], step)
    except RunError as error:
        raise InvalidInput(str(error)) from None
    return value["run"], step
