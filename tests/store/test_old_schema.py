"""A server started on a database made by an older backline (before `db upgrade`) says what to
do and still answers; after the upgrade it reads the table."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from alembic import command

from backline.manage.engine import make_engine
from backline.manage.migrate import _alembic_config, upgrade
from backline.store.database import Database
from backline.store.snapshot import SnapshotKeeper
from tests.support import add_number


def test_an_older_schema_is_named_and_upgrade_fixes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/old.db"
    engine = make_engine(url)
    config = _alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    engine.dispose()
    keeper = SnapshotKeeper(Database(url), tmp_path / "state")
    with caplog.at_level(logging.ERROR, logger="backline.snapshot"):
        snapshot = keeper.start()
    assert snapshot.source == "built-in"
    assert "made by an older backline" in caplog.text and "backline db upgrade" in caplog.text

    upgrade(url)
    add_number(url, "+815031234567", ("+81312345678",))
    assert keeper.refresh() and "+815031234567" in keeper.current.routes
