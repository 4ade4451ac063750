"""Commands that run things: `serve`, `demo` and `simulate`."""

from __future__ import annotations

import logging
import os

import typer

from backline.cli._common import config as load_config
from backline.cli._common import fail
from backline.config import Config, ConfigError, normalise_database_url

__all__ = ["register"]


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes."),
    database_url: str = typer.Option(
        None, "--database-url", help="Overrides BACKLINE_DATABASE_URL."
    ),
    public_url: str = typer.Option(None, "--public-url", help="Overrides BACKLINE_PUBLIC_URL."),
    insecure_demo: bool = typer.Option(
        False,
        "--insecure-demo",
        help="Answer WITHOUT checking Twilio signatures (local trials only).",
    ),
) -> None:
    """Answer Twilio's fallback requests (uvicorn)."""
    config = _config_from_flags(database_url, public_url, insecure_demo)
    try:
        config.check_can_serve()
    except ConfigError as error:
        fail(str(error))
    _run_uvicorn(config, host, port, workers)


def _run_uvicorn(config: Config, host: str, port: int, workers: int) -> None:
    import uvicorn

    _setup_logging(config.log_level)
    uvicorn.run(
        "backline.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=config.log_level.lower(),
        # Behind nginx or an ALB the client address comes from X-Forwarded-For; signatures do
        # not depend on it (they are checked over BACKLINE_PUBLIC_URL).
        proxy_headers=True,
        access_log=False,
    )


def demo(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
) -> None:
    """Run on the embedded SQLite database with demo numbers, signatures NOT checked."""
    os.environ["BACKLINE_INSECURE_DEMO"] = "1"
    config = load_config()
    from backline.demo import seed
    from backline.store.migrate import upgrade

    upgrade(config.database_url)
    added = seed(config.database_url)
    base = f"http://{host}:{port}"
    typer.echo(f"database: {config.database_url} ({'demo numbers added' if added else 'kept'})")
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
    to: str = typer.Option(..., "--to", help="The Twilio number that was called (E.164)."),
    from_: str = typer.Option("+819012345678", "--from", help="The caller's number."),
    outcome: list[str] = typer.Option(
        [],
        "--outcome",
        help="How each dialled leg ends, in order: completed, busy, no-answer, failed, canceled.",
    ),
    url: str = typer.Option(
        None,
        "--url",
        help="Base URL of a running backline (records a real call and notifies the team). "
        "Without it the answers are computed in-process and nothing is recorded.",
    ),
    error_code: str = typer.Option("11200", "--error-code", help="ErrorCode Twilio would send."),
    database_url: str = typer.Option(
        None, "--database-url", help="Overrides BACKLINE_DATABASE_URL (in-process only)."
    ),
) -> None:
    """Send correctly signed requests, as Twilio would, and print the TwiML of each step."""
    from backline.core.validation import InvalidValue, e164, http_url
    from backline.simulate import VALID_OUTCOMES, run_simulation

    try:
        to = e164(to, what="--to")
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
