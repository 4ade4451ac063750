"""`backline tokens`, `backline users`, `backline audit` and `backline admin serve`'s refusal."""

from __future__ import annotations

import pytest

from backline.manage import tokens
from backline.manage.engine import open_database as open_engine
from tests.cli import as_json, invoke, ok, refused


def test_create_list_revoke(database_url: str) -> None:
    result = invoke(database_url, "tokens", "create", "--name", "ci", "--read-only")
    assert result.exit_code == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("bl_") and "not shown again" in result.stderr
    access = tokens.check(open_engine(database_url), token)
    assert access is not None and access.read_only and access.actor == "token:ci"
    listed = as_json(database_url, "tokens", "list")
    assert [(t["name"], t["read_only"], t["revoked_at"]) for t in listed] == [("ci", True, None)]
    assert token not in ok(database_url, "tokens", "list")
    assert "exists already" in refused(database_url, "tokens", "create", "--name", "ci")
    assert ok(database_url, "tokens", "revoke", "ci") == "revoked token 'ci'\n"
    assert tokens.check(open_engine(database_url), token) is None
    assert "revoked already" in refused(database_url, "tokens", "revoke", "ci")
    assert "no token named" in refused(database_url, "tokens", "revoke", "nobody")


def test_users_and_the_audit_log(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKLINE_NEW_PASSWORD", "short")
    assert "at least 12" in refused(database_url, "users", "add", "hanako")
    monkeypatch.setenv("BACKLINE_NEW_PASSWORD", "a long enough password")
    assert ok(database_url, "users", "add", "hanako") == "added user hanako\n"
    assert [u["name"] for u in as_json(database_url, "users", "list")] == ["hanako"]
    ok(database_url, "tokens", "create", "--name", "ci")
    entries = as_json(database_url, "audit", "list")
    assert [(e["action"], e["target"], e["source"]) for e in entries] == [
        ("token.create", "ci", "cli"),
        ("user.add", "hanako", "cli"),
    ]
    assert entries[0]["actor"].startswith("cli:")
    assert "password" not in str(entries)
    assert "token.create ci" in ok(database_url, "audit", "list")
    ok(database_url, "users", "remove", "hanako")


def test_admin_serve_refuses_while_the_surface_is_off(database_url: str) -> None:
    assert "the admin surface is off" in refused(database_url, "admin", "serve", "--port", "8001")


def test_changes_made_from_the_command_line_are_audited(database_url: str) -> None:
    ok(
        database_url,
        "numbers",
        "add",
        "+815031234567",
        "-f",
        "+81312345678",
        "--client",
        "Sakura Dental",
        "--new-client",
    )
    ok(database_url, "numbers", "update", "+815031234567", "--ring-timeout", "45")
    ok(database_url, "numbers", "update", "+815031234567", "--ring-timeout", "45")  # no change
    ok(database_url, "settings", "set", "catch-all", "+81312349999")
    ok(database_url, "clients", "rename", "Sakura Dental", "Sakura Clinic")
    ok(database_url, "numbers", "remove", "+815031234567")
    entries = as_json(database_url, "audit", "list")
    assert [(e["action"], e["target"]) for e in entries] == [
        ("number.remove", "+815031234567"),
        ("client.rename", "Sakura Clinic"),
        ("setting.set", "catch_all"),
        ("number.update", "+815031234567"),
        ("number.add", "+815031234567"),
    ]
    assert all(e["source"] == "cli" and e["actor"].startswith("cli:") for e in entries)
    update = entries[3]
    assert (update["before"]["ring_timeout"], update["after"]["ring_timeout"]) == (30, 45)
    shown = ok(database_url, "audit", "list")
    assert "ring_timeout: 30 -> 45" in shown
