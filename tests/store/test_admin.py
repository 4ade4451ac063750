"""The management side's queries (backline.store.admin) on SQLite and PostgreSQL."""

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
from backline.core.validation import InvalidValue
from backline.store import admin
from backline.store.calls import apply, load_table
from backline.store.database import Database
from backline.store.records import CallRecord, LegRecord

NUMBER = "+815012345678"
OTHER = "+815012345679"
DEST = "+81312345678"
DEST2 = "+81698765432"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = admin.open_engine(database_url)
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


def test_open_engine_needs_the_tables(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()

    for path in (missing, empty):
        with pytest.raises(admin.SchemaMissing, match="backline db upgrade"):
            admin.open_engine(f"sqlite:///{path}")
    assert not missing.exists()


def test_open_engine_unreachable() -> None:
    with pytest.raises(admin.DatabaseError, match="cannot reach the database") as caught:
        admin.open_engine("postgresql+psycopg2://someone:secret@127.0.0.1:1/none")
    assert "secret" not in str(caught.value)


# --- numbers -------------------------------------------------------------------------------------


def test_add_get_list_remove(engine: Engine) -> None:
    added = admin.add_number(
        engine, NUMBER, [DEST2, DEST], client="Acme", new_client=True, mode="sequential"
    )
    admin.add_number(engine, OTHER, [DEST])

    assert added == admin.get_number(engine, NUMBER)
    assert added.destinations == (DEST2, DEST)
    assert added.client == "Acme"
    assert added.ring_timeout == 30
    assert added.created_at == added.updated_at
    assert [n.number for n in admin.list_numbers(engine)] == [NUMBER, OTHER]
    assert [n.number for n in admin.list_numbers(engine, "Acme")] == [NUMBER]
    assert answer_table(engine)[0][NUMBER] == Route(
        NUMBER, (DEST2, DEST), mode="sequential", client="Acme"
    )

    assert admin.remove_number(engine, NUMBER) == added
    assert [n.number for n in admin.list_numbers(engine)] == [OTHER]
    with pytest.raises(admin.NotFound):
        admin.get_number(engine, NUMBER)
    with pytest.raises(admin.NotFound):
        admin.remove_number(engine, NUMBER)


def test_add_normalises_through_validation(engine: Engine) -> None:
    entry = admin.add_number(
        engine, "+81 50 1234 5678", ["+81 3-1234-5678"], mode="SEQUENTIAL", language="en-us"
    )

    assert (entry.number, entry.destinations, entry.mode, entry.language) == (
        NUMBER,
        (DEST,),
        "sequential",
        "en-US",
    )


def test_add_refusals_change_nothing(engine: Engine) -> None:
    admin.add_number(engine, NUMBER, [DEST])
    before = admin.list_numbers(engine)

    with pytest.raises(admin.AlreadyExists):
        admin.add_number(engine, NUMBER, [DEST2], client="New", new_client=True)
    with pytest.raises(InvalidValue):
        admin.add_number(engine, OTHER, [DEST], client="New", new_client=True, ring_timeout=1)
    with pytest.raises(admin.UnknownClient, match="no client named 'New'"):
        admin.add_number(engine, OTHER, [DEST], client="New")
    with pytest.raises(InvalidValue):
        admin.add_number(engine, OTHER, [])
    with pytest.raises(InvalidValue):
        admin.add_number(engine, OTHER, [OTHER])

    assert admin.list_numbers(engine) == before
    assert admin.list_clients(engine) == []


def test_update_keeps_clears_and_stamps(engine: Engine) -> None:
    added = admin.add_number(
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

    updated = admin.update_number(engine, NUMBER, message=None, voice="woman", enabled=False)

    assert (updated.message, updated.language, updated.voice) == (None, "en-US", "woman")
    assert updated.client == "Acme"
    assert updated.enabled is False
    assert updated.created_at == added.created_at
    assert updated.updated_at > added.updated_at

    tick()
    moved = admin.update_number(
        engine, NUMBER, client="Beta", new_client=True, destinations=[DEST2, DEST]
    )
    assert moved.client == "Beta"
    assert moved.destinations == (DEST2, DEST)
    assert moved.updated_at > updated.updated_at
    assert admin.update_number(engine, NUMBER, client=None).client is None


def test_update_refusals_change_nothing(engine: Engine) -> None:
    admin.add_number(engine, NUMBER, [DEST])
    before = admin.list_numbers(engine)

    with pytest.raises(admin.NotFound):
        admin.update_number(engine, OTHER, client="New", new_client=True)
    with pytest.raises(InvalidValue):
        admin.update_number(engine, NUMBER, client="New", new_client=True, mode="loud")
    with pytest.raises(admin.UnknownClient):
        admin.update_number(engine, NUMBER, client="New")
    with pytest.raises(InvalidValue):
        admin.update_number(engine, NUMBER, destinations=[DEST] * 2)

    assert admin.list_numbers(engine) == before
    assert admin.list_clients(engine) == []


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
    engine = admin.open_engine(sqlite_url)
    acceptable = (
        1 <= len(destinations) <= admin.MAX_DESTINATIONS
        and len(set(destinations)) == len(destinations)
        and NUMBER not in destinations
    )
    try:
        admin.add_number(engine, NUMBER, destinations)
    except InvalidValue:
        assert not acceptable
        assert admin.list_numbers(engine) == []
    else:
        assert acceptable
        assert admin.get_number(engine, NUMBER).destinations == tuple(destinations)
        admin.remove_number(engine, NUMBER)


# --- clients -------------------------------------------------------------------------------------


def test_clients(engine: Engine) -> None:
    acme = admin.add_client(engine, "  Acme  ")
    assert (acme.name, acme.numbers) == ("Acme", 0)
    with pytest.raises(admin.AlreadyExists):
        admin.add_client(engine, "Acme")
    assert admin.get_or_create_client(engine, "Acme") == admin.get_or_create_client(engine, "Acme")
    admin.get_or_create_client(engine, "Beta")
    admin.add_number(engine, NUMBER, [DEST], client="Beta")

    assert [(c.name, c.numbers) for c in admin.list_clients(engine)] == [("Acme", 0), ("Beta", 1)]

    renamed = admin.rename_client(engine, "Beta", "Gamma")
    assert (renamed.name, renamed.numbers) == ("Gamma", 1)
    assert admin.get_number(engine, NUMBER).client == "Gamma"
    with pytest.raises(admin.AlreadyExists):
        admin.rename_client(engine, "Gamma", "Acme")
    with pytest.raises(admin.NotFound):
        admin.rename_client(engine, "Beta", "Delta")
    with pytest.raises(InvalidValue):
        admin.add_client(engine, "bad\x00name")


def test_client_names_match_in_any_case(engine: Engine) -> None:
    admin.add_client(engine, "Sakura Dental")

    entry = admin.add_number(engine, NUMBER, [DEST], client="sakura DENTAL")

    assert entry.client == "Sakura Dental"
    assert [(c.name, c.numbers) for c in admin.list_clients(engine)] == [("Sakura Dental", 1)]
    with pytest.raises(admin.AlreadyExists, match="'Sakura Dental' already exists"):
        admin.add_client(engine, "SAKURA dental")
    assert admin.find_client(engine, "sakura dental") == "Sakura Dental"
    assert [n.number for n in admin.list_numbers(engine, "SAKURA DENTAL")] == [NUMBER]
    # A change of case is a rename like any other.
    assert admin.rename_client(engine, "sakura dental", "SAKURA Dental").name == "SAKURA Dental"
    with pytest.raises(admin.UnknownClient, match=r"did you mean 'SAKURA Dental'\?"):
        admin.add_number(engine, OTHER, [DEST], client="Sakura Dentl")


def test_two_clients_in_different_cases_are_told_apart_or_refused(engine: Engine) -> None:
    """Made before names matched in any case: the exact spelling still finds each one."""
    from backline.store.schema import clients

    with engine.begin() as connection:
        for name in ("Sakura Dental", "sakura dental"):
            connection.execute(clients.insert().values(name=name, created_at="2026-01-01"))
    admin.add_number(engine, NUMBER, [DEST], client="sakura dental")

    assert admin.get_number(engine, NUMBER).client == "sakura dental"
    with pytest.raises(admin.Ambiguous, match="clients merge"):
        admin.add_number(engine, OTHER, [DEST], client="SAKURA DENTAL")


def test_merge_moves_numbers_and_channels_then_removes_the_client(engine: Engine) -> None:
    from backline.notify.admin import add_channel, list_channels
    from backline.store.schema import clients

    with engine.begin() as connection:
        for name in ("Sakura Dental", "sakura dental"):
            connection.execute(clients.insert().values(name=name, created_at="2026-01-01"))
    admin.add_number(engine, NUMBER, [DEST], client="Sakura Dental")
    admin.add_number(engine, OTHER, [DEST], client="sakura dental")
    add_channel(engine, "sms", "+819011112222", client="sakura dental")
    tick()

    merged = admin.merge_clients(engine, "sakura dental", "Sakura Dental")

    assert merged == ("sakura dental", "Sakura Dental", 1, 1)
    assert [(c.name, c.numbers) for c in admin.list_clients(engine)] == [("Sakura Dental", 2)]
    assert [c.spec.client for c in list_channels(engine)] == ["Sakura Dental"]
    assert answer_table(engine)[0][OTHER].client == "Sakura Dental"
    with pytest.raises(InvalidValue, match="same client"):
        admin.merge_clients(engine, "Sakura Dental", "SAKURA DENTAL")
    with pytest.raises(admin.NotFound):
        admin.merge_clients(engine, "Nobody", "Sakura Dental")


def test_remove_client_in_use(engine: Engine) -> None:
    admin.add_client(engine, "Acme")
    admin.add_number(engine, NUMBER, [DEST], client="Acme")
    admin.add_number(engine, OTHER, [DEST], client="acme")
    before = (admin.list_clients(engine), admin.list_numbers(engine))

    with pytest.raises(admin.InUse, match="2 numbers"):
        admin.remove_client(engine, "Acme")
    assert (admin.list_clients(engine), admin.list_numbers(engine)) == before

    tick()
    assert admin.remove_client(engine, "Acme", force=True) == 2
    assert admin.list_clients(engine) == []
    after = admin.list_numbers(engine)
    assert [n.client for n in after] == [None, None]
    assert all(a.updated_at > b.updated_at for a, b in zip(after, before[1], strict=True))
    with pytest.raises(admin.NotFound):
        admin.remove_client(engine, "Acme")


# --- settings ------------------------------------------------------------------------------------


def test_settings(engine: Engine) -> None:
    assert admin.get_settings(engine) == {}

    assert admin.set_setting(engine, "default-language", "en-us") == "en-US"
    assert admin.set_setting(engine, "catch_all", "+81 3 1234 5678") == DEST
    assert admin.set_setting(engine, "default-ring-timeout", "40") == "40"
    assert admin.set_setting(engine, "default-ring-timeout", "50") == "50"

    assert admin.get_settings(engine) == {
        "default_language": "en-US",
        "catch_all": DEST,
        "default_ring_timeout": "50",
    }
    defaults = answer_table(engine)[1]
    assert (defaults.language, defaults.catch_all, defaults.ring_timeout) == ("en-US", DEST, 50)
    assert admin.add_number(engine, NUMBER, [DEST2]).ring_timeout == 50

    assert admin.unset_setting(engine, "catch-all") is True
    assert admin.unset_setting(engine, "catch-all") is False
    assert "catch_all" not in admin.get_settings(engine)


def test_bad_settings_change_nothing(engine: Engine) -> None:
    admin.set_setting(engine, "default-voice", "Polly.Takumi")

    with pytest.raises(InvalidValue, match="default-message, default-language"):
        admin.set_setting(engine, "colour", "blue")
    with pytest.raises(InvalidValue):
        admin.set_setting(engine, "default-voice", "robot")
    with pytest.raises(InvalidValue):
        admin.unset_setting(engine, "voice")
    with pytest.raises(InvalidValue, match=r"cannot speak ja-JP.*Polly\.Mizuki"):
        admin.set_setting(engine, "default-voice", "Polly.Joanna")
    with pytest.raises(InvalidValue, match=r"cannot speak en-US.*unset default-voice"):
        admin.set_setting(engine, "default-language", "en-US")

    assert admin.get_settings(engine) == {"default_voice": "Polly.Takumi"}


def test_default_language_and_voice_change_together_in_a_clear_order(engine: Engine) -> None:
    admin.set_setting(engine, "default-voice", "Polly.Takumi")
    admin.unset_setting(engine, "default-voice")
    admin.set_setting(engine, "default-language", "en-US")  # its default voice applies now
    admin.set_setting(engine, "default-voice", "Polly.Matthew-Neural")
    assert admin.get_settings(engine) == {
        "default_language": "en-US",
        "default_voice": "Polly.Matthew-Neural",
    }
    # A route's own language picks its own default voice; a pair that cannot work is refused.
    admin.add_number(engine, NUMBER, [DEST], language="ja-JP")
    with pytest.raises(InvalidValue, match="cannot speak ja-JP"):
        admin.update_number(engine, NUMBER, voice="Polly.Joanna")
    with pytest.raises(InvalidValue, match="cannot speak en-US"):
        admin.update_number(engine, NUMBER, language=None, voice="Polly.Lea")
    admin.update_number(engine, NUMBER, language="en-US", voice="Polly.Joanna")
    assert admin.get_number(engine, NUMBER).voice == "Polly.Joanna"


def test_built_in_settings_match_the_answer_path(engine: Engine) -> None:
    built_in = admin.built_in_settings()
    defaults = answer_table(engine)[1]

    assert set(built_in) == set(admin.SETTING_KEYS)
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

    listed = admin.list_calls(engine)

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
    assert [c.call_sid for c in admin.list_calls(engine, limit=1)] == ["CA2"]
    with pytest.raises(InvalidValue):
        admin.list_calls(engine, limit=0)
