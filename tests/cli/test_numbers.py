"""`backline numbers ...`, as an operator uses it, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from backline.core.models import Route
from tests.cli import answer_table, as_json, invoke, ok, refused

NUMBER = "+815012345678"
OTHER = "+815012345679"
DEST = "+81312345678"
DEST2 = "+81698765432"
SIP = "sip:desk@pbx.example.com"

NUMBER_FIELDS = {
    "number",
    "client",
    "destinations",
    "mode",
    "ring_timeout",
    "caller_id",
    "message",
    "language",
    "voice",
    "enabled",
    "created_at",
    "updated_at",
    "when_unanswered",
    "voicemail_max_length",
    "transcribe",
    "screen",
    "answer_on_bridge",
    "ring_tone",
    "hours",
    "timezone",
    "closed_on",
    "holidays",
    "holidays_through",
    "when_closed",
    "closed_message",
}


def test_add_prints_one_line_and_the_answer_path_sees_the_number(database_url: str) -> None:
    out = ok(database_url, "numbers", "add", NUMBER, "--forward-to", DEST)

    assert out == f"added {NUMBER} -> {DEST} (simultaneous, 30 s)\n"
    routes, _ = answer_table(database_url)
    assert routes == {NUMBER: Route(number=NUMBER, destinations=(DEST,))}


def test_add_with_every_option(database_url: str) -> None:
    result = invoke(
        database_url,
        "numbers",
        "add",
        "+81 50-1234-5678",
        "--forward-to",
        DEST2,
        "-f",
        SIP,
        "--forward-to",
        DEST,
        "--client",
        "Acme",
        "--new-client",
        "--mode",
        "Sequential",
        "--ring-timeout",
        "20",
        "--message",
        " 担当者に おつなぎできません。 ",
        "--language",
        "ja-jp",
        "--voice",
        "Polly.Takumi-Neural",
        "--caller-id",
        "caller",
        "--disabled",
    )

    assert result.exit_code == 0, result.stderr
    out = result.stdout
    # The "caller" policy comes with a warning about Japanese carriers.
    assert "withheld" in result.stderr and "Japanese carriers" in result.stderr
    assert "sip:" not in result.stderr  # sequential: a sip: destination rings alone anyway
    assert out.startswith(
        f"added client Acme\nadded {NUMBER} -> {DEST2}, {SIP}, {DEST} (sequential, 20 s"
    )
    assert "client Acme" in out
    assert "disabled" in out
    routes, _ = answer_table(database_url)
    assert routes[NUMBER] == Route(
        number=NUMBER,
        destinations=(DEST2, SIP, DEST),  # in the order given
        mode="sequential",
        ring_timeout=20,
        caller_id="caller",
        message="担当者に おつなぎできません。",
        language="ja-JP",
        voice="Polly.Takumi-Neural",
        client="Acme",
        enabled=False,
    )
    assert [c["name"] for c in as_json(database_url, "clients", "list")] == ["Acme"]


def test_add_uses_the_default_ring_timeout_setting(database_url: str) -> None:
    ok(database_url, "settings", "set", "default-ring-timeout", "45")

    out = ok(database_url, "numbers", "add", NUMBER, "--forward-to", DEST)

    assert "(simultaneous, 45 s)" in out
    assert answer_table(database_url)[0][NUMBER].ring_timeout == 45


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([NUMBER], "--forward-to"),
        (["0501234567", "-f", DEST], "E.164"),
        (["+999123", "-f", DEST], "not a phone number"),
        ([NUMBER, "-f", "+81123"], "not a possible phone number"),
        ([NUMBER, "-f", "sip:desk\x01@pbx.example.com"], "control characters"),
        ([NUMBER, "-f", DEST, "--voice", "alice"], "no longer documents"),
        ([NUMBER, "-f", DEST, "--language", "en-US", "--voice", "Polly.Mizuki"], "Polly.Joanna"),
        ([NUMBER, "-f", DEST, "--voice", "Polly.Lea"], "cannot speak ja-JP"),
        ([NUMBER, "-f", "03-1234-5678"], "+81312345678"),
        ([NUMBER, "-f", "sip:nobody"], "SIP URI"),
        ([NUMBER, "-f", DEST, "-f", DEST], "twice"),
        ([NUMBER, "-f", NUMBER], "itself"),
        ([NUMBER, *[a for i in range(11) for a in ("-f", f"+8131234{i:04d}")]], "at most 10"),
        ([NUMBER, "-f", DEST, "--ring-timeout", "3"], "5 to 600"),
        ([NUMBER, "-f", DEST, "--ring-timeout", "ten"], "whole number"),
        ([NUMBER, "-f", DEST, "--mode", "random"], "simultaneous, sequential"),
        ([NUMBER, "-f", DEST, "--language", "japanese"], "ja-JP"),
        ([NUMBER, "-f", DEST, "--voice", "Polly.nobody"], "Polly.Mizuki"),
        ([NUMBER, "-f", DEST, "--message", "   "], "message is empty"),
        ([NUMBER, "-f", DEST, "--caller-id", "boss"], "caller ID"),
        ([NUMBER, "-f", DEST, "--client", " "], "client name"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    database_url: str, args: list[str], message: str
) -> None:
    ok(database_url, "numbers", "add", OTHER, "-f", DEST2)
    before = as_json(database_url, "numbers", "list")

    error = refused(database_url, "numbers", "add", *args)

    assert message in error
    assert as_json(database_url, "numbers", "list") == before
    assert as_json(database_url, "clients", "list") == []


def test_a_number_cannot_be_added_twice(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST)
    before = as_json(database_url, "numbers", "list")

    error = refused(
        database_url, "numbers", "add", NUMBER, "-f", DEST2, "--client", "New", "--new-client"
    )

    assert error == f"error: {NUMBER} is already in the table of numbers"
    assert as_json(database_url, "numbers", "list") == before
    assert as_json(database_url, "clients", "list") == []  # the refused add created no client


def test_update_changes_only_what_is_given(database_url: str) -> None:
    ok(
        database_url,
        "numbers",
        "add",
        NUMBER,
        "-f",
        DEST,
        "--client",
        "Acme",
        "--new-client",
        "--message",
        "Hi",
        "--language",
        "en-US",
        "--voice",
        "Polly.Salli",
        "--ring-timeout",
        "25",
    )
    before = as_json(database_url, "numbers", "show", NUMBER)

    out = ok(database_url, "numbers", "update", NUMBER, "-f", SIP, "-f", DEST2, "--disable")

    assert out.splitlines() == [
        f"updated {NUMBER} -> {SIP}, {DEST2} (simultaneous, 25 s, client Acme, disabled)",
        f"  forward to: {DEST} -> {SIP}, {DEST2}",
        "  status:     enabled -> disabled",
    ]
    after = as_json(database_url, "numbers", "show", NUMBER)
    assert after["destinations"] == [SIP, DEST2]  # replaced, not appended
    assert after["enabled"] is False
    assert {
        k: v for k, v in after.items() if k not in ("destinations", "enabled", "updated_at")
    } == {k: v for k, v in before.items() if k not in ("destinations", "enabled", "updated_at")}
    assert after["updated_at"] > before["updated_at"]
    assert answer_table(database_url)[0][NUMBER].destinations == (SIP, DEST2)


def test_update_clears_back_to_the_defaults(database_url: str) -> None:
    ok(
        database_url,
        "numbers",
        "add",
        NUMBER,
        "-f",
        DEST,
        "--client",
        "Acme",
        "--new-client",
        "--message",
        "Hi",
        "--language",
        "en-US",
        "--voice",
        "Polly.Salli",
        "--disabled",
    )

    ok(
        database_url,
        "numbers",
        "update",
        NUMBER,
        "--no-message",
        "--no-language",
        "--no-voice",
        "--no-client",
        "--enable",
    )

    route = answer_table(database_url)[0][NUMBER]
    assert (route.message, route.language, route.voice, route.client) == (None, None, None, None)
    assert route.enabled
    # The client stays, with no numbers.
    assert as_json(database_url, "clients", "list")[0]["numbers"] == 0


def test_update_moves_a_number_to_a_new_client(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "Acme", "--new-client")

    ok(
        database_url,
        "numbers",
        "update",
        NUMBER,
        "--client",
        "Beta",
        "--new-client",
        "--mode",
        "sequential",
        "--caller-id",
        "+81355550000",
        "--ring-timeout",
        "60",
    )

    route = answer_table(database_url)[0][NUMBER]
    assert (route.client, route.mode, route.caller_id, route.ring_timeout) == (
        "Beta",
        "sequential",
        "+81355550000",
        60,
    )
    counts = {c["name"]: c["numbers"] for c in as_json(database_url, "clients", "list")}
    assert counts == {"Acme": 0, "Beta": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([OTHER, "--mode", "sequential"], f"{OTHER} is not in the table"),
        ([OTHER, "--client", "New"], f"{OTHER} is not in the table"),
        ([NUMBER], "nothing to change"),
        ([NUMBER, "--message", "x", "--no-message"], "--message or --no-message"),
        ([NUMBER, "--client", "x", "--no-client"], "--client or --no-client"),
        ([NUMBER, "--ring-timeout", "601"], "5 to 600"),
        ([NUMBER, "-f", DEST2, "-f", DEST2], "twice"),
        ([NUMBER, "--voice", "robot"], "Twilio voice"),
        (["12345", "--enable"], "E.164"),
    ],
)
def test_bad_update_is_refused_and_changes_nothing(
    database_url: str, args: list[str], message: str
) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--message", "Hi")
    before = as_json(database_url, "numbers", "list")

    error = refused(database_url, "numbers", "update", *args)

    assert message in error
    assert as_json(database_url, "numbers", "list") == before
    assert as_json(database_url, "clients", "list") == []


def test_show_for_people_shows_the_defaults_that_apply(database_url: str) -> None:
    ok(database_url, "settings", "set", "default-voice", "Polly.Takumi")
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "-f", SIP, "--message", "Hello there")

    shown = shown_fields(ok(database_url, "numbers", "show", NUMBER))

    assert shown["forward to"] == f"{DEST}, {SIP}"
    assert shown["message"] == "Hello there"
    assert shown["voice"] == "Polly.Takumi (default)"
    assert shown["language"] == "ja-JP (default)"
    assert shown["status"] == "enabled"


def shown_fields(out: str) -> dict[str, str]:
    """`numbers show`'s lines as label -> value (labels are padded to one width)."""
    import re

    return {
        match.group(1): match.group(2)
        for match in re.finditer(r"^(\S+(?: \S+)*?)  +(.*)$", out, re.MULTILINE)
    }


