"""The fault suite's harness: a real `backline serve`, bursts of signed calls as Twilio sends
them, and the three things a user cares about, checked after every fault:

* every call answered with valid TwiML that forwards it, within Twilio's 15 s;
* no call record lost: every CallSid is in the database, once;
* no notification lost or sent twice: every call is in exactly one accepted message.
"""

from __future__ import annotations

import errno
import http.client
import itertools
import json
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from tests.processes import Server
from tests.standins import Received, StandIn
from tests.support import (
    AUTH_TOKEN,
    PUBLIC_URL,
    add_number,
    fallback_params,
    new_call_sid,
    query,
    signed_post,
    wait_for,
)

TWILIO = "+815031234567"
OFFICE = "+81312345678"
FALLBACK = "/twilio/voice/fallback"
# Twilio gives the fallback 15 s in all: the one deadline the suite holds the service to.
TWILIO_DEADLINE_SECONDS = 15.0


def environment(database_url: str, state: Path, **more: str) -> dict[str, str]:
    """A service that tells each call on its own (no outage grouping) and retries quickly."""
    return {
        "BACKLINE_DATABASE_URL": database_url,
        "BACKLINE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "BACKLINE_PUBLIC_URL": PUBLIC_URL,
        "BACKLINE_STATE_DIR": str(state),
        "BACKLINE_NOTIFY_LANGUAGE": "en",
        "BACKLINE_NOTIFY_QUIET_SECONDS": "0",
        "BACKLINE_NOTIFY_MIN_INTERVAL_SECONDS": "0",
        "BACKLINE_NOTIFY_RETRY_BASE_SECONDS": "0.2",
        "BACKLINE_NOTIFY_RETRY_MAX_SECONDS": "1",
        "BACKLINE_NOTIFY_SEND_TIMEOUT_SECONDS": "2",
        "BACKLINE_DB_TIMEOUT_SECONDS": "1",
        "BACKLINE_SNAPSHOT_REFRESH_SECONDS": "0.5",
        "BACKLINE_LOG_LEVEL": "WARNING",
        **more,
    }


def prepare(database_url: str, *channels: tuple[str, str]) -> None:
    """The number every call is made to, and the channels (kind, URL) that hear of them."""
    add_number(database_url, TWILIO, (OFFICE,))
    engine = make_engine(database_url)
    for kind, url in channels:
        add_channel(engine, kind, url, allow_private=True)  # the stand-ins are on 127.0.0.1
    engine.dispose()


@dataclass(frozen=True)
class Answer:
    call_sid: str
    caller: str
    status: int
    body: str
    seconds: float
    error: str = ""


_callers = itertools.count(1)


def new_caller() -> str:
    """A caller number no other call of this test run has (messages are matched by it)."""
    return f"+8190{next(_callers):08d}"


def call(base_url: str, call_sid: str, caller: str) -> Answer:
    """One fallback request, on a connection of its own (as Twilio makes them)."""
    params = fallback_params(TWILIO, call_sid=call_sid, from_=caller)
    body, headers = signed_post(FALLBACK, params)
    parts = urlsplit(base_url)
    started = time.monotonic()
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=TWILIO_DEADLINE_SECONDS + 5
    )
    try:
        connection.request("POST", FALLBACK, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        return Answer(call_sid, caller, response.status, text, time.monotonic() - started)
    except (OSError, http.client.HTTPException) as error:
        seconds = time.monotonic() - started
        return Answer(call_sid, caller, 0, "", seconds, f"{type(error).__name__}: {error}")
    finally:
        connection.close()


class Calls:
    """The calls of one test: made in bursts, each with its own CallSid and caller."""

    def __init__(self) -> None:
        self.made: dict[str, str] = {}  # CallSid -> caller

    def burst(
        self,
        server: Server,
        count: int,
        *,
        workers: int = 8,
        pace: float = 0.0,
        on_answer: Callable[[Answer], None] | None = None,
    ) -> list[Answer]:
        """``count`` calls, ``workers`` at a time; with ``pace``, call i starts ``i * pace``
        seconds in (open loop: traffic goes on however the service fares)."""
        wanted = [(new_call_sid(), new_caller()) for _ in range(count)]
        self.made.update(wanted)
        began = time.monotonic()

        def one(index: int) -> Answer:
            wait = began + index * pace - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            answer = call(server.base, *wanted[index])
            if on_answer is not None:
                on_answer(answer)
            return answer

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, range(count)))

    @property
    def sids(self) -> set[str]:
        return set(self.made)

    @property
    def callers(self) -> list[str]:
        return list(self.made.values())


