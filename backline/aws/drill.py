"""The drill's handler: ``backline.aws.drill.handler``, run on a schedule (daily by default).

One invocation runs `backline drill` against the deployment's own public URL (the API Gateway
address Twilio calls, so the whole path is drilled: API Gateway, the fallback function, its
secrets and its table), sends each channel the result unless the event says ``"notify":
false``, and keeps the result in the database, where ``/healthz`` shows it. A failed drill is
raised, so the function's error alarm fires; the template does not retry it (a retry would only
send the channels the same result again).

The event may narrow or redirect the drill: ``{"numbers": ["+81..."], "notify": false,
"url": "https://..."}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from backline.aws.runtime import ConfiguredHandler

__all__ = ["DrillFailed", "DrillHandler", "handler"]

log = logging.getLogger("backline.aws.drill")


class DrillFailed(Exception):
    """The drill ran and something failed: raised so that Lambda counts an error."""


class DrillHandler(ConfiguredHandler):
    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        from backline.drill import run_drill, save_report

        options = event if isinstance(event, Mapping) else {}
        numbers = options.get("numbers") or ()
        if isinstance(numbers, str):
            numbers = (numbers,)
        config = self.config()
        report = run_drill(
            config,
            url=str(options.get("url") or "") or None,
            numbers=[str(number) for number in numbers],
            notify=bool(options.get("notify", True)),
        )
        save_report(config.database_url, report)
        summary = report.to_json()
        if not report.ok:
            log.error("drill failed: %s", ", ".join(report.failures()))
            raise DrillFailed("the drill failed: " + ", ".join(report.failures()))
        log.info(
            "drill passed: %d number(s), %d channel(s)", len(report.numbers), len(report.channels)
        )
        return summary


_handler: DrillHandler | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    """The Lambda entry point (``Handler: backline.aws.drill.handler``)."""
    global _handler
    if _handler is None:
        _handler = DrillHandler()
    return _handler(event, context)