def test_show_json_has_every_field(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "Acme", "--new-client")

    shown = as_json(database_url, "numbers", "show", NUMBER)

    assert set(shown) == NUMBER_FIELDS
    assert shown["destinations"] == [DEST]
    assert shown["client"] == "Acme"
    assert shown["ring_timeout"] == 30
    assert shown["enabled"] is True
    assert shown["message"] is None


def test_show_unknown_number(database_url: str) -> None:
    assert refused(database_url, "numbers", "show", NUMBER) == (
        f"error: {NUMBER} is not in the table of numbers"
    )


def test_list_for_people_and_for_scripts(database_url: str) -> None:
    assert "no numbers yet" in ok(database_url, "numbers", "list")
    assert as_json(database_url, "numbers", "list") == []
    ok(database_url, "numbers", "add", OTHER, "-f", DEST2, "--client", "Beta", "--new-client")
    ok(
        database_url,
        "numbers",
        "add",
        NUMBER,
        "-f",
        DEST,
        "-f",
        SIP,
        "--client",
        "Acme",
        "--new-client",
    )

    table = ok(database_url, "numbers", "list")
    listed = as_json(database_url, "numbers", "list")

    assert [line.split()[0] for line in table.splitlines()] == ["NUMBER", NUMBER, SIP, OTHER]
    assert "Acme" in table
    assert "Beta" in table
    assert [n["number"] for n in listed] == [NUMBER, OTHER]
    assert all(set(n) == NUMBER_FIELDS for n in listed)
    only_acme = as_json(database_url, "numbers", "list", "--client", "Acme")
    assert [n["number"] for n in only_acme] == [NUMBER]


