"""The dispatcher's Lambda handler, run for real: recorded calls reach a Slack stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from backline.aws import dispatcher
from backline.aws.dispatcher import DispatcherFailed, DispatcherHandler
from backline.config import Config
from backline.manage.channels import add_channel
from backline.manage.engine import make_engine
from tests.standins import StandIn
from tests.support import call_record, record


def test_a_pass_sends_what_was_recorded_and_only_once(
    database_url: str, stand_in: StandIn, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    add_channel(engine, "slack", stand_in.url, allow_private=True)
    engine.dispose()
    record(database_url, call_record("CAlambda1", to="+81312345678"))
    config = Config(
        database_url=database_url,
        state_dir=tmp_path,
        notify_language="en",
        allow_private_channels=True,  # the stand-in listens on 127.0.0.1
    )
    handler = DispatcherHandler(config=config)

    result = handler({"source": "backline.fallback"}, None)
    assert result["status"] == "ok"
    assert result["source"] == "backline.fallback"
    assert len(stand_in.accepted()) == 1
    assert "+81312345678" in stand_in.accepted()[0].body.decode()

    # The schedule's next pass finds nothing new to send.
    assert handler({"source": "aws.events"}, None)["status"] == "ok"
    assert len(stand_in.accepted()) == 1


def test_the_module_handler_reads_the_environment(
    sqlite_url: str, stand_in: StandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(sqlite_url)
    add_channel(engine, "slack", stand_in.url, allow_private=True)
    engine.dispose()
    record(sqlite_url, call_record("CAlambda2", to="+81312345679"))
    monkeypatch.setenv("BACKLINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("BACKLINE_STATE_DIR", str(tmp_path))
    monkeypatch.setattr(dispatcher, "_handler", None)  # a fresh instance, as after a cold start
    assert dispatcher.handler({"source": "aws.events"}, None)["status"] == "ok"
    assert len(stand_in.accepted()) == 1


def test_a_failed_run_is_raised_and_marked_for_the_alarm(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Raised, so that Lambda's Errors metric counts it (the template does not retry it: the
    next run takes up what is due), and logged with the mark the template's filter counts."""
    config = Config(
        database_url="postgresql+psycopg2://postgres:s3cret@127.0.0.1:9/none", state_dir=tmp_path
    )
    with pytest.raises(DispatcherFailed) as failure:
        DispatcherHandler(config=config)({"source": "aws.events"}, None)
    marked = [r for r in caplog.records if getattr(r, "backline", None) == "dispatcher-failed"]
    assert len(marked) == 1
    assert "s3cret" not in str(failure.value)
    assert "s3cret" not in marked[0].getMessage()
