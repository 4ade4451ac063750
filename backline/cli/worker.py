"""`backline worker`: a notification dispatcher on its own, next to or instead of `serve`'s."""

from __future__ import annotations

import typer

from backline.cli._common import config, fail
from backline.config import Config, shown_database


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    once: bool = typer.Option(
        False, "--once", help="Deliver what is due, then exit (for a scheduled job)."
    ),
) -> None:
    """Deliver notifications from the database until stopped (SIGTERM or Ctrl-C).

    Any number of workers (and `serve` processes) may share one database: each notification
    is sent once.
    """
    from backline.logs import configured

    settings = config()
    with configured(settings):
        _work(settings, once)


def _work(settings: Config, once: bool) -> None:
    import logging
    import signal
    import threading
    import time

    from backline.notify.dispatcher import Dispatcher, run_once
    from backline.store.database import Database

    if once:
        try:
            counts = run_once(settings)
        except Exception as error:  # the operator needs the reason, not a traceback
            reason = " ".join(str(error).split()) or type(error).__name__
            fail(f"could not deliver from {shown_database(settings.database_url)}: {reason}")
        # What this run did, then what is left for the next one; key=value for a job's log.
        keys = ("sent", "notifications", "retrying", "given_up", "stopped", "pending", "unfanned")
        typer.echo(" ".join(f"{key}={counts[key]}" for key in keys))
        return
    database = Database(settings.database_url, timeout=settings.db_timeout_seconds)
    dispatcher = Dispatcher(settings, database)
    stopped = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    dispatcher.start()
    try:
        while not stopped.wait(1.0):
            pass
    finally:
        started = time.monotonic()
        dispatcher.stop()
        logging.getLogger("backline.notify").info(
            "worker stopped in %.1f s", time.monotonic() - started
        )
