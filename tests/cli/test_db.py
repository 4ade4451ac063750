"""`backline db upgrade` and where backline keeps its files, as an operator meets them."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from backline.manage.migrate import current_revision
from tests.cli import ok, refused
from tests.support import run_backline


def _head() -> str:
    """The newest revision the package ships (not written here: every migration moves it)."""
    from alembic.script import ScriptDirectory

    from backline.manage.migrate import _alembic_config

    return str(ScriptDirectory.from_config(_alembic_config()).get_current_head())


HEAD = _head()
NUMBER = "+815012345678"
DEST = "+81312345678"


@pytest.fixture
def defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No BACKLINE_* variable set: the default places, under a private XDG_STATE_HOME."""
    for name in list(os.environ):
        if name.startswith("BACKLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "backline"


def test_a_new_database_is_created_and_says_so(defaults: Path) -> None:
    head = HEAD

    out = ok(None, "db", "upgrade")

    assert out == (
        f"created the folder {defaults}\n"
        f"created the database {defaults}/backline.db, at revision {head}\n"
    )
    assert current_revision(f"sqlite:///{defaults}/backline.db") == head
    assert ok(None, "db", "upgrade") == (
        f"the database {defaults}/backline.db is up to date, at revision {head}\n"
    )


def test_an_empty_database_gets_its_tables(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()

    out = ok(f"sqlite:///{empty}", "db", "upgrade")

    assert out == f"created the tables in {empty}, at revision {HEAD}\n"


def test_an_older_database_is_upgraded_from_its_revision(tmp_path: Path) -> None:
    from alembic import command

    from backline.manage.engine import make_engine
    from backline.manage.migrate import _alembic_config

    url = f"sqlite:///{tmp_path}/old.db"
    config = _alembic_config()
    with make_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")

    out = ok(url, "db", "upgrade")

    assert out == f"upgraded the database {tmp_path}/old.db from revision 0001 to {HEAD}\n"


def test_a_missing_folder_is_not_created_silently(tmp_path: Path) -> None:
    typo = tmp_path / "var" / "lib" / "backlin"

    error = refused(f"sqlite:///{typo}/backline.db", "db", "upgrade")

    assert error == (
        f"error: the folder {typo} does not exist: create it first (mkdir -p {typo}), "
        "or check the database URL"
    )
    assert not (tmp_path / "var").exists()


def test_a_relative_database_is_named_by_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    out = ok("sqlite:///here.db", "db", "upgrade")

    assert out == f"created the database {tmp_path}/here.db, at revision {HEAD}\n"


def test_the_default_database_is_the_same_from_any_folder(tmp_path: Path) -> None:
    """The CLI run from another folder finds the same table, not "no tables yet"."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLINE_")}
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg")
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()

    assert run_backline("db", "upgrade", env=env, cwd=first).returncode == 0
    added = run_backline("numbers", "add", NUMBER, "-f", DEST, env=env, cwd=first)
    assert added.returncode == 0, added.stderr
    listed = run_backline("numbers", "list", env=env, cwd=second)

    assert listed.returncode == 0, listed.stderr
    assert NUMBER in listed.stdout
    assert list(first.iterdir()) == list(second.iterdir()) == []


@pytest.mark.parametrize("command", [["serve", "--insecure-demo"], ["db", "upgrade"]])
def test_a_state_directory_that_cannot_be_made_is_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLINE_")}
    env["BACKLINE_STATE_DIR"] = str(blocker / "state")

    result = run_backline(*command, env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == (
        f"error: BACKLINE_STATE_DIR='{blocker}/state' cannot be used: Not a directory; "
        "choose a folder this user can create and write\n"
    )


def test_a_demo_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    """The demo keeps to its own folder (in the user's state folder), whatever
    BACKLINE_STATE_DIR says: a folder it cannot use is named, with the variable to change."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKLINE_")}
    env["XDG_STATE_HOME"] = str(blocker)

    result = run_backline("demo", env=env, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == (
        f"error: the demo's folder {blocker}/backline/demo cannot be used: Not a directory; "
        "set XDG_STATE_HOME (or HOME) to a folder this user can write\n"
    )
