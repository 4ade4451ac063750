"""How every long-running backline process logs: `serve` (each of its uvicorn workers and their
parent), `worker` and `demo`.

One ``logging.config`` dictionary is applied in the CLI's process and handed to uvicorn, which
applies it again in each worker it spawns: without it a spawned worker has no handler at all,
so INFO lines vanish and warnings reach stderr as bare text, and alerts on
``WARNING backline.recorder`` never match. Each line carries the time (in the configured zone,
with its offset), the level, the logger and the message; ``BACKLINE_LOG_FORMAT=json`` writes
the same as one JSON object per line, for a log collector.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from backline.config import Config

__all__ = ["LogFormatter", "StderrHandler", "configured", "logging_config", "setup"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormatter(logging.Formatter):
    """``2026-11-24 14:05:03.120+09:00 WARNING backline.recorder: ...``, or the same as JSON."""

    def __init__(self, style: str = "text", zone: str = "UTC") -> None:
        super().__init__(TEXT_FORMAT)
        self.json = style == "json"
        self.zone = ZoneInfo(zone)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, self.zone)
        separator = "T" if self.json else " "
        return moment.isoformat(sep=separator, timespec="milliseconds")

    def format(self, record: logging.LogRecord) -> str:
        if not self.json:
            return super().format(record)
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged, not when it was configured
    (a command run in-process, as the tests do, swaps and closes it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def logging_config(config: Config) -> dict[str, Any]:
    """The dictionary for :func:`logging.config.dictConfig` (and uvicorn's ``log_config``)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "backline": {
                "()": f"{__name__}.LogFormatter",
                "style": config.log_format,
                "zone": config.timezone,
            }
        },
        "handlers": {"stderr": {"()": f"{__name__}.StderrHandler", "formatter": "backline"}},
        "root": {"level": config.log_level, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own lines ("Started server process") go through the same handler.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"level": config.log_level},
            # backline does not log requests: the call log is the record of what came in.
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }


def setup(config: Config) -> dict[str, Any]:
    """Configure this process's logging; return the dictionary for child processes."""
    settings = logging_config(config)
    logging.config.dictConfig(settings)
    return settings


# A logger's settings that dictConfig may change: level, handlers, propagate, disabled.
_Saved = tuple[int, list[logging.Handler], bool, bool]


def _loggers() -> dict[str, logging.Logger]:
    found = {
        name: logger
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    return {"": logging.root, **found}


@contextmanager
def configured(config: Config) -> Iterator[dict[str, Any]]:
    """This process's logging configured while a command runs (see :func:`setup`), and put
    back as it was when the command returns. A process that only runs the command loses
    nothing by it; a command run in-process (as the tests, or a program embedding the CLI, do)
    leaves no handler or level behind to change what later code logs."""
    saved: dict[str, _Saved] = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in _loggers().items()
    }
    try:
        yield setup(config)
    finally:
        loggers = _loggers()
        added = {handler for logger in loggers.values() for handler in logger.handlers} - {
            handler
            for _level, handlers, _propagate, _disabled in saved.values()
            for handler in handlers
        }
        for name, logger in loggers.items():
            level, handlers, propagate, disabled = saved.get(
                name, (logging.NOTSET, [], True, False)
            )
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate = propagate
            logger.disabled = disabled
        for handler in added:
            handler.close()
