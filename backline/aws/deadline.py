"""One deadline per event: every wait on the answer path is bounded by what is left of it.

A Lambda instance that meets a database that accepts connections and never answers must still
answer Twilio in time, cold or warm. Nothing on the path may wait longer than the deadline:
work that may hang (reading the secrets, loading the table, writing the record) runs in a
helper thread, and the event waits for it only as long as the deadline allows. Work that does
not finish in time goes on in its thread (Lambda freezes it between events) and its result is
used by a later event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Background", "Deadline", "remaining_seconds"]

T = TypeVar("T")

# Kept back from the invocation's remaining time: returning the answer and Lambda's own
# bookkeeping need a moment after the handler's last wait.
_MARGIN_SECONDS = 0.3


def remaining_seconds(context: Any) -> float | None:
    """The invocation's remaining time, or None without a Lambda context (tests, the bench)."""
    try:
        return float(context.get_remaining_time_in_millis()) / 1000.0
    except Exception:
        return None


class Deadline:
    """A point in time (monotonic) that the answer must not pass."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + max(0.0, seconds)

    @classmethod
    def for_event(cls, context: Any, cap: float) -> Deadline:
        """The configured cap, or less when the invocation has less time left."""
        budget = cap
        remaining = remaining_seconds(context)
        if remaining is not None:
            budget = min(budget, remaining - _MARGIN_SECONDS)
        return cls(budget)

    def left(self, keep: float = 0.0) -> float:
        """Seconds until the deadline, less ``keep`` (reserved for what comes after)."""
        return max(0.0, self.end - time.monotonic() - keep)


class Background(Generic[T]):
    """A call run in a daemon thread, waited on for a bounded time, as often as needed."""

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self._done = threading.Event()
        self._result: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), name=name, daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], T]) -> None:
        try:
            self._result = work()
        except BaseException as error:  # handed to whoever waits
            self._error = error
        finally:
            self._done.set()

    def wait(self, seconds: float) -> bool:
        """Whether the call finished within ``seconds`` (it may have failed: see result)."""
        return self._done.wait(max(0.0, seconds))

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> T:
        """The call's result; raises its exception. Only once :meth:`wait` returned True."""
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]
