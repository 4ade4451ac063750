"""`backline serve`: answer Twilio's fallback requests with uvicorn."""

from __future__ import annotations

import logging
import os
from typing import Any

import typer

from backline.cli._common import config as load_config
from backline.cli._common import fail
from backline.config import Config, ConfigError

__all__ = ["HOST_HELP", "PORT_HELP", "check_port", "register", "run_uvicorn", "serve"]


_YES = ("1", "true", "yes", "on")


def _config_from_flags(
    database_url: str | None, public_url: str | None, insecure_demo: bool
) -> Config:
    # Flags become environment variables so that every uvicorn worker process sees them too.
    if database_url:
        os.environ["BACKLINE_DATABASE_URL"] = database_url
    if public_url:
        os.environ["BACKLINE_PUBLIC_URL"] = public_url
    if insecure_demo:
        os.environ["BACKLINE_INSECURE_DEMO"] = "1"
    return load_config()


def check_port(port: int | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        fail(f"--port {port} is not a port number (1 to 65535)")


HOST_HELP = "Address to listen on (default: BACKLINE_HOST, else 127.0.0.1)."
PORT_HELP = "Port to listen on (default: BACKLINE_PORT, else 8000)."


def _check_state_dir(config: Config) -> None:
    """Refuse to start when the state directory holds records for another database, before
    any worker starts (each worker checks again, for other ways of starting the app)."""
    from backline.store.binding import bind_state_dir
    from backline.store.database import Database
    from backline.store.journal import Journal

    journal = Journal(config.state_dir / "journal.db")
    try:
        bind_state_dir(config.state_dir, Database(config.database_url).identity, journal)
    finally:
        journal.close()


def _raise_open_file_limit() -> None:
    """Let the server hold as many connections as the system allows: the soft limit on open
    files (often 1024) would otherwise let a few hundred slow clients keep Twilio out."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            wanted = 65536 if hard == resource.RLIM_INFINITY else hard
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    except (ImportError, ValueError, OSError):
        pass  # not a POSIX system, or not allowed: the default stays


def serve(
    host: str = typer.Option(None, "--host", metavar="ADDRESS", help=HOST_HELP),
    port: int = typer.Option(None, "--port", metavar="PORT", help=PORT_HELP),
    workers: int = typer.Option(1, "--workers", metavar="N", help="Worker processes, 1 to 64."),
    database_url: str = typer.Option(
        None, "--database-url", metavar="URL", help="Overrides BACKLINE_DATABASE_URL."
    ),
    public_url: str = typer.Option(
        None, "--public-url", metavar="URL", help="Overrides BACKLINE_PUBLIC_URL."
    ),
    insecure_demo: bool = typer.Option(
        False,
        "--insecure-demo",
        help="Answer WITHOUT checking Twilio signatures (local trials only).",
    ),
) -> None:
    """Answer Twilio's fallback requests (uvicorn)."""
    check_port(port)
    if not 1 <= workers <= 64:
        fail(f"--workers {workers} is out of range: run 1 to 64 worker processes")
    # Insecure mode next to production settings needs both the variable and the flag.
    variable = os.environ.get("BACKLINE_INSECURE_DEMO", "").strip().lower() in _YES
    config = _config_from_flags(database_url, public_url, insecure_demo)
    try:
        config.check_can_serve(insecure_named_twice=variable and insecure_demo)
        config.prepare_state_dir()
        _check_state_dir(config)
    except ConfigError as error:
        fail(str(error))
    run_uvicorn(config, host or config.host, port or config.port, workers)


def run_uvicorn(config: Config, host: str, port: int, workers: int) -> None:
    from backline.logs import configured

    # The same logging in this process and in every worker uvicorn spawns (it applies
    # log_config in each of them).
    with configured(config) as log_config:
        _serve(config, host, port, workers, log_config)


def _serve(config: Config, host: str, port: int, workers: int, log_config: dict[str, Any]) -> None:
    import uvicorn

    _raise_open_file_limit()
    try:
        # uvicorn's own protocol with a deadline for each request and a bound on its headers.
        from backline.web.server import BoundedHttpToolsProtocol

        http: type[object] | str = BoundedHttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools missing (uvicorn without [standard])
        logging.getLogger("backline.web").warning(
            "httptools is not installed: requests have no read deadline or header size limit"
        )
        http = "auto"
    uvicorn.run(
        "backline.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        http=http,  # type: ignore[arg-type]
        log_level=config.log_level.lower(),
        # Behind nginx or an ALB the client address comes from X-Forwarded-For; signatures do
        # not depend on it (they are checked over BACKLINE_PUBLIC_URL).
        proxy_headers=True,
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
