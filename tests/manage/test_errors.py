"""One family of errors: a wrong value names its field, and is found before the database is."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from backline.core import validation
from backline.manage.channels import add_channel
from backline.manage.clients import add_client, merge_clients, rename_client
from backline.manage.engine import make_engine
from backline.manage.errors import (
    DatabaseError,
    InvalidValue,
    ManageError,
    NoSuchChannel,
    NotFound,
    UnknownClient,
)
from backline.manage.numbers import KEEP, add_number, change_number, check_fields
from backline.manage.settings import set_setting

NUMBER = "+815012345678"
DEST = "+81312345678"

# A database nobody listens on: any function that opened it would fail with DatabaseError.
NOWHERE = "postgresql+psycopg2://someone:secret@127.0.0.1:1/none"


@pytest.fixture
def nowhere() -> Engine:
    return make_engine(NOWHERE)


def test_the_tree() -> None:
    assert issubclass(InvalidValue, ManageError)
    assert issubclass(InvalidValue, validation.InvalidValue)  # callers of the checks catch it
    assert issubclass(UnknownClient, NotFound)
    assert issubclass(NoSuchChannel, NotFound)
    assert issubclass(NoSuchChannel, LookupError)
    assert issubclass(DatabaseError, ManageError)
    error = InvalidValue("ring_timeout", "too long")
    assert (error.field, str(error)) == ("ring_timeout", "too long")


@pytest.mark.parametrize(
    ("given", "wrong"),
    [
        ({"number": "12"}, "number"),
        ({"destinations": ["nowhere"]}, "destinations"),
        ({"destinations": [NUMBER]}, "destinations"),
        ({"mode": "sometimes"}, "mode"),
        ({"ring_timeout": 999}, "ring_timeout"),
        ({"caller_id": "nobody"}, "caller_id"),
        ({"language": "not a language"}, "language"),
        ({"client": "  "}, "client"),
        ({"hours": ["someday 25:00-26:00"]}, "hours"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"closed_on": ["2026-02-30"]}, "closed_on"),
        ({"holidays": "ZZ"}, "holidays"),
        ({"when_closed": f"forward:{NUMBER}"}, "when_closed"),
        ({"voicemail_max_length": 0}, "voicemail_max_length"),
    ],
)
def test_a_wrong_value_is_named_before_the_database_is_opened(
    nowhere: Engine, given: dict[str, Any], wrong: str
) -> None:
    arguments: dict[str, Any] = {"number": NUMBER, "destinations": [DEST], **given}
    with pytest.raises(InvalidValue) as added:
        add_number(nowhere, arguments.pop("number"), arguments.pop("destinations"), **arguments)
    assert added.value.field == wrong
    changes = {name: value for name, value in given.items() if name != "number"}
    with pytest.raises(InvalidValue) as changed:
        change_number(nowhere, given.get("number", NUMBER), **changes)
    assert changed.value.field == wrong
    assert str(changed.value) == str(added.value)


def test_check_fields_keeps_none_and_leaves_out_keep() -> None:
    checked = check_fields(
        NUMBER, {"mode": " Sequential ", "message": None, "voice": KEEP, "hours": []}
    )
    assert checked == {"mode": "sequential", "message": None, "hours": []}
    with pytest.raises(TypeError, match="no field 'colour'"):
        check_fields(NUMBER, {"colour": "red"})


@pytest.mark.parametrize(
    ("call", "wrong"),
    [
        (lambda engine: add_client(engine, ""), "name"),
        (lambda engine: rename_client(engine, "Acme", ""), "new"),
        (lambda engine: merge_clients(engine, "", "Acme"), "source"),
        (lambda engine: set_setting(engine, "colour", "red"), "key"),
        (lambda engine: set_setting(engine, "default-ring-timeout", "999"), "value"),
        (lambda engine: add_channel(engine, "pigeon", "roof"), "kind"),
        (lambda engine: add_channel(engine, "slack", "not a url"), "target"),
        (lambda engine: add_channel(engine, "email", "a@b.c", secret="x"), "secret"),
    ],
)
def test_every_manage_function_names_the_field(nowhere: Engine, call: Any, wrong: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        call(nowhere)
    assert caught.value.field == wrong


def test_a_good_value_then_meets_the_database(nowhere: Engine) -> None:
    with pytest.raises(DatabaseError, match="the database refused the change"):
        add_number(nowhere, NUMBER, [DEST])
