"""An outage of diverted calls that spans the database's return is told as one story.

A real outage: PostgreSQL is cut off behind a TCP relay while calls keep coming, so the serving
process journals them and tells the team from its local outbox; then the database comes back,
the journal is replayed, and later calls are recorded in the database again. What the team reads
must be one story: the first call, summaries whose counts only grow, a message that the database
is back and the outage goes on, and one closing, on time, counting every call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from starlette.testclient import TestClient

from backline.service import Service
from backline.web.app import create_app
from tests.notify.test_dispatcher import slack
from tests.processes import Relay
from tests.standins import StandIn
from tests.support import wait_for

# An outage ends after 3 s without a call; summaries at most every second.
STORY = {
    "notify_quiet_seconds": 3.0,
    "notify_summary_seconds": 1.0,
    "notify_min_interval_seconds": 0.0,
    "notify_send_timeout_seconds": 2.0,
    "notify_retry_base_seconds": 0.05,
    "notify_retry_max_seconds": 0.2,
    "notify_poll_seconds": 0.05,
    "notify_language": "en",
}
CALL_EVERY = 0.4  # well inside the quiet period: the outage goes on while calls come


@pytest.fixture
def proxied(postgres_url: str) -> Iterator[tuple[str, Relay]]:
    from tests.support import empty_postgres

    empty_postgres(postgres_url)
    parts = urlsplit(postgres_url)
    relay = Relay((parts.hostname or "127.0.0.1", parts.port or 5432))
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    yield urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{relay.port}")), relay
    relay.close()


class Caller:
    """Diverted calls, one every CALL_EVERY seconds while a condition waits."""

    def __init__(self, service: Service) -> None:
        self.client = TestClient(create_app(service=service))
        self.count = 0

    def call(self) -> None:
        self.count += 1
        answer = self.client.post(
            "/twilio/voice/fallback",
            data={
                "CallSid": f"CAstory{self.count:04d}",
                "To": "+81312345678",
                "From": "+819011112222",
                "ErrorCode": "11205",
            },
        )
        assert answer.status_code == 200 and "<Response>" in answer.text

    def calling_until(self, condition: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.call()
            time.sleep(CALL_EVERY)


def counted(text: str) -> int:
    found = re.search(r"(\d+) diverted call\(s\)", text.splitlines()[0])
    assert found, text
    return int(found.group(1))


def check_one_story(texts: list[str], calls: int) -> None:
    titles = [text.splitlines()[0] for text in texts]
    assert titles[0].startswith("Diverted call"), titles
    assert sum(title.startswith("Diverted call") for title in titles) == 1, titles
    assert sum(title.startswith("Outage over") for title in titles) == 1, titles
    assert titles[-1].startswith("Outage over"), titles
    # The database's return is told once, inside the story, as news that it goes on.
    back = [i for i, title in enumerate(titles) if title.startswith("Database back")]
    assert len(back) == 1, titles
    assert 0 < back[0] < len(titles) - 1
    summaries = [counted(text) for text in texts[1:]]
    assert summaries == sorted(summaries), titles  # counts only grow
    assert summaries[-1] == calls, titles
    # The closing shows seconds: a short outage is not "07:07 to 07:07".
    assert re.search(r"From \d\d:\d\d:\d\d \w+ to \d\d:\d\d:\d\d \w+", texts[-1]), texts[-1]


@pytest.mark.slow
def test_calls_across_the_database_return_are_one_story(
    postgres_url: str, proxied: tuple[str, Relay], stand_in: StandIn, make_config: Any
) -> None:
    url, relay = proxied
    slack(postgres_url, stand_in.url)
    service = Service(make_config(url, insecure_demo=True, **STORY))
    service.start()
    try:
        caller = Caller(service)
        relay.cut()
        caller.calling_until(
            lambda: any("recorded locally" in text for text in stand_in.texts()),
            "a summary told from the journal",
        )
        relay.restore()
        caller.calling_until(lambda: service.journal.pending == 0, "the journal replayed")
        caller.calling_until(
            lambda: any(text.startswith("Database back") for text in stand_in.texts()),
            "the message that the database is back",
        )
        for _ in range(4):  # the outage goes on, recorded in the database now
            caller.call()
            time.sleep(CALL_EVERY)
        wait_for(
            lambda: any(text.startswith("Outage over") for text in stand_in.texts()),
            what="the closing, with no new failure of the database",
        )
        check_one_story(stand_in.texts(), caller.count)
    finally:
        service.stop()


@pytest.mark.slow
def test_an_outage_that_ends_while_the_database_is_down_closes_after_its_return(
    postgres_url: str, proxied: tuple[str, Relay], stand_in: StandIn, make_config: Any
) -> None:
    """The calls stop during the database outage; the database returns before the quiet period
    is over. The closing comes on time, not when the database next fails."""
    url, relay = proxied
    slack(postgres_url, stand_in.url)
    service = Service(make_config(url, insecure_demo=True, **STORY))
    service.start()
    try:
        caller = Caller(service)
        relay.cut()
        caller.calling_until(
            lambda: any("recorded locally" in text for text in stand_in.texts()),
            "a summary told from the journal",
        )
        caller.call()
        relay.restore()
        wait_for(lambda: service.journal.pending == 0, timeout=30, what="the journal replayed")
        wait_for(
            lambda: any(text.startswith("Outage over") for text in stand_in.texts()),
            what="the closing, with no new failure of the database",
        )
        texts = stand_in.texts()
        assert sum(text.startswith("Outage over") for text in texts) == 1
        assert counted(texts[-1]) == caller.count
        summaries = [counted(text) for text in texts[1:]]
        assert summaries == sorted(summaries)
    finally:
        service.stop()
