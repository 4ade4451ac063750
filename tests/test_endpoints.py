"""The endpoint table: each row's planner makes the kind of record the row names, every path is
routed by the web app, and the one answer sequence needs no event loop on Lambda."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from backline.answer import ENDPOINTS, Answerer, Endpoint, endpoint_for, run_now
from backline.config import Config
from backline.store.database import Database
from backline.store.journal import Journal
from backline.store.recorder import Recorder
from backline.store.records import record_kind, record_to_json
from backline.store.snapshot import SnapshotKeeper
from tests.support import dial_params, fallback_params

TWILIO_NUMBER = "+815031234567"
CALLER = "+819012345678"


@pytest.fixture
def answerer(sqlite_url: str, make_config: Callable[..., Config], tmp_path: Path) -> Answerer:
    config = make_config(sqlite_url)
    snapshot = SnapshotKeeper(Database(sqlite_url), tmp_path)
    recorder = Recorder(Database(sqlite_url), Journal(tmp_path / "journal.db"), timeout=2.0)
    return Answerer(config, snapshot, recorder)


def request_for(endpoint: Endpoint) -> tuple[dict[str, str], dict[str, str]]:
    """A request Twilio could send to ``endpoint``: its form and our own URL's query."""
    call = fallback_params(TWILIO_NUMBER, from_=CALLER)
    params = {
        **dial_params(call, "no-answer"),
        "Digits": "1",
        "ParentCallSid": call["CallSid"],
        "RecordingSid": "RE" + "2" * 32,
        "RecordingUrl": "https://api.twilio.com/2010-04-01/Recordings/RE" + "2" * 32,
        "RecordingDuration": "7",
        "RecordingStatus": "completed",
        "TranscriptionStatus": "completed",
        "TranscriptionText": "please call back",
    }
    query = {"step": "0", "number": TWILIO_NUMBER, "caller": CALLER}
    return params, query


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.path)
def test_each_planner_makes_the_record_its_row_names(
    endpoint: Endpoint, answerer: Answerer
) -> None:
    params, query = request_for(endpoint)
    answer, record = endpoint.plan(answerer, params, query)
    assert answer.startswith("<?xml")
    if endpoint.record is None:
        assert record is None
    else:
        assert record is not None
        assert record_kind(record) == endpoint.record
        assert record_to_json(record)[0] == endpoint.record


def test_the_callback_records_name_their_kind_as_the_journal_does() -> None:
    from backline.store.callback_records import KINDS

    assert {kind.KIND for kind in KINDS.values()} == set(KINDS)
    assert {e.record for e in ENDPOINTS} - {None} == {"call", "leg", *KINDS}


def test_every_path_is_found_with_or_without_a_final_slash() -> None:
    for endpoint in ENDPOINTS:
        assert endpoint_for(endpoint.path) is endpoint
        assert endpoint_for(endpoint.path + "/") is endpoint
    assert endpoint_for("/twilio/voice") is None
    assert endpoint_for("/") is None
    assert len({endpoint.path for endpoint in ENDPOINTS}) == len(ENDPOINTS)


def test_the_web_app_routes_every_endpoint_and_nothing_else(answerer: Answerer) -> None:
    from backline.web.app import twilio_routes
    from backline.web.twilio import TwilioEndpoints

    paths = {route.path for route in twilio_routes(TwilioEndpoints(answerer))}
    assert paths == {p for e in ENDPOINTS for p in (e.path, e.path + "/")}


def test_run_now_gives_a_plain_coroutines_result_and_refuses_one_that_waits() -> None:
    async def plain() -> int:
        return 7

    assert run_now(plain()) == 7
    with pytest.raises(RuntimeError, match="suspended"):
        run_now(asyncio.sleep(0))
