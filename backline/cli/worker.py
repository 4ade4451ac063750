"""`backline worker`: a notification dispatcher on its own, next to or instead of `serve`'s."""

from __future__ import annotations

import typer

from backline.cli._common import config


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
    import logging
    import signal
    import threading
    import time

    from backline.notify.dispatcher import Dispatcher, run_once
    from backline.store.database import Database

    settings = config()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if once:
        counts = run_once(settings)
        typer.echo(" ".join(f"{key}={value}" for key, value in sorted(counts.items())))
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
