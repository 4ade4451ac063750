"""The dispatcher against real stand-in receivers, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pytest

from backline.config import Config
from backline.manage.channels import add_channel, get_channel
from backline.manage.engine import make_engine
from backline.notify.dispatcher import Dispatcher
from backline.notify.outbox import Outbox
from backline.store.database import Database
from tests.standins import StandIn
from tests.support import add_client, call_record, leg_record, record, wait_for

# Short thresholds: an outage ends after 1.5 s without a call, summaries every 0.5 s.
FAST = {
    "notify_quiet_seconds": 1.5,
    "notify_summary_seconds": 0.5,
    "notify_min_interval_seconds": 0.0,
    "notify_send_timeout_seconds": 2.0,
    "notify_retry_base_seconds": 0.05,
    "notify_retry_max_seconds": 0.2,
    "notify_poll_seconds": 0.05,
    "notify_language": "en",
}


@pytest.fixture
def run_dispatcher(make_config: Any) -> Iterator[Callable[..., Dispatcher]]:
    started: list[Dispatcher] = []

    def start(database_url: str, **changes: object) -> Dispatcher:
        config: Config = make_config(database_url, **{**FAST, **changes})
        dispatcher = Dispatcher(config, Database(database_url))
        dispatcher.start()
        started.append(dispatcher)
        return dispatcher

    yield start
    for dispatcher in started:
        dispatcher.stop()


def slack(database_url: str, url: str, **kwargs: Any) -> int:
    engine = make_engine(database_url)
    try:
        return add_channel(engine, "slack", url, allow_private=True, **kwargs).spec.id
    finally:
        engine.dispose()


def test_a_diverted_call_reaches_slack_then_its_outcome(
    database_url: str, stand_in: StandIn, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    slack(database_url, stand_in.url + "/hook")
    run_dispatcher(database_url)
    record(database_url, call_record("CA100"))
    wait_for(lambda: len(stand_in.accepted()) == 1, what="the call message")
    first = stand_in.accepted()[0].json()
    assert "Diverted call: Acme" in first["text"]
    assert first["blocks"][0]["type"] == "header"
    record(database_url, leg_record("CA100", "answered", 75))
    wait_for(lambda: len(stand_in.accepted()) == 2, what="the outcome message")
    assert "answered (1m 15s)" in stand_in.accepted()[1].json()["text"]
    outbox = Outbox(Database(database_url))
    wait_for(lambda: outbox.counts().get("sent") == 2, what="both deliveries recorded")
    assert outbox.counts()["unfanned"] == 0
    outbox.close()


def test_a_client_channel_hears_only_its_client(
    database_url: str,
    stand_in_factory: Callable[[], StandIn],
    run_dispatcher: Callable[..., Dispatcher],
) -> None:
    add_client(database_url, "Acme")
    add_client(database_url, "Other")
    everything, acme, other = stand_in_factory(), stand_in_factory(), stand_in_factory()
    slack(database_url, everything.url)
    slack(database_url, acme.url, client="Acme")
    slack(database_url, other.url, client="Other")
    run_dispatcher(database_url, notify_quiet_seconds=0.0)
    record(database_url, call_record("CA1", client="Acme"), call_record("CA2", client=None))
    wait_for(lambda: len(everything.accepted()) == 2 and len(acme.accepted()) == 1)
    assert "Diverted call: Acme" in acme.texts()[0]
    assert other.received == []


def test_429_waits_for_retry_after_and_500_is_retried(
    database_url: str, stand_in: StandIn, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    channel = slack(database_url, stand_in.url)
    stand_in.answers = [(500, {}, "oops"), (429, {"Retry-After": "1"}, "rate_limited")]
    run_dispatcher(database_url, notify_retry_max_seconds=5.0)  # the 1 s asked is under it
    record(database_url, call_record("CA200"))
    wait_for(lambda: len(stand_in.accepted()) == 1, what="delivery after 500 and 429")
    attempts = stand_in.received
    assert [item.status for item in attempts] == [500, 429, 200]
    # Retry-After is honoured: the third try came no sooner than the receiver asked.
    assert attempts[2].at - attempts[1].at >= 0.95
    engine = make_engine(database_url)
    wait_for(lambda: get_channel(engine, channel).last_success_at, what="the success recorded")
    entry = get_channel(engine, channel)
    assert entry.last_failure_at is not None
    assert entry.spec.failing is None


def test_a_receiver_that_hangs_does_not_hold_up_other_channels(
    database_url: str,
    stand_in_factory: Callable[[], StandIn],
    run_dispatcher: Callable[..., Dispatcher],
) -> None:
    hanging, healthy = stand_in_factory(), stand_in_factory()
    hanging.default = "hang"
    slack(database_url, hanging.url)
    slack(database_url, healthy.url)
    run_dispatcher(database_url, notify_send_timeout_seconds=30.0)
    record(database_url, call_record("CA300"))
    wait_for(lambda: hanging.open_requests == 1, what="the hanging request")
    wait_for(lambda: len(healthy.accepted()) == 1, what="the healthy channel")
    assert hanging.open_requests == 1  # still hanging while the other was served
    hanging.release.set()


def test_a_hung_receiver_is_timed_out_and_retried(
    database_url: str, stand_in: StandIn, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    stand_in.answers = ["hang"]
    slack(database_url, stand_in.url)
    run_dispatcher(database_url, notify_send_timeout_seconds=0.5)
    record(database_url, call_record("CA310"))
    wait_for(lambda: len(stand_in.accepted()) == 1, what="the retry after the timeout")
    assert len(stand_in.received) == 2


def test_a_permanent_failure_stops_the_channel_and_tells_the_others(
    database_url: str,
    stand_in_factory: Callable[[], StandIn],
    run_dispatcher: Callable[..., Dispatcher],
) -> None:
    gone, healthy = stand_in_factory(), stand_in_factory()
    gone.default = (404, {}, "no_service")
    broken = slack(database_url, gone.url, label="old workspace")
    slack(database_url, healthy.url)
    run_dispatcher(database_url, notify_quiet_seconds=0.0)
    record(database_url, call_record("CA400"))
    wait_for(lambda: len(healthy.accepted()) == 2, what="the call and the alert")
    texts = healthy.texts()
    alert = next(text for text in texts if "failing" in text)
    assert "old workspace" in alert
    assert "404 no_service" in alert
    assert get_channel(make_engine(database_url), broken).spec.failing == "404 no_service"
    # The alert went out after the failure was committed, so this read sees it.
    record(database_url, call_record("CA401"))
    wait_for(lambda: len(healthy.accepted()) == 3, what="the next call")
    assert len(gone.received) == 1  # never tried again


def test_an_outage_is_told_as_first_call_summaries_and_a_closing(
    database_url: str, stand_in: StandIn, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    slack(database_url, stand_in.url)
    run_dispatcher(database_url)
    record(database_url, call_record("CA500", to="+81300000000"))
    wait_for(lambda: len(stand_in.accepted()) == 1, what="the first call")
    for batch in range(3):
        record(
            database_url,
            *[call_record(f"CA5{batch}{i:02d}", to=f"+8130000000{i % 3}") for i in range(20)],
        )
    record(database_url, leg_record("CA500", "answered", 10))
    wait_for(
        lambda: any("Outage over" in text for text in stand_in.texts()), what="the closing summary"
    )
    texts = stand_in.texts()
    assert "Diverted call" in texts[0]
    assert any("Outage ongoing" in text for text in texts[1:-1])
    closing = texts[-1]
    assert "61 diverted call(s)" in closing
    assert "Answered 1" in closing
    assert len(texts) < 20  # summaries, not one message per call


def test_messages_to_one_channel_are_at_least_the_minimum_interval_apart(
    database_url: str, stand_in: StandIn, run_dispatcher: Callable[..., Dispatcher]
) -> None:
    slack(database_url, stand_in.url)
    run_dispatcher(database_url, notify_quiet_seconds=0.0, notify_min_interval_seconds=1.0)
    record(database_url, *[call_record(f"CA60{i}") for i in range(3)])
    wait_for(lambda: len(stand_in.accepted()) == 3, what="three messages")
    times = [item.at for item in stand_in.accepted()]
    assert all(later - earlier >= 0.95 for earlier, later in pairwise(times))
