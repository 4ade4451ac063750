"""What tests across the suite share (fixtures stay in conftest.py files; a test module imports
helpers from here, never from a conftest).

Requests as Twilio sends them: every parameter of a real voice webhook, form-encoded, with
X-Twilio-Signature computed over the public URL by the official library. Rows put in and read
from a database as any writer would; ``backline`` run in a child process; waiting for a condition.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from backline.core.models import Call, Plan
from backline.store import calls
from backline.store.database import Database, utc_now
from backline.store.records import CallRecord, LegRecord

AUTH_TOKEN = "12345678901234567890123456789012"
PUBLIC_URL = "https://abc123.execute-api.ap-northeast-1.amazonaws.com/Prod"
# The PostgreSQL server the tests use (each test process makes a database of its own on it).
POSTGRES_ADMIN_URL = os.environ.get(
    "BACKLINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)

# The password of the web admin's users in the tests (long enough for the rule of 12).
ADMIN_PASSWORD = "correct horse battery staple"

_sids = itertools.count(1)


def csrf_of(html: str) -> str:
    """The CSRF token of the web admin's form in ``html``."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def new_call_sid() -> str:
    return f"CA{next(_sids):032x}"


def fallback_params(
    to: str,
    *,
    call_sid: str | None = None,
    from_: str = "+819012345678",
    error_code: str = "11200",
    error_url: str = "https://ivr.example.com/twilio/incoming",
) -> dict[str, str]:
    """The parameters of a fallback request, blank ones included (Twilio signs those too)."""
    return {
        "AccountSid": "AC" + "1" * 32,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid or new_call_sid(),
        "CallStatus": "ringing",
        "Called": to,
        "CalledCity": "",
        "CalledCountry": "JP",
        "CalledState": "",
        "CalledZip": "",
        "Caller": from_,
        "CallerCity": "",
        "CallerCountry": "JP",
        "CallerState": "",
        "CallerZip": "",
        "Direction": "inbound",
        "ErrorCode": error_code,
        "ErrorUrl": error_url,
        "From": from_,
        "FromCity": "",
        "FromCountry": "JP",
        "FromState": "",
        "FromZip": "",
        "To": to,
        "ToCity": "",
        "ToCountry": "JP",
        "ToState": "",
        "ToZip": "",
    }


def dial_params(
    call: dict[str, str], status: str, duration: int = 0, *, bridged: bool | None = None
) -> dict[str, str]:
    """What Twilio posts to the <Dial action> URL when a leg ends (``DialBridged``: whether the
    leg was connected to the caller; by default, when its status is an answer)."""
    if bridged is None:
        bridged = status in ("completed", "answered")
    return dict(
        call,
        CallStatus="in-progress",
        DialCallStatus=status,
        DialCallSid=new_call_sid(),
        DialCallDuration=str(duration),
        DialBridged="true" if bridged else "false",
    )


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


def signed_post(
    path_and_query: str,
    params: dict[str, str],
    *,
    public_url: str = PUBLIC_URL,
    token: str = AUTH_TOKEN,
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of a POST Twilio would send to ``public_url + path_and_query``."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": sign(public_url + path_and_query, params, token),
        "User-Agent": "TwilioProxy/1.1",
        "I-Twilio-Idempotency-Token": "0f2b7c3e-5d1a-4c2b-9a55-1b2c3d4e5f60",
    }
    return urlencode(params).encode(), headers


def wait_for(condition: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    """Poll until ``condition`` holds; fail with ``what`` otherwise (a bound, not a timing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what or condition}")


def run_backline(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`backline ...` in a child process, as typed in a shell."""
    return subprocess.run(
        [sys.executable, "-m", "backline.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


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


def empty_postgres(url: str) -> None:
    """Every table of the PostgreSQL database at ``url`` emptied (the schema stays)."""
    import psycopg2

    from backline.store.database import Database

    db = Database(url)
    connection = db.connect()
    cursor = connection.cursor()
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    present = {row[0] for row in cursor.fetchall()} - {"alembic_version"}
    if present:
        cursor.execute("TRUNCATE " + ", ".join(sorted(present)) + " RESTART IDENTITY CASCADE")
    connection.commit()
    connection.close()
    del psycopg2


def call_record(
    sid: str,
    *,
    to: str = "+81312345678",
    client: str | None = "Acme",
    outcome: str = "forwarding",
    at: str | None = None,
) -> CallRecord:
    call = Call(
        call_sid=sid,
        to=to,
        from_="+819011112222",
        error_code="11205",
        error_url="https://primary.example.com/voice",
    )
    plan = Plan((), outcome, "route", client, ("+819033334444",))  # type: ignore[arg-type]
    return CallRecord.build(call, plan, "<Response/>", at or utc_now())


def leg_record(
    sid: str, outcome: str = "answered", duration: int | None = 42, *, client: str | None = "Acme"
) -> LegRecord:
    call = Call(call_sid=sid, to="+81312345678", from_="+819011112222")
    plan = Plan((), outcome, "route", client, ("+819033334444",))  # type: ignore[arg-type]
    return LegRecord.build(
        call=call,
        step=0,
        plan=plan,
        status="completed",
        dial_call_sid="CAleg",
        duration=duration,
        answer="<Response/>",
        at=utc_now(),
    )


def record(database_url: str, *records: CallRecord | LegRecord) -> None:
    """Write records as the answer path does (calls + events in one transaction)."""
    database = Database(database_url)
    connection = database.connect()
    try:
        calls.apply(database, connection, list(records))
        connection.commit()
    finally:
        connection.close()


def add_client(database_url: str, name: str) -> None:
    from sqlalchemy import insert

    from backline.manage.engine import make_engine
    from backline.store.schema import clients

    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(insert(clients).values(name=name, created_at=utc_now()))
    engine.dispose()


def service_env(database_url: str, state_dir: Path, **extra: str) -> dict[str, str]:
    """The settings a ``backline`` process needs to answer signed calls, and ``extra``."""
    return {
        "BACKLINE_DATABASE_URL": database_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(state_dir),
        **extra,
    }


def refuse_caller(url: str, caller: str) -> None:
    """Make the database refuse one caller, as a constraint added by its owner would."""
    db = Database(url)
    connection = db.connect()
    cursor = connection.cursor()
    if db.dialect == "postgresql":
        cursor.execute(
            "ALTER TABLE calls ADD CONSTRAINT no_poison "
            f"CHECK (from_number <> '{caller}') NOT VALID"
        )
    else:
        cursor.execute(
            "CREATE TRIGGER no_poison BEFORE INSERT ON calls "
            f"WHEN NEW.from_number = '{caller}' BEGIN SELECT RAISE(ABORT, 'no_poison'); END"
        )
    connection.commit()
    connection.close()


def accept_everyone(url: str) -> None:
    db = Database(url)
    connection = db.connect()
    cursor = connection.cursor()
    if db.dialect == "postgresql":
        cursor.execute("ALTER TABLE calls DROP CONSTRAINT no_poison")
    else:
        cursor.execute("DROP TRIGGER no_poison")
    connection.commit()
    connection.close()
