"""The migrations make exactly the tables that backline/store/schema.py describes, on SQLite and
PostgreSQL: every table, column (type, nullability, server default), index, unique constraint
and foreign key (with its ON DELETE). A change to one without the other fails here."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, DefaultClause, MetaData, String, create_engine, inspect
from sqlalchemy.pool import NullPool

from backline.store.schema import metadata


def _same_default(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    """SQLite gives a default back as written in the table's SQL, where a table rebuilt by a
    migration has it in parentheses, and Alembic renders a plain string default without quotes:
    ``('')`` is the same default as ``""``. Anything else is left to Alembic's comparison."""
    if inspected_default is None or rendered_metadata_default is None:
        return None

    def bare(sql: str) -> str:
        while sql.startswith("(") and sql.endswith(")"):
            sql = sql[1:-1]
        if len(sql) >= 2 and sql[0] == sql[-1] == "'":
            sql = sql[1:-1]
        return sql

    if bare(inspected_default) == bare(rendered_metadata_default):
        return False
    return None


def differences(database_url: str, target: MetaData) -> list[Any]:
    """What Alembic's autogenerate would change to turn the database into ``target``."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": _same_default}
            )
            return list(compare_metadata(context, target))
    finally:
        engine.dispose()


def test_the_migrated_database_is_the_schema(database_url: str) -> None:
    assert differences(database_url, metadata) == []


def test_the_comparison_sees_a_difference(database_url: str) -> None:
    """The check above can fail: a column added, a type and a default changed are noticed."""
    changed = MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["settings"].append_column(Column("note", String(10), nullable=True))
    changed.tables["clients"].c.name.type = String(50)
    changed.tables["calls"].c.error_code.server_default = DefaultClause("x")
    found = differences(database_url, changed)
    kinds = {entry[0] if isinstance(entry, tuple) else entry[0][0] for entry in found}
    assert {"add_column", "modify_type", "modify_default"} <= kinds, found


def test_foreign_keys_match_with_their_on_delete(database_url: str) -> None:
    """Alembic compares which columns a foreign key joins, not what happens on delete."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        inspector = inspect(engine)
        for table in metadata.sorted_tables:
            declared = sorted(
                (
                    tuple(element.parent.name for element in key.elements),
                    key.referred_table.name,
                    tuple(element.column.name for element in key.elements),
                    (key.ondelete or "").upper() or None,
                )
                for key in table.foreign_key_constraints
            )
            present = sorted(
                (
                    tuple(key["constrained_columns"]),
                    key["referred_table"],
                    tuple(key["referred_columns"]),
                    (key.get("options", {}).get("ondelete") or "").upper() or None,
                )
                for key in inspector.get_foreign_keys(table.name)
            )
            assert present == declared, table.name
    finally:
        engine.dispose()
