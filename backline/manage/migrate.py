"""`backline db upgrade`: run the Alembic migrations shipped inside the package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine

from backline.manage.engine import make_engine

__all__ = ["MIGRATIONS", "current_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(database_url: str, *, engine: Engine | None = None) -> tuple[str | None, str | None]:
    """Bring the database to the newest schema; safe to run again and again.

    Returns the revision before (``None``: the tables did not exist) and after.
    """
    from alembic.runtime.migration import MigrationContext

    engine = engine or make_engine(database_url)
    config = _alembic_config()
    with engine.begin() as connection:
        before = MigrationContext.configure(connection).get_current_revision()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        after = MigrationContext.configure(connection).get_current_revision()
    return before, after


def current_revision(database_url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(database_url)
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