def test_list_of_an_unknown_client_is_refused(database_url: str) -> None:
    assert "no client named 'Nobody'" in refused(
        database_url, "numbers", "list", "--client", "Nobody"
    )


def test_names_are_not_read_as_markup(database_url: str) -> None:
    ok(
        database_url,
        "numbers",
        "add",
        NUMBER,
        "-f",
        DEST,
        "--client",
        "[bold]Acme[/bold]",
        "--new-client",
    )

    assert "[bold]Acme[/bold]" in ok(database_url, "numbers", "list")


def test_remove(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST)
    ok(database_url, "numbers", "add", OTHER, "-f", DEST2)

    out = ok(database_url, "numbers", "remove", NUMBER)

    assert out == f"removed {NUMBER} (was forwarded to {DEST})\n"
    assert list(answer_table(database_url)[0]) == [OTHER]
    before = as_json(database_url, "numbers", "list")
    assert refused(database_url, "numbers", "remove", NUMBER) == (
        f"error: {NUMBER} is not in the table of numbers"
    )
    assert as_json(database_url, "numbers", "list") == before


def test_database_url_from_the_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKLINE_DATABASE_URL", database_url)

    ok(None, "numbers", "add", NUMBER, "-f", DEST)

    assert [n["number"] for n in as_json(None, "numbers", "list")] == [NUMBER]
    assert NUMBER in answer_table(database_url)[0]


