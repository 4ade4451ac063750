"""No command prints the database password or a channel's secret URL, whatever goes wrong."""

from __future__ import annotations

import json
import os
import string
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from backline.cli import app
from backline.core.redact import mask_password
from tests.processes import free_port
from tests.support import run_backline

PASSWORD = "Sw0rdf1sh-not-for-eyes"


def with_password(url: str, password: str = PASSWORD) -> str:
    """``url`` with ``password`` for its user (PostgreSQL's trust login ignores it)."""
    scheme, _, rest = url.partition("://")
    user, _, host = rest.rpartition("@")
    return f"{scheme}://{user or 'postgres'}:{password}@{host}"


def backline_env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLINE_")}
    return {**env, "BACKLINE_DATABASE_URL": url, "BACKLINE_STATE_DIR": str(tmp_path / "state")}


# --- the one function ------------------------------------------------------------------------

# Characters people put in passwords, written into URLs without percent-encoding ('@', '/' and
# ':' included: the URL is then ambiguous, and the mask must still cover all of it).
_PASSWORD_CHARACTERS = string.ascii_letters + string.digits + "!$%&*+,;=@:/~-._^|?#"


@given(st.text(alphabet=_PASSWORD_CHARACTERS, min_size=1, max_size=40))
def test_the_password_never_survives_masking(password: str) -> None:
    url = f"postgresql+psycopg2://backline:{password}@db.example.com:5432/backline"
    assert mask_password(url) == "postgresql+psycopg2://backline:***@db.example.com:5432/backline"
    quoted = f"Could not parse SQLAlchemy URL from string '{url}' (it ends here)"
    assert mask_password(quoted) == (
        "Could not parse SQLAlchemy URL from string "
        "'postgresql+psycopg2://backline:***@db.example.com:5432/backline' (it ends here)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "sqlite:///var/lib/backline/backline.db",
        "postgresql://backline@db.example.com/backline",
        'connection to server at "127.0.0.1", port 5432 failed: FATAL: role "x" missing',
    ],
)
def test_text_without_a_password_is_left_as_it_is(text: str) -> None:
    assert mask_password(text) == text


def test_the_keyword_form_is_masked_too() -> None:
    assert mask_password("host=db user=x password=hunter2 sslmode=require") == (
        "host=db user=x password=*** sslmode=require"
    )


# --- db upgrade, serve, demo, any command ------------------------------------------------------


@pytest.mark.postgres_only
def test_db_upgrade_masks_the_password_when_it_works(postgres_url: str, tmp_path: Path) -> None:
    result = run_backline(
        "db", "upgrade", env=backline_env(with_password(postgres_url), tmp_path), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout
    assert ":***@" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        # Nothing listens on port 9: the driver's error, and the URL in the message.
        ("postgresql://backline@127.0.0.1:9/backline", "could not upgrade"),
        # A typo in the port: SQLAlchemy cannot even read the URL.
        ("postgresql://backline@127.0.0.1:54x2/backline", "could not upgrade"),
        # A typo in the scheme: refused when the configuration is read.
        ("postgress://backline@127.0.0.1:5432/backline", "is not supported"),
    ],
)
def test_db_upgrade_masks_the_password_when_it_fails(
    url: str, complaint: str, tmp_path: Path
) -> None:
    result = run_backline(
        "db", "upgrade", env=backline_env(with_password(url), tmp_path), cwd=tmp_path
    )
    assert result.returncode == 2
    assert complaint in result.stderr
    assert ":***@" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "url",
    [
        "postgress://backline@127.0.0.1:5432/backline",
        "postgresql://backline@127.0.0.1:54x2/backline",
        "postgresql://backline@127.0.0.1:9/backline",
    ],
)
def test_every_command_masks_the_password_in_its_error(url: str, tmp_path: Path) -> None:
    for command in (["numbers", "list"], ["channels", "list", "--json"], ["calls", "list"]):
        result = run_backline(
            *command, env=backline_env(with_password(url), tmp_path), cwd=tmp_path
        )
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.startswith("error: "), (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert PASSWORD not in result.stdout + result.stderr, command


def test_serve_with_a_mistyped_url_masks_the_password(tmp_path: Path) -> None:
    env = backline_env(with_password("postgress://backline@127.0.0.1:5432/backline"), tmp_path)
    result = run_backline("serve", "--insecure-demo", "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert "BACKLINE_DATABASE_URL" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_demo_does_not_print_the_password(tmp_path: Path) -> None:
    url = with_password("postgresql://backline@127.0.0.1:9/backline")
    process = subprocess.Popen(
        [sys.executable, "-m", "backline.cli", "demo", "--port", str(free_port())],
        env={**backline_env(url, tmp_path), "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        # The demo either starts (and says which database it uses) or stops on this one; in
        # both cases it has said all it has to say about the database within this bound.
        deadline = time.monotonic() + 30
        seen = ""
        assert process.stdout is not None
        while time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
            seen += line
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=30)
    output = seen + rest
    assert "database" in output.lower(), output
    assert PASSWORD not in output, output


# --- channels list -------------------------------------------------------------------------------

SLACK = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"
HOOK = "https://alerts.example.com/in/3f1c9a7e5d"


def test_channels_list_redacts_urls_unless_asked(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("BACKLINE_STATE_DIR", str(tmp_path / "state"))
    runner = CliRunner()
    for kind, url in (("slack", SLACK), ("webhook", HOOK)):
        added = runner.invoke(app, ["channels", "add", kind, url])
        assert added.exit_code == 0, added.output
    secret = added.stdout.split("signing secret: ")[1].split()[0]

    listed = runner.invoke(app, ["channels", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    entries = json.loads(listed.stdout)
    assert [entry["target"] for entry in entries] == ["hooks.slack.com", "alerts.example.com"]
    table = runner.invoke(app, ["channels", "list"]).stdout
    for shown in (listed.stdout, table):
        assert "XXXXXXXX" not in shown and "3f1c9a7e5d" not in shown
        assert secret not in shown

    revealed = runner.invoke(app, ["channels", "list", "--json", "--show-secrets"])
    entries = json.loads(revealed.stdout)
    assert [entry["target"] for entry in entries] == [SLACK, HOOK]
    assert entries[1]["options"]["secret"] == secret
    table = runner.invoke(app, ["channels", "list", "--show-secrets"]).stdout
    assert SLACK in table and HOOK in table and secret in table
