"""A change and its audit entry are one transaction: when the entry cannot be written, the
change is not made, whichever door it came through (the functions, the CLI, the API)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from backline.config import Config
from backline.manage import audit, errors, settings
from backline.manage.engine import open_database
from backline.manage.numbers import add_number, change_number, get_number
from backline.web.app import create_app
from tests.cli import invoke

NUMBER = "+815031234567"
ADMIN_TOKEN = "env-admin-token-0123456789abcdef"


@pytest.fixture
def refusing(engine: Engine) -> Iterator[None]:
    """The database itself refuses every new audit entry (a trigger that raises); afterwards
    (PostgreSQL's tables are kept between tests) it accepts them again."""
    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER IF EXISTS audit_refused" + _on(engine)))
        if engine.dialect.name == "sqlite":
            connection.execute(
                text(
                    "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log "
                    "BEGIN SELECT RAISE(ABORT, 'audit entries refused'); END"
                )
            )
        else:
            connection.execute(
                text(
                    "CREATE OR REPLACE FUNCTION audit_refused() RETURNS trigger AS "
                    "$$ BEGIN RAISE EXCEPTION 'audit entries refused'; END $$ LANGUAGE plpgsql"
                )
            )
            connection.execute(
                text(
                    "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log "
                    "FOR EACH ROW EXECUTE FUNCTION audit_refused()"
                )
            )
    yield
    with engine.begin() as connection:
        connection.execute(text("DROP TRIGGER IF EXISTS audit_refused" + _on(engine)))


def _on(engine: Engine) -> str:
    return "" if engine.dialect.name == "sqlite" else " ON audit_log"


@pytest.fixture
def engine(database_url: str) -> Engine:
    engine = open_database(database_url)
    add_number(engine, NUMBER, ["+81312345678"])
    return engine


def test_the_entry_and_the_change_are_written_together(engine: Engine) -> None:
    with audit.changes(engine, actor="cli:test", source="cli") as changes:
        change = change_number(changes.engine, NUMBER, ring_timeout=45).after
        changes.record("number.update", NUMBER, None, change.to_json())
    assert get_number(engine, NUMBER).ring_timeout == 45
    assert [entry.action for entry in audit.list_entries(engine)] == ["number.update"]


@pytest.mark.usefixtures("refusing")
def test_a_refused_entry_leaves_no_change(engine: Engine) -> None:

    def change() -> None:
        with audit.changes(engine, actor="cli:test", source="cli") as changes:
            change_number(changes.engine, NUMBER, ring_timeout=45)
            changes.record("number.update", NUMBER)

    with pytest.raises(errors.DatabaseError, match="audit entries refused"):
        change()
    assert get_number(engine, NUMBER).ring_timeout == 30
    assert audit.list_entries(engine) == []


@pytest.mark.usefixtures("refusing")
def test_the_command_line_makes_no_change_it_cannot_audit(
    database_url: str, engine: Engine
) -> None:
    result = invoke(database_url, "numbers", "update", NUMBER, "--ring-timeout", "45")
    assert result.exit_code != 0 and "audit entries refused" in result.stderr
    result = invoke(database_url, "settings", "set", "catch-all", "+81312349999")
    assert result.exit_code != 0
    result = invoke(database_url, "tokens", "create", "--name", "ci")
    assert result.exit_code != 0 and not result.stdout.strip()  # no token shown
    assert get_number(engine, NUMBER).ring_timeout == 30
    assert "catch_all" not in settings.get_settings(engine)
    assert invoke(database_url, "tokens", "list").stdout.startswith("no tokens yet")


@pytest.mark.usefixtures("refusing")
def test_the_api_makes_no_change_it_cannot_audit(
    database_url: str, engine: Engine, make_config: Callable[..., Config]
) -> None:
    config = make_config(database_url, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(config), base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        response = client.patch(f"/api/numbers/{NUMBER}", json={"ring_timeout": 45})
        assert response.status_code == 503, response.text
        response = client.patch("/api/settings", json={"catch_all": "+81312349999"})
        assert response.status_code == 503, response.text
        assert client.get(f"/api/numbers/{NUMBER}").json()["ring_timeout"] == 30
    assert "catch_all" not in settings.get_settings(engine)


def test_settings_are_changed_all_or_none(
    database_url: str, engine: Engine, make_config: Callable[..., Config]
) -> None:
    config = make_config(database_url, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(config), base_url="https://testserver") as client:
        client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
        response = client.patch(
            "/api/settings", json={"catch_all": "+81312349999", "default_ring_timeout": "3"}
        )
        assert response.status_code == 422, response.text
    assert settings.get_settings(engine) == {}
    assert audit.list_entries(engine) == []
