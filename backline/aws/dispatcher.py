"""The notification dispatcher's handler: ``backline.aws.dispatcher.handler``.

Invoked by its schedule (an EventBridge rule, every minute) and on demand by the fallback
function (an asynchronous Invoke sent as each call is recorded), it runs one pass of
``backline.notify.dispatcher.run_once(config)``: send what the events table holds and mark it
sent. Each pass is complete when the handler returns; nothing is left running for the freeze.
A failure is raised, so that Lambda retries the invocation and the function's error alarm fires.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from backline.aws.runtime import load_config
from backline.config import Config

__all__ = ["DispatcherHandler", "handler"]

log = logging.getLogger("backline.aws.dispatcher")


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

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        # Imported here: the notification code (and its SDKs, lazily) is this function's work,
        # and a module-level import error would hide the reason behind a bare init failure.
        from backline.notify.dispatcher import run_once

        source = event.get("source", "?") if isinstance(event, Mapping) else "?"
        counts = run_once(self.config())
        return {"status": "ok", "source": source, "result": dict(counts)}


_handler: DispatcherHandler | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (``Handler: backline.aws.dispatcher.handler``)."""
    global _handler
    if _handler is None:
        _handler = DispatcherHandler()
    return _handler(event, context)