def forwarded(answer: Answer) -> bool:
    """A 200 with TwiML that dials the office, within Twilio's deadline."""
    if answer.status != 200 or answer.seconds >= TWILIO_DEADLINE_SECONDS:
        return False
    try:
        root = ElementTree.fromstring(answer.body)
    except ElementTree.ParseError:
        return False
    dial = root.find("Dial")
    return (
        root.tag == "Response"
        and dial is not None
        and [number.text for number in dial.iter("Number")] == [OFFICE]
    )


def assert_answered_in_time(answers: Iterable[Answer]) -> None:
    failed = [answer for answer in answers if not forwarded(answer)]
    assert failed == [], [
        (a.call_sid, a.status, round(a.seconds, 2), a.error or a.body[:120]) for a in failed
    ]


def recorded(database_url: str) -> list[str]:
    return [str(row[0]) for row in query(database_url, "SELECT call_sid FROM calls")]


def assert_each_call_recorded_once(
    database_url: str, calls: Calls, timeout: float = 60, *, nothing_else: bool = True
) -> None:
    wait_for(
        lambda: set(recorded(database_url)) >= calls.sids,
        timeout=timeout,
        what="every call in the database",
    )
    stored = recorded(database_url)
    if nothing_else:
        assert sorted(stored) == sorted(calls.sids)
    else:
        assert sorted(sid for sid in stored if sid in calls.sids) == sorted(calls.sids)


def mentions(items: Iterable[Received], caller: str) -> list[Received]:
    return [item for item in items if caller in item.body.decode("utf-8", "replace")]


def assert_each_call_told_once(stand_in: StandIn, calls: Calls, timeout: float = 60) -> None:
    """Every caller in exactly one accepted message (a 2xx answer), none in two."""
    wait_for(
        lambda: all(mentions(stand_in.accepted(), caller) for caller in calls.callers),
        timeout=timeout,
        what="a message for every call",
    )
    time.sleep(0.5)  # a second copy, if one were coming, would follow right behind
    told = {caller: len(mentions(stand_in.accepted(), caller)) for caller in calls.callers}
    assert {caller: n for caller, n in told.items() if n != 1} == {}


def delivery_ids(items: Iterable[Received], caller: str) -> set[str]:
    return {item.headers.get("x-backline-delivery", "") for item in mentions(items, caller)}


def assert_each_call_delivered_once(stand_in: StandIn, calls: Calls, timeout: float = 60) -> None:
    """For a webhook: every caller in exactly one delivery. A receiver drops a repeat by its
    X-Backline-Delivery id (as documented), so a repeat with the same id is one delivery; a
    second id for the same call would be a second notification."""
    wait_for(
        lambda: all(mentions(stand_in.accepted(), caller) for caller in calls.callers),
        timeout=timeout,
        what="a delivery for every call",
    )
    time.sleep(0.5)
    ids = {caller: delivery_ids(stand_in.accepted(), caller) for caller in calls.callers}
    assert {caller: found for caller, found in ids.items() if len(found) != 1} == {}
    for item in stand_in.accepted():
        assert json.loads(item.body)["id"] == item.headers["x-backline-delivery"]


class SmallDisk:
    """A small tmpfs of its own for the state directory (where the journal lives), which the
    test can fill up or remount read-only under a running server, as a real disk does."""

    def __init__(self, path: Path, size: str = "4m") -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip(
                "cannot mount a small disk for the journal (needs root with CAP_SYS_ADMIN): "
                + mounted.stderr.strip()
            )
        self.filler = path / "filler"

    def fill(self) -> None:
        """Take every free byte (the files already there keep theirs)."""
        chunk = b"\0" * 65536
        with self.filler.open("ab") as handle:
            try:
                while True:
                    handle.write(chunk)
                    handle.flush()
            except OSError as error:
                if error.errno != errno.ENOSPC:
                    raise
        # What the page-sized writes left: fill that too, byte by byte in small pieces.
        with self.filler.open("ab", buffering=0) as handle:
            for size in (4096, 512, 1):
                try:
                    while True:
                        handle.write(b"\0" * size)
                except OSError:
                    continue

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def remount(self, mode: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{mode}", str(self.path)], check=True)

    def remove(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False, capture_output=True)
