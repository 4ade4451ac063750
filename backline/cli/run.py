"""Commands that run things: `serve`, `demo` and `simulate`."""

from __future__ import annotations

import logging
import os
from typing import Any

import typer

from backline.cli._common import config as load_config
from backline.cli._common import fail
from backline.config import Config, ConfigError, default_state_dir, normalise_database_url

__all__ = ["register"]


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


def _check_port(port: int | None) -> None:
    if port is not None and not 1 <= port <= 65535:
        fail(f"--port {port} is not a port number (1 to 65535)")


_HOST_HELP = "Address to listen on (default: BACKLINE_HOST, else 127.0.0.1)."
_PORT_HELP = "Port to listen on (default: BACKLINE_PORT, else 8000)."


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
    host: str = typer.Option(None, "--host", metavar="ADDRESS", help=_HOST_HELP),
    port: int = typer.Option(None, "--port", metavar="PORT", help=_PORT_HELP),
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
    _check_port(port)
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
    _run_uvicorn(config, host or config.host, port or config.port, workers)


def _run_uvicorn(config: Config, host: str, port: int, workers: int) -> None:
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


def demo(
    host: str = typer.Option(None, "--host", metavar="ADDRESS", help=_HOST_HELP),
    port: int = typer.Option(None, "--port", metavar="PORT", help=_PORT_HELP),
) -> None:
    """Run on its own SQLite database with demo numbers, signatures NOT checked.

    The demo keeps to its own folder (``demo`` in the default state directory) whatever
    BACKLINE_DATABASE_URL, BACKLINE_STATE_DIR or the auth token say, so it can never touch a
    real deployment: neither its database nor its journal.
    """
    _check_port(port)
    own_state = default_state_dir() / "demo"
    if not own_state.is_absolute():
        fail("this user has no home folder for the demo's files: set HOME or XDG_STATE_HOME")
    own = {
        "BACKLINE_STATE_DIR": str(own_state),
        "BACKLINE_DATABASE_URL": f"sqlite:///{own_state / 'backline.db'}",
    }
    ignored = [name for name, value in own.items() if os.environ.get(name, value) != value]
    os.environ.update(own)
    for name in ("BACKLINE_TWILIO_AUTH_TOKEN", "TWILIO_AUTH_TOKEN"):
        if os.environ.pop(name, None):
            ignored.append(name)
    os.environ["BACKLINE_INSECURE_DEMO"] = "1"
    config = load_config()
    host, port = host or config.host, port or config.port
    try:
        config.prepare_state_dir(
            name=f"the demo's folder {own_state}",
            advice="set XDG_STATE_HOME (or HOME) to a folder this user can write",
        )
    except ConfigError as error:
        fail(str(error))
    from backline.config import shown_database
    from backline.demo import seed
    from backline.manage.migrate import upgrade

    upgrade(config.database_url)
    added = seed(config.database_url)
    base = f"http://{host}:{port}"
    if ignored:
        typer.echo(f"the demo ignores {', '.join(ignored)}: it keeps to its own files")
    shown = shown_database(config.database_url)
    typer.echo(f"database: {shown} ({'demo numbers added' if added else 'kept'})")
    typer.echo(f"state directory: {config.state_dir}")
    also = "; unset BACKLINE_DATABASE_URL" if "BACKLINE_DATABASE_URL" in ignored else ""
    typer.echo(f"for the other commands:  export BACKLINE_STATE_DIR={config.state_dir}{also}")
    typer.echo("")
    typer.echo("Try a diverted call (in another terminal):")
    typer.echo(
        f"  curl -s {base}/twilio/voice/fallback -d CallSid=CAdemo0001 -d ErrorCode=11200 \\"
    )
    typer.echo("       --data-urlencode To=+815031234567 --data-urlencode From=+819012345678")
    typer.echo("Or walk a whole call, leg by leg:")
    typer.echo(
        f"  backline simulate --url {base} --to +815031234567 --outcome busy --outcome no-answer"
    )
    typer.echo("See the call log:  backline calls list")
    typer.echo("")
    _run_uvicorn(config, host, port, 1)


def simulate(
    to: str = typer.Option(
        ..., "--to", metavar="NUMBER", help="The Twilio number that was called."
    ),
    from_: str = typer.Option(
        "+819012345678", "--from", metavar="NUMBER", help="The caller's number."
    ),
    outcome: list[str] = typer.Option(
        [],
        "--outcome",
        metavar="OUTCOME",
        help="How each dialled leg ends, in order: completed, busy, no-answer, failed, "
        "canceled (through Twilio's REST API), or caller-hung-up (while it rang).",
    ),
    url: str = typer.Option(
        None,
        "--url",
        metavar="URL",
        help="Base URL of a running backline (records a real call and notifies the team). "
        "Without it the answers are computed in-process and nothing is recorded.",
    ),
    error_code: str = typer.Option(
        "11200", "--error-code", metavar="CODE", help="ErrorCode Twilio would send."
    ),
    database_url: str = typer.Option(
        None,
        "--database-url",
        metavar="URL",
        help="Overrides BACKLINE_DATABASE_URL (in-process only).",
    ),
) -> None:
    """Send correctly signed requests, as Twilio would, and print the TwiML of each step."""
    from backline.cli.numbers import parse_number
    from backline.core.validation import InvalidValue, http_url
    from backline.simulate import VALID_OUTCOMES, run_simulation

    try:
        to = parse_number(to, what="--to")
        if url:
            url = http_url(url, what="--url")
    except InvalidValue as error:
        fail(str(error))
    for item in outcome:
        if item not in VALID_OUTCOMES:
            fail(f"--outcome {item!r} is not one of: {', '.join(VALID_OUTCOMES)}")
    overrides: dict[str, object] = {}
    if database_url:
        try:
            overrides["database_url"] = normalise_database_url(database_url)
        except ConfigError as error:
            fail(str(error))
    config = load_config(**overrides)
    if url and not config.twilio_auth_token:
        typer.echo(
            "note: BACKLINE_TWILIO_AUTH_TOKEN is not set, so only a server in demo mode "
            "will accept these requests",
            err=True,
        )
    try:
        for title, body in run_simulation(
            config, to=to, from_=from_, outcomes=outcome, base_url=url, error_code=error_code
        ):
            typer.echo(f"--- {title}")
            typer.echo(body)
    except OSError as error:
        fail(f"could not reach {url}: {error}")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
    app.command("simulate")(simulate)
