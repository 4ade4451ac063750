"""`backline demo`: a server on its own SQLite database with demo numbers."""

from __future__ import annotations

import os

import typer

from backline.cli._common import config as load_config
from backline.cli._common import fail
from backline.cli.serve import HOST_HELP, PORT_HELP, check_port, run_uvicorn
from backline.config import ConfigError, default_state_dir

__all__ = ["demo", "register"]


def demo(
    host: str = typer.Option(None, "--host", metavar="ADDRESS", help=HOST_HELP),
    port: int = typer.Option(None, "--port", metavar="PORT", help=PORT_HELP),
) -> None:
    """Run on its own SQLite database with demo numbers, signatures NOT checked.

    The demo keeps to its own folder (``demo`` in the default state directory) whatever
    BACKLINE_DATABASE_URL, BACKLINE_STATE_DIR or the auth token say, so it can never touch a
    real deployment: neither its database nor its journal.
    """
    check_port(port)
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
    run_uvicorn(config, host, port, 1)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
