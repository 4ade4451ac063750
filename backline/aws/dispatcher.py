"""The notification dispatcher's handler: ``backline.aws.dispatcher.handler``.

Invoked by its schedule (an EventBridge rule, every minute) and on demand by the fallback
function (an asynchronous Invoke sent as each call is recorded), it runs one pass of
``backline.notify.dispatcher.run_once(config)``: send what the events table holds and mark it
sent, stopping in time to return before the function's timeout. Each pass is complete when the
handler returns; nothing is left running for the freeze.

A failed run is logged with the ``dispatcher-failed`` mark (backline/aws/alarms.py) and raised,
so that the function's Errors metric and the template's alarms count it. Lambda does not retry
it (the template sets MaximumRetryAttempts: 0): the next run, on the schedule or woken by the
next call, takes up whatever is still due, and nothing is lost meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from backline.aws.alarms import LogEvent, tagged
from backline.aws.deadline import remaining_seconds
from backline.aws.runtime import ConfiguredHandler
from backline.core.redact import mask_password

__all__ = ["DispatcherFailed", "DispatcherHandler", "handler"]

log = logging.getLogger("backline.aws.dispatcher")

# A run stops starting new passes this long before the function's timeout, and runs at most
# _MAX_RUN_SECONDS when there is no Lambda context.
_STOP_BEFORE_TIMEOUT_SECONDS = 10.0
_MAX_RUN_SECONDS = 50.0


class DispatcherFailed(RuntimeError):
    """A run failed; the message says why, with any URL's password masked."""


class DispatcherHandler(ConfiguredHandler):
    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        # Imported here: the notification code (and its SDKs, lazily) is this function's work,
        # and a module-level import error would hide the reason behind a bare init failure.
        from backline.notify.dispatcher import run_once

        source = event.get("source", "?") if isinstance(event, Mapping) else "?"
        remaining = remaining_seconds(context)
        max_seconds = _MAX_RUN_SECONDS
        if remaining is not None:
            max_seconds = max(1.0, min(max_seconds, remaining - _STOP_BEFORE_TIMEOUT_SECONDS))
        try:
            counts = run_once(self.config(), max_seconds=max_seconds)
        except Exception as error:
            # The reason without its traceback: Lambda's JSON log would carry the raw message,
            # and a configuration error may quote a database URL with its password.
            reason = mask_password(f"{type(error).__name__}: {error}")
            log.error(
                "the dispatcher run (woken by %s) failed: %s; the next run takes up what is "
                "still due",
                str(source)[:64],
                reason,
                extra=tagged(LogEvent.DISPATCHER_FAILED),
            )
            raise DispatcherFailed(reason) from None
        return {"status": "ok", "source": source, "result": dict(counts)}


_handler: DispatcherHandler | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (``Handler: backline.aws.dispatcher.handler``)."""
    global _handler
    if _handler is None:
        _handler = DispatcherHandler()
    return _handler(event, context)
