"""The management functions (backline.manage) on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from backline.core.models import Defaults, Route
from backline.core.validation import MAX_DESTINATIONS, InvalidValue
from backline.manage.calls import list_calls
from backline.manage.clients import (
    add_client,
    find_client,
    get_or_create_client,
    list_clients,
    merge_clients,
    remove_client,
    rename_client,
)
from backline.manage.engine import open_database
from backline.manage.errors import (
    AlreadyExists,
    Ambiguous,
    DatabaseError,
    InUse,
    NotFound,
    SchemaMissing,
    UnknownClient,
)
from backline.manage.numbers import (
    add_number,
    change_number,
    get_number,
    list_numbers,
    remove_number,
)
from backline.manage.settings import (
    SETTING_KEYS,
    built_in_settings,
    get_settings,
    set_setting,
    unset_setting,
)
from backline.store.calls import apply, load_table
from backline.store.database import Database
from backline.store.records import CallRecord, LegRecord

NUMBER = "+815012345678"
OTHER = "+815012345679"
DEST = "+81312345678"
DEST2 = "+81698765432"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = open_database(database_url)
    yield engine
    engine.dispose()


def answer_table(engine: Engine) -> tuple[dict[str, Route], Defaults]:
    db = Database(engine.url.render_as_string(hide_password=False))
    connection = db.connect()
    try:
        return load_table(db, connection)
    finally:
        connection.close()


def tick() -> None:
    """Let the clock move on, so a later timestamp is a larger one."""
    time.sleep(0.002)


# --- opening -------------------------------------------------------------------------------------


def test_open_database_needs_the_tables(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()

    for path in (missing, empty):
        with pytest.raises(SchemaMissing, match="backline db upgrade"):
            open_database(f"sqlite:///{path}")
    assert not missing.exists()


def test_open_database_unreachable() -> None:
    with pytest.raises(DatabaseError, match="cannot reach the database") as caught:
        open_database("postgresql+psycopg2://someone:secret@127.0.0.1:1/none")
    assert "secret" not in str(caught.value)


# --- numbers -------------------------------------------------------------------------------------


def test_add_get_list_remove(engine: Engine) -> None:
    added = add_number(
        engine, NUMBER, [DEST2, DEST], client="Acme", new_client=True, mode="sequential"
    )
    add_number(engine, OTHER, [DEST])

    assert added == get_number(engine, NUMBER)
    assert added.destinations == (DEST2, DEST)
    assert added.client == "Acme"
    assert added.ring_timeout == 30
    assert added.created_at == added.updated_at
    assert [n.number for n in list_numbers(engine)] == [NUMBER, OTHER]
    assert [n.number for n in list_numbers(engine, "Acme")] == [NUMBER]
    assert answer_table(engine)[0][NUMBER] == Route(
        NUMBER, (DEST2, DEST), mode="sequential", client="Acme"
    )

    assert remove_number(engine, NUMBER) == added
    assert [n.number for n in list_numbers(engine)] == [OTHER]
    with pytest.raises(NotFound):
        get_number(engine, NUMBER)
    with pytest.raises(NotFound):
        remove_number(engine, NUMBER)


def test_add_normalises_through_validation(engine: Engine) -> None:
    entry = add_number(
        engine, "+81 50 1234 5678", ["+81 3-1234-5678"], mode="SEQUENTIAL", language="en-us"
    )

    assert (entry.number, entry.destinations, entry.mode, entry.language) == (
        NUMBER,
        (DEST,),
        "sequential",
        "en-US",
    )


def test_add_refusals_change_nothing(engine: Engine) -> None:
    add_number(engine, NUMBER, [DEST])
    before = list_numbers(engine)

    with pytest.raises(AlreadyExists):
        add_number(engine, NUMBER, [DEST2], client="New", new_client=True)
    with pytest.raises(InvalidValue):
        add_number(engine, OTHER, [DEST], client="New", new_client=True, ring_timeout=1)
    with pytest.raises(UnknownClient, match="no client named 'New'"):
        add_number(engine, OTHER, [DEST], client="New")
    with pytest.raises(InvalidValue):
        add_number(engine, OTHER, [])
    with pytest.raises(InvalidValue):
        add_number(engine, OTHER, [OTHER])

    assert list_numbers(engine) == before
    assert list_clients(engine) == []


def test_update_keeps_clears_and_stamps(engine: Engine) -> None:
    added = add_number(
        engine,
        NUMBER,
        [DEST],
        client="Acme",
        new_client=True,
        message="Hi",
        language="en-US",
        voice="Polly.Salli",
    )
    tick()

    updated = change_number(engine, NUMBER, message=None, voice="woman", enabled=False).after

    assert (updated.message, updated.language, updated.voice) == (None, "en-US", "woman")
    assert updated.client == "Acme"
    assert updated.enabled is False
    assert updated.created_at == added.created_at
    assert updated.updated_at > added.updated_at

    tick()
    moved = change_number(
        engine, NUMBER, client="Beta", new_client=True, destinations=[DEST2, DEST]
    ).after
    assert moved.client == "Beta"
    assert moved.destinations == (DEST2, DEST)
    assert moved.updated_at > updated.updated_at
    assert change_number(engine, NUMBER, client=None).after.client is None


def test_update_refusals_change_nothing(engine: Engine) -> None:
    add_number(engine, NUMBER, [DEST])
    before = list_numbers(engine)

    with pytest.raises(NotFound):
        change_number(engine, OTHER, client="New", new_client=True)
    with pytest.raises(InvalidValue):
        change_number(engine, NUMBER, client="New", new_client=True, mode="loud")
    with pytest.raises(UnknownClient):
        change_number(engine, NUMBER, client="New")
    with pytest.raises(InvalidValue):
        change_number(engine, NUMBER, destinations=[DEST] * 2)

    assert list_numbers(engine) == before
    assert list_clients(engine) == []


E164 = st.sampled_from([f"+8131234{i:04d}" for i in range(12)] + [NUMBER])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(destinations=st.lists(E164, max_size=12))
def test_destination_lists_are_kept_in_order_or_refused_whole(
    sqlite_url: str, destinations: list[str]
) -> None:
    engine = open_database(sqlite_url)
    acceptable = (
        1 <= len(destinations) <= MAX_DESTINATIONS
        and len(set(destinations)) == len(destinations)
        and NUMBER not in destinations
    )
    try:
        add_number(engine, NUMBER, destinations)
    except InvalidValue:
        assert not acceptable
        assert list_numbers(engine) == []
    else:
        assert acceptable
        assert get_number(engine, NUMBER).destinations == tuple(destinations)
        remove_number(engine, NUMBER)


# --- clients -------------------------------------------------------------------------------------


def test_clients(engine: Engine) -> None:
    acme = add_client(engine, "  Acme  ")
    assert (acme.name, acme.numbers) == ("Acme", 0)
    with pytest.raises(AlreadyExists):
        add_client(engine, "Acme")
    assert get_or_create_client(engine, "Acme") == get_or_create_client(engine, "Acme")
    get_or_create_client(engine, "Beta")
    add_number(engine, NUMBER, [DEST], client="Beta")

    assert [(c.name, c.numbers) for c in list_clients(engine)] == [("Acme", 0), ("Beta", 1)]

    renamed = rename_client(engine, "Beta", "Gamma")
    assert (renamed.name, renamed.numbers) == ("Gamma", 1)
    assert get_number(engine, NUMBER).client == "Gamma"
    with pytest.raises(AlreadyExists):
        rename_client(engine, "Gamma", "Acme")
    with pytest.raises(NotFound):
        rename_client(engine, "Beta", "Delta")
    with pytest.raises(InvalidValue):
        add_client(engine, "bad\x00name")


def test_client_names_match_in_any_case(engine: Engine) -> None:
    add_client(engine, "Sakura Dental")

    entry = add_number(engine, NUMBER, [DEST], client="sakura DENTAL")

    assert entry.client == "Sakura Dental"
    assert [(c.name, c.numbers) for c in list_clients(engine)] == [("Sakura Dental", 1)]
    with pytest.raises(AlreadyExists, match="'Sakura Dental' already exists"):
        add_client(engine, "SAKURA dental")
    assert find_client(engine, "sakura dental") == "Sakura Dental"
    assert [n.number for n in list_numbers(engine, "SAKURA DENTAL")] == [NUMBER]
    # A change of case is a rename like any other.
    assert rename_client(engine, "sakura dental", "SAKURA Dental").name == "SAKURA Dental"
    with pytest.raises(UnknownClient, match=r"did you mean 'SAKURA Dental'\?"):
        add_number(engine, OTHER, [DEST], client="Sakura Dentl")


def test_two_clients_in_different_cases_are_told_apart_or_refused(engine: Engine) -> None:
    """Made before names matched in any case: the exact spelling still finds each one."""
    from backline.store.schema import clients

    with engine.begin() as connection:
        for name in ("Sakura Dental", "sakura dental"):
            connection.execute(clients.insert().values(name=name, created_at="2026-01-01"))
    add_number(engine, NUMBER, [DEST], client="sakura dental")

    assert get_number(engine, NUMBER).client == "sakura dental"
    with pytest.raises(Ambiguous, match="clients merge"):
        add_number(engine, OTHER, [DEST], client="SAKURA DENTAL")


def test_merge_moves_numbers_and_channels_then_removes_the_client(engine: Engine) -> None:
    from backline.manage.channels import add_channel, list_channels
    from backline.store.schema import clients

    with engine.begin() as connection:
        for name in ("Sakura Dental", "sakura dental"):
            connection.execute(clients.insert().values(name=name, created_at="2026-01-01"))
    add_number(engine, NUMBER, [DEST], client="Sakura Dental")
    add_number(engine, OTHER, [DEST], client="sakura dental")
    add_channel(engine, "sms", "+819011112222", client="sakura dental")
    tick()

    merged = merge_clients(engine, "sakura dental", "Sakura Dental")

    assert merged == ("sakura dental", "Sakura Dental", 1, 1)
    assert [(c.name, c.numbers) for c in list_clients(engine)] == [("Sakura Dental", 2)]
    assert [c.spec.client for c in list_channels(engine)] == ["Sakura Dental"]
    assert answer_table(engine)[0][OTHER].client == "Sakura Dental"
    with pytest.raises(InvalidValue, match="same client"):
        merge_clients(engine, "Sakura Dental", "SAKURA DENTAL")
    with pytest.raises(NotFound):
        merge_clients(engine, "Nobody", "Sakura Dental")


def test_remove_client_in_use(engine: Engine) -> None:
    add_client(engine, "Acme")
    add_number(engine, NUMBER, [DEST], client="Acme")
    add_number(engine, OTHER, [DEST], client="acme")
    before = (list_clients(engine), list_numbers(engine))

    with pytest.raises(InUse, match="2 numbers"):
        remove_client(engine, "Acme")
    assert (list_clients(engine), list_numbers(engine)) == before

    tick()
    assert remove_client(engine, "Acme", force=True) == 2
    assert list_clients(engine) == []
    after = list_numbers(engine)
    assert [n.client for n in after] == [None, None]
    assert all(a.updated_at > b.updated_at for a, b in zip(after, before[1], strict=True))
    with pytest.raises(NotFound):
        remove_client(engine, "Acme")


# --- settings ------------------------------------------------------------------------------------


def test_settings(engine: Engine) -> None:
    assert get_settings(engine) == {}

    assert set_setting(engine, "default-language", "en-us") == "en-US"
    assert set_setting(engine, "catch_all", "+81 3 1234 5678") == DEST
    assert set_setting(engine, "default-ring-timeout", "40") == "40"
    assert set_setting(engine, "default-ring-timeout", "50") == "50"

    assert get_settings(engine) == {
        "default_language": "en-US",
        "catch_all": DEST,
        "default_ring_timeout": "50",
    }
    defaults = answer_table(engine)[1]
    assert (defaults.language, defaults.catch_all, defaults.ring_timeout) == ("en-US", DEST, 50)
    assert add_number(engine, NUMBER, [DEST2]).ring_timeout == 50

    assert unset_setting(engine, "catch-all") is True
    assert unset_setting(engine, "catch-all") is False
    assert "catch_all" not in get_settings(engine)


def test_bad_settings_change_nothing(engine: Engine) -> None:
    set_setting(engine, "default-voice", "Polly.Takumi")

    with pytest.raises(InvalidValue, match="default-message, default-language"):
        set_setting(engine, "colour", "blue")
    with pytest.raises(InvalidValue):
        set_setting(engine, "default-voice", "robot")
    with pytest.raises(InvalidValue):
        unset_setting(engine, "voice")
    with pytest.raises(InvalidValue, match=r"cannot speak ja-JP.*Polly\.Mizuki"):
        set_setting(engine, "default-voice", "Polly.Joanna")
    with pytest.raises(InvalidValue, match=r"cannot speak en-US.*unset default-voice"):
        set_setting(engine, "default-language", "en-US")

    assert get_settings(engine) == {"default_voice": "Polly.Takumi"}


def test_default_language_and_voice_change_together_in_a_clear_order(engine: Engine) -> None:
    set_setting(engine, "default-voice", "Polly.Takumi")
    unset_setting(engine, "default-voice")
    set_setting(engine, "default-language", "en-US")  # its default voice applies now
    set_setting(engine, "default-voice", "Polly.Matthew-Neural")
    assert get_settings(engine) == {
        "default_language": "en-US",
        "default_voice": "Polly.Matthew-Neural",
    }
    # A route's own language picks its own default voice; a pair that cannot work is refused.
    add_number(engine, NUMBER, [DEST], language="ja-JP")
    with pytest.raises(InvalidValue, match="cannot speak ja-JP"):
        change_number(engine, NUMBER, voice="Polly.Joanna")
    with pytest.raises(InvalidValue, match="cannot speak en-US"):
        change_number(engine, NUMBER, language=None, voice="Polly.Lea")
    change_number(engine, NUMBER, language="en-US", voice="Polly.Joanna")
    assert get_number(engine, NUMBER).voice == "Polly.Joanna"


def test_built_in_settings_match_the_answer_path(engine: Engine) -> None:
    built_in = built_in_settings()
    defaults = answer_table(engine)[1]

    assert set(built_in) == set(SETTING_KEYS)
    assert built_in["default_message"] == defaults.message
    assert built_in["catch_all"] is None
    assert built_in["default_ring_timeout"] == str(defaults.ring_timeout)


# --- the call log --------------------------------------------------------------------------------


def _call(sid: str, at: str) -> CallRecord:
    return CallRecord(
        sid,
        "AC1",
        NUMBER,
        "+819012345678",
        "inbound",
        "11200",
        "",
        "Acme",
        "route",
        (DEST, DEST2),
        "forwarding",
        "<Response/>",
        at,
    )


def _leg(sid: str, step: int, status: str, at: str) -> LegRecord:
    return LegRecord(
        sid,
        step,
        NUMBER,
        "+819012345678",
        "Acme",
        ((DEST, DEST2)[step],),
        f"CD{step}",
        status,
        7 if status == "completed" else None,
        "answered" if status == "completed" else "forwarding",
        "<Response/>",
        at,
    )


def test_list_calls(engine: Engine) -> None:
    db = Database(engine.url.render_as_string(hide_password=False))
    connection = db.connect()
    apply(
        db,
        connection,
        [
            _call("CA1", "2026-11-24T01:00:00.000000Z"),
            _leg("CA1", 1, "completed", "2026-11-24T01:00:40.000000Z"),
            _leg("CA1", 0, "busy", "2026-11-24T01:00:10.000000Z"),
            _call("CA2", "2026-11-24T03:00:00.000000Z"),
            _call("CA3", "2026-11-24T02:00:00.000000Z"),
            _leg("CA9", 0, "busy", "2026-11-24T02:00:00.000000Z"),  # a leg without its call
        ],
    )
    connection.commit()
    connection.close()

    listed = list_calls(engine)

    assert [c.call_sid for c in listed] == ["CA2", "CA3", "CA1"]
    first = listed[2]
    assert [(leg.step, leg.status, leg.duration) for leg in first.legs] == [
        (0, "busy", None),
        (1, "completed", 7),
    ]
    assert first.outcome == "answered"
    assert first.duration == 7
    assert first.destinations == (DEST, DEST2)
    assert first.to_json()["from"] == "+819012345678"
    assert [c.call_sid for c in list_calls(engine, limit=1)] == ["CA2"]
    with pytest.raises(InvalidValue):
        list_calls(engine, limit=0)
