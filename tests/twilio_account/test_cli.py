"""`backline twilio audit` and `backline twilio sync`, run as an operator runs them, against the
stand-in for Twilio's REST API and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.testclient import TestClient
from typer.testing import CliRunner, Result

from backline.cli import app
from backline.config import Config
from backline.manage import tokens
from backline.web.app import create_app
from tests.cli import ok
from tests.support import csrf_of
from tests.twilio_account.conftest import FALLBACK, MainAccount

runner = CliRunner()
IVR = "https://ivr.example.com/twilio/incoming"


def run(account: MainAccount, database_url: str, *args: str, **env: str) -> Result:
    return runner.invoke(app, [*args, "--database-url", database_url], env=account.env(**env))


def add_route(database_url: str, number: str, *more: str) -> None:
    ok(database_url, "numbers", "add", number, "--forward-to", "+81312345678", *more)


def _account_with_four_numbers(account: MainAccount, database_url: str) -> None:
    api = account.api
    api.add_number(
        account.sid, "+815012345601", friendly_name="Sakura Dental", fallback_url=FALLBACK
    )
    api.add_number(account.sid, "+815012345602", friendly_name="Aoi Clinic")
    api.add_number(account.sid, "+815012345603", fallback_url="https://old.example.com/fb")
    api.add_number(account.sid, "+815012345604", friendly_name="Test line")  # no route
    for phone in ("+815012345601", "+815012345602", "+815012345603"):
        add_route(database_url, phone)


def test_audit_then_sync_then_nothing_left(database_url: str, account: MainAccount) -> None:
    _account_with_four_numbers(account, database_url)

    audited = run(account, database_url, "twilio", "audit")
    assert audited.exit_code == 1, audited.output
    lines = audited.stdout.splitlines()
    assert lines[0] == f"backline's fallback URL: {FALLBACK} (POST)"
    assert any(line.startswith("+815012345601") and "covered" in line for line in lines)
    assert any("Aoi Clinic" in line and "fallback missing" in line for line in lines)
    assert any("old.example.com" in line and "fallback elsewhere" in line for line in lines)
    assert any(line.startswith("+815012345604") and "no route" in line for line in lines)
    assert (
        "1 covered, 1 fallback missing, 1 fallback elsewhere, 1 no route, 0 routes for numbers "
        "not in the account, 0 caller IDs not in the account" in audited.stdout
    )

    planned = run(account, database_url, "twilio", "sync")
    assert planned.exit_code == 0, planned.output
    assert "+815012345602" in planned.stdout and "+815012345603" in planned.stdout
    assert "+815012345604" not in planned.stdout  # no route: left alone
    assert "dry run: nothing changed; add --apply to set the fallback of 2 numbers" in (
        planned.stdout
    )
    assert account.api.updates() == []  # a plan changes nothing

    synced = run(account, database_url, "twilio", "sync", "--apply")
    assert synced.exit_code == 0, synced.output
    assert synced.stdout.splitlines()[-1] == "set the fallback of 2 of 2 numbers"
    updates = account.api.updates()
    assert len(updates) == 2
    for update in updates:
        # The fallback and its method, nothing else: never the primary VoiceUrl.
        assert update.form == {"VoiceFallbackUrl": [FALLBACK], "VoiceFallbackMethod": ["POST"]}
        assert update.user == account.sid
    for phone in ("+815012345601", "+815012345602", "+815012345603", "+815012345604"):
        assert account.api.number(phone)["voice_url"] == IVR
    assert account.api.number("+815012345604")["voice_fallback_url"] is None

    again = run(account, database_url, "twilio", "sync", "--apply")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("nothing to do: 3 numbers already fall back to backline")
    assert len(account.api.updates()) == 2

    add_route(database_url, "+815012345604")
    assert run(account, database_url, "twilio", "sync", "--apply").exit_code == 0
    final = run(account, database_url, "twilio", "audit")
    assert final.exit_code == 0, final.output
    assert final.stdout.splitlines()[-1] == "every number is covered"


def test_a_refused_number_is_reported_and_the_rest_are_set(
    database_url: str, account: MainAccount
) -> None:
    api = account.api
    api.add_number(account.sid, "+815012345601")
    api.add_number(account.sid, "+815012345602", voice_url=None)  # Twilio answers 21405
    api.add_number(account.sid, "+815012345603")
    for phone in ("+815012345601", "+815012345602", "+815012345603"):
        add_route(database_url, phone)
    api.rate_limited += ["0", "0"]  # and Twilio asks to slow down on the way

    result = run(account, database_url, "twilio", "sync", "--apply")

    assert result.exit_code == 1, result.output
    assert (
        "failed +815012345602: Twilio answered error 21405 (HTTP 400): Cannot set "
        "VoiceFallbackUrl without setting Url" in result.stdout
    )
    assert "Twilio asked to slow down 2 times" in result.stdout
    assert result.stdout.splitlines()[-1] == "set the fallback of 2 of 3 numbers; 1 failed"
    assert api.number("+815012345601")["voice_fallback_url"] == FALLBACK
    assert api.number("+815012345603")["voice_fallback_url"] == FALLBACK
    assert api.number("+815012345602")["voice_fallback_url"] is None


def test_only_the_numbers_named(database_url: str, account: MainAccount) -> None:
    for phone in ("+815012345601", "+815012345602"):
        account.api.add_number(account.sid, phone)
        add_route(database_url, phone)

    result = run(account, database_url, "twilio", "sync", "--apply", "--number", "+81 50-1234-5602")

    assert result.exit_code == 0, result.output
    assert account.api.number("+815012345602")["voice_fallback_url"] == FALLBACK
    assert account.api.number("+815012345601")["voice_fallback_url"] is None

    stranger = run(account, database_url, "twilio", "sync", "--number", "+815099999999")
    assert stranger.exit_code == 1
    assert "+815099999999: not a number of the account" in stranger.stdout


def test_audit_json_and_a_caller_id_of_another_account(
    database_url: str, account: MainAccount
) -> None:
    account.api.add_number(account.sid, "+815012345601", fallback_url=FALLBACK)
    account.api.add_number(account.sid, "+815012345602", fallback_url=FALLBACK)
    add_route(database_url, "+815012345601", "--caller-id", "+815012345602")  # its own: fine
    add_route(database_url, "+815012345602", "--caller-id", "+815011112222")  # not the account's
    add_route(database_url, "+815012345609")  # not in the account

    result = run(account, database_url, "twilio", "audit", "--json")

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["fallback_url"] == FALLBACK and report["all_covered"] is False
    assert report["counts"]["covered"] == 2
    assert report["counts"]["caller_id_not_in_account"] == 1
    assert report["routes_not_in_account"] == ["+815012345609"]
    second = report["numbers"][1]
    assert second["phone_number"] == "+815012345602"
    assert "+815011112222" in second["caller_id_problem"]
    assert second["fallback_is_backline"] is True and second["route"] is True
    # The caller IDs verified for the account were asked for, once.
    asked = [seen for seen in account.api.requests if seen.path.endswith("OutgoingCallerIds.json")]
    assert len(asked) == 1

    account.api.add_caller_id(account.sid, "+815011112222")
    ok(database_url, "numbers", "remove", "+815012345609")
    assert run(account, database_url, "twilio", "audit").exit_code == 0


def test_subaccounts(database_url: str, account: MainAccount) -> None:
    api = account.api
    client_a, _ = api.add_account("Client A", owner=account.sid)
    closed, _ = api.add_account("Gone", owner=account.sid, status="closed")
    api.add_number(account.sid, "+815012345601")
    api.add_number(client_a, "+815012345602")
    api.add_number(closed, "+815012345603")
    add_route(database_url, "+815012345601")
    add_route(database_url, "+815012345602")

    alone = run(account, database_url, "twilio", "audit")
    assert "routes for numbers not in the account: +815012345602 (in a subaccount? try " in (
        alone.stdout
    )

    synced = run(account, database_url, "twilio", "sync", "--apply", "--subaccounts")
    assert synced.exit_code == 0, synced.output
    assert f"not read: account {closed} Gone: closed" in synced.stdout
    paths = sorted(update.path for update in api.updates())
    assert [path.split("/")[3] for path in paths] == sorted([account.sid, client_a])
    assert api.number("+815012345602")["voice_fallback_url"] == FALLBACK
    assert api.number("+815012345603")["voice_fallback_url"] is None

    audited = run(account, database_url, "twilio", "audit", "--subaccounts")
    assert "2 covered" in audited.stdout
    assert audited.exit_code == 1  # an account could not be read: not known to be covered


def test_credentials_and_settings_that_are_missing_or_refused(
    sqlite_url: str, account: MainAccount
) -> None:
    def refused(**env: str) -> str:
        result = run(account, sqlite_url, "twilio", "audit", **env)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: ")
        return line

    assert "BACKLINE_TWILIO_ACCOUNT_SID" in refused(BACKLINE_TWILIO_ACCOUNT_SID="")
    assert "BACKLINE_TWILIO_AUTH_TOKEN" in refused(BACKLINE_TWILIO_AUTH_TOKEN="")
    assert "BACKLINE_PUBLIC_URL" in refused(BACKLINE_PUBLIC_URL="")
    assert "BACKLINE_TWILIO_API_SECRET" in refused(BACKLINE_TWILIO_API_KEY="SK" + "0" * 32)
    wrong = refused(BACKLINE_TWILIO_AUTH_TOKEN="wrong-token-1234")
    assert "error 20003" in wrong and "Authenticate" in wrong and "wrong-token-1234" not in wrong


def test_an_api_key_or_the_twilio_librarys_own_variables(
    sqlite_url: str, account: MainAccount
) -> None:
    account.api.add_number(account.sid, "+815012345601", fallback_url=FALLBACK)
    add_route(sqlite_url, "+815012345601")
    key, secret = account.api.add_api_key(account.sid)

    with_key = run(
        account,
        sqlite_url,
        "twilio",
        "audit",
        BACKLINE_TWILIO_AUTH_TOKEN="",
        BACKLINE_TWILIO_API_KEY=key,
        BACKLINE_TWILIO_API_SECRET=secret,
    )
    assert with_key.exit_code == 0, with_key.output
    assert account.api.requests[-1].user == key

    # Twilio denies a main account's keys every subaccount: refused before asking anything.
    asked = len(account.api.requests)
    for command in ("audit", "sync"):
        refused = run(
            account,
            sqlite_url,
            "twilio",
            command,
            "--subaccounts",
            BACKLINE_TWILIO_AUTH_TOKEN="",
            BACKLINE_TWILIO_API_KEY=key,
            BACKLINE_TWILIO_API_SECRET=secret,
        )
        assert refused.exit_code == 2, refused.output
        assert "--subaccounts needs the main account's auth token" in refused.stderr
        assert secret not in refused.output
    assert len(account.api.requests) == asked

    with_library_names = run(
        account,
        sqlite_url,
        "twilio",
        "audit",
        BACKLINE_TWILIO_ACCOUNT_SID="",
        BACKLINE_TWILIO_AUTH_TOKEN="",
        TWILIO_ACCOUNT_SID=account.sid,
        TWILIO_AUTH_TOKEN=account.token,
    )
    assert with_library_names.exit_code == 0, with_library_names.output
    assert account.api.requests[-1].user == account.sid

    # Several tokens (subaccounts, a rotation): the first is the account's own.
    several = run(
        account, sqlite_url, "twilio", "audit", BACKLINE_TWILIO_AUTH_TOKEN=f"{account.token},other"
    )
    assert several.exit_code == 0, several.output


def test_the_dashboard_shows_the_last_audit(
    database_url: str, account: MainAccount, make_config: Callable[..., Config]
) -> None:
    from backline.manage import coverage
    from backline.manage.engine import open_database

    engine = open_database(database_url)
    _entry, token = tokens.create(engine, "ops")
    with TestClient(create_app(make_config(database_url))) as client:
        form = client.get("/admin/sign-in")
        signed = client.post(
            "/admin/sign-in",
            data={"csrf": csrf_of(form.text), "token": token},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        before = client.get("/admin/", headers={"Accept-Language": "en"}).text
        assert "never audited — run backline twilio audit" in before
        assert coverage.last(engine) is None

        _account_with_four_numbers(account, database_url)
        assert run(account, database_url, "twilio", "audit").exit_code == 1
        kept = coverage.last(engine)
        assert kept is not None and kept.numbers == 4 and kept.fallback_url == FALLBACK
        assert [row["number"] for row in kept.uncovered] == [
            "+815012345602",
            "+815012345603",
            "+815012345604",
        ]
        shown = client.get("/admin/", headers={"Accept-Language": "en"}).text
        section = shown[shown.index('id="coverage"') :]
        assert "never audited" not in section
        assert "+815012345601" not in section  # covered
        assert "+815012345602" in section and "fallback missing" in section
        assert "old.example.com" in section and "no route" in section
        assert "Last audit" in section

        add_route(database_url, "+815012345604")
        assert run(account, database_url, "twilio", "sync", "--apply").exit_code == 0
        assert run(account, database_url, "twilio", "audit").exit_code == 0
        shown = client.get("/admin/", headers={"Accept-Language": "en"}).text
        assert "Every number of the account falls back to backline." in shown
        assert "+815012345602" not in shown[shown.index('id="coverage"') :]
