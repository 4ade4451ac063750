from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from backline.config import Config
from backline.store.database import Database, utc_now
from backline.web.app import create_app


def add_number(
    database_url: str,
    number: str,
    destinations: tuple[str, ...],
    *,
    mode: str = "simultaneous",
    **columns: Any,
) -> None:
    """Put a route in the table the way any writer would: a plain row."""
    db = Database(database_url)
    connection = db.connect()
    cursor = connection.cursor()
    values = {
        "number": number,
        "destinations": json.dumps(destinations),
        "mode": mode,
        "ring_timeout": 20,
        "caller_id": "twilio-number",
        "message": None,
        "language": None,
        "voice": None,
        "enabled": True,
        "created_at": utc_now(),
        "updated_at": utc_now(),
    }
    values.update(columns)
    names = ", ".join(values)
    cursor.execute(db.sql("DELETE FROM numbers WHERE number = :number"), {"number": number})
    cursor.execute(
        db.sql(f"INSERT INTO numbers ({names}) VALUES ({', '.join(':' + k for k in values)})"),
        values,
    )
    connection.commit()
    connection.close()


def query(database_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    db = Database(database_url)
    connection = db.connect()
    cursor = connection.cursor()
    cursor.execute(db.sql(sql), params)
    rows = [tuple(row) for row in cursor.fetchall()]
    connection.close()
    return rows


@pytest.fixture
def client_for(make_config: Callable[..., Config]) -> Iterator[Callable[..., TestClient]]:
    """Start the real app (lifespan included) on a config; the Host header is deliberately
    not the public one, as behind a proxy."""
    started: list[TestClient] = []

    def start(database_url: str, **changes: object) -> TestClient:
        client = TestClient(
            create_app(make_config(database_url, **changes)), base_url="http://10.0.0.7:8000"
        )
        client.__enter__()
        started.append(client)
        return client

    yield start
    for client in started:
        client.__exit__(None, None, None)