def test_the_flag_overrides_the_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BACKLINE_DATABASE_URL", f"sqlite:///{tmp_path}/elsewhere.db")

    ok(database_url, "numbers", "add", NUMBER, "-f", DEST)

    assert NUMBER in answer_table(database_url)[0]
    assert not (tmp_path / "elsewhere.db").exists()


def test_a_database_without_tables_says_to_upgrade_first(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()

    for path in (missing, empty):
        for args in (["numbers", "list"], ["numbers", "add", NUMBER, "-f", DEST]):
            error = refused(f"sqlite:///{path}", *args)
            assert "run `backline db upgrade` first" in error
    assert not missing.exists()  # a mistyped path is not created as a side effect


def test_an_unsupported_database_url_is_refused() -> None:
    assert "is not supported" in refused("mysql://db/backline", "numbers", "list")


def test_an_unreachable_database_is_one_line(unused_port: int) -> None:
    error = refused(f"postgresql://nobody@127.0.0.1:{unused_port}/none", "numbers", "list")

    assert "cannot reach the database" in error


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_update_replies_with_what_changed(database_url: str) -> None:
    ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--message", "Hi")

    out = ok(
        database_url,
        "numbers",
        "update",
        NUMBER,
        "--no-message",
        "--language",
        "ja-JP",
        "--voice",
        "Polly.Mizuki",
        "--ring-timeout",
        "20",
        "--mode",
        "simultaneous",  # as it was: not a change
    )

    assert out.splitlines() == [
        f"updated {NUMBER} -> {DEST} (simultaneous, 20 s)",
        "  ring timeout: 30 s -> 20 s",
        "  message:      Hi -> (default)",
        "  language:     (default) -> ja-JP",
        "  voice:        (default) -> Polly.Mizuki",
    ]
    assert ok(database_url, "numbers", "update", NUMBER, "--ring-timeout", "20") == (
        f"nothing changed: {NUMBER} -> {DEST} (simultaneous, 20 s)\n"
    )


def test_an_unknown_client_is_refused_unless_asked_for(database_url: str) -> None:
    ok(database_url, "clients", "add", "Sakura Dental")
    ok(database_url, "numbers", "add", OTHER, "-f", DEST)
    before = as_json(database_url, "numbers", "list")

    # A typo is refused, with the near name; nothing is added, no second client appears.
    error = refused(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "Sakura Dentl")
    assert error == (
        "error: there is no client named 'Sakura Dentl' (did you mean 'Sakura Dental'?): "
        "check `backline clients list`, or add --new-client to create it"
    )
    assert "no client named 'Hikari'" in refused(
        database_url, "numbers", "update", OTHER, "--client", "Hikari"
    )
    assert as_json(database_url, "numbers", "list") == before
    assert [c["name"] for c in as_json(database_url, "clients", "list")] == ["Sakura Dental"]

    # Another case is the same client, not a new one.
    out = ok(database_url, "numbers", "add", NUMBER, "-f", DEST, "--client", "sakura dental")
    assert out == f"added {NUMBER} -> {DEST} (simultaneous, 30 s, client Sakura Dental)\n"

    # --new-client creates it, and says so.
    out = ok(database_url, "numbers", "update", OTHER, "--client", "Hikari", "--new-client")
    assert out.splitlines() == [
        "added client Hikari",
        f"updated {OTHER} -> {DEST} (simultaneous, 30 s, client Hikari)",
        "  client: (none) -> Hikari",
    ]
    counts = {c["name"]: c["numbers"] for c in as_json(database_url, "clients", "list")}
    assert counts == {"Hikari": 1, "Sakura Dental": 1}


def test_numbers_as_people_type_them(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Spaces and dashes: stored in E.164 form, nothing to say.
    ok(database_url, "numbers", "add", "+81 50-1234-5678", "-f", "+81 3-1234-5678")
    assert answer_table(database_url)[0][NUMBER].destinations == ("+81312345678",)
    # The trunk 0 kept after the country code: stored without it, and told so.
    result = invoke(database_url, "numbers", "update", NUMBER, "-f", "+810312345678")
    assert result.exit_code == 0, result.stderr
    assert "+81312345678" in result.stderr and "trunk 0" in result.stderr
    assert answer_table(database_url)[0][NUMBER].destinations == ("+81312345678",)
    # A number the library thinks is not in use: kept, with a warning.
    result = invoke(database_url, "numbers", "update", NUMBER, "-f", "+8150312345678")
    assert result.exit_code == 0 and "warning: +8150312345678" in result.stderr
    # National numbers need a region; the message shows the E.164 form.
    error = refused(database_url, "numbers", "update", NUMBER, "-f", "03-1234-5678")
    assert "+81312345678" in error and "BACKLINE_DEFAULT_REGION" in error
    monkeypatch.setenv("BACKLINE_DEFAULT_REGION", "jp")
    ok(
        database_url,
        "numbers",
        "update",
        "050-1234-5678",
        "-f",
        "03-1234-5678",
        "-f",
        "090-1111-2222",
    )
    assert answer_table(database_url)[0][NUMBER].destinations == ("+81312345678", "+819011112222")
    ok(database_url, "settings", "set", "catch-all", "03-5555-1111")
    assert answer_table(database_url)[1].catch_all == "+81355551111"
    monkeypatch.setenv("BACKLINE_DEFAULT_REGION", "XX")
    assert "BACKLINE_DEFAULT_REGION" in refused(database_url, "numbers", "show", "050-1234-5678")


def test_mixing_sip_and_numbers_says_how_they_will_ring(database_url: str) -> None:
    result = invoke(database_url, "numbers", "add", NUMBER, "-f", DEST, "-f", SIP, "-f", DEST2)
    assert result.exit_code == 0, result.stderr
    assert "note: " in result.stderr and "rings on its own" in result.stderr
