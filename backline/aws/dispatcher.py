"""The notification dispatcher's handler: ``backline.aws.dispatcher.handler``.

Invoked by its schedule (an EventBridge rule, every minute) and on demand by the fallback
function (an asynchronous Invoke sent as each call is recorded), it runs one pass of
``backline.notify.dispatcher.run_once(config)``: send what the events table holds and mark it
sent. Each pass is complete when the handler returns; nothing is left running for the freeze.

While ``backline.notify.dispatcher`` is not part of the package yet, every invocation logs one
clear error and returns ``{"status": "unavailable", ...}`` instead of failing; an import error
*inside* the dispatcher (a missing dependency) is raised, so the function's error alarm fires.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from backline.aws.runtime import load_config
from backline.config import Config

__all__ = ["DISPATCHER_MODULE", "DispatcherHandler", "handler"]

log = logging.getLogger("backline.aws.dispatcher")

DISPATCHER_MODULE = "backline.notify.dispatcher"
ENTRY_POINT = "run_once"


def _summary(value: Any) -> Any:
    """What a pass returned, in a form the Lambda runtime can serialise."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _summary(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_summary(v) for v in value]
    return repr(value)


class DispatcherHandler:
    def __init__(
        self, env: Mapping[str, str] | None = None, *, config: Config | None = None
    ) -> None:
        self.env = env
        self._config = config

    def config(self) -> Config:
        if self._config is None:
            import os

            self._config, _env = load_config(os.environ if self.env is None else self.env)
        return self._config

    @staticmethod
    def entry_point() -> Callable[[Config], Any] | str:
        """``run_once``, or the reason it cannot be had (only when the module is absent)."""
        try:
            module = importlib.import_module(DISPATCHER_MODULE)
        except ModuleNotFoundError as error:
            if error.name is not None and DISPATCHER_MODULE.startswith(error.name):
                return f"{DISPATCHER_MODULE} is not installed in this package"
            raise  # the dispatcher is there but one of its own imports is missing
        run_once = getattr(module, ENTRY_POINT, None)
        if not callable(run_once):
            return f"{DISPATCHER_MODULE} has no {ENTRY_POINT}(config)"
        return run_once  # type: ignore[no-any-return]

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        source = event.get("source", "?") if isinstance(event, Mapping) else "?"
        run_once = self.entry_point()
        if isinstance(run_once, str):
            log.error("notifications are NOT being sent: %s (invoked by %s)", run_once, source)
            return {"status": "unavailable", "reason": run_once}
        result = run_once(self.config())
        return {"status": "ok", "source": source, "result": _summary(result)}


_handler: DispatcherHandler | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (``Handler: backline.aws.dispatcher.handler``)."""
    global _handler
    if _handler is None:
        _handler = DispatcherHandler()
    return _handler(event, context)
