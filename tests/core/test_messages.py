"""What the team reads: the texts are pure functions, checked in both languages."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backline.core.messages import (
    CallEvent,
    Message,
    OutageStats,
    alert_message,
    call_message,
    channel_test_message,
    format_duration,
    format_time,
    outcome_message,
    outcome_text,
    short_text,
    summary_message,
)

TOKYO = ZoneInfo("Asia/Tokyo")
LANGUAGES = ("ja", "en")


def diverted(**changes: object) -> CallEvent:
    values: dict[str, object] = {
        "kind": "diverted",
        "call_sid": "CA1",
        "to": "+81312345678",
        "from_": "+819011112222",
        "client": "Acme",
        "destinations": ("+819033334444",),
        "at": "2026-11-24T05:00:00.000000Z",
        "route_kind": "route",
        "error_code": "11205",
        "error_url": "https://primary.example.com/voice?key=s3cret",
    }
    values.update(changes)
    return CallEvent(**values)  # type: ignore[arg-type]


def ended(outcome: str, duration: int | None = None) -> CallEvent:
    return CallEvent(
        "outcome",
        "CA1",
        "+81312345678",
        "+819011112222",
        "Acme",
        ("+819033334444",),
        "2026-11-24T05:02:14.000000Z",
        outcome=outcome,
        duration=duration,
    )


def test_times_are_shown_in_the_configured_zone() -> None:
    assert format_time("2026-11-24T05:00:00.000000Z", TOKYO) == "2026-11-24 14:00:00 JST"
    assert format_time("2026-11-24T05:00:00Z", ZoneInfo("UTC")) == "2026-11-24 05:00:00 UTC"
    assert format_time("2026-11-24T15:30:00Z", TOKYO, with_date=False) == "00:30:00 JST"
    assert format_time("garbage", TOKYO) == "garbage"


@pytest.mark.parametrize(
    ("seconds", "ja", "en"),
    [
        (0, "0秒", "0s"),
        (59, "59秒", "59s"),
        (134, "2分14秒", "2m 14s"),
        (3720, "1時間2分", "1h 02m"),
        (-5, "0秒", "0s"),
    ],
)
def test_durations(seconds: int, ja: str, en: str) -> None:
    assert format_duration(seconds, "ja") == ja
    assert format_duration(seconds, "en") == en


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_diverted_call_says_who_where_when_and_why(language: str) -> None:
    message = call_message(diverted(), TOKYO, language)  # type: ignore[arg-type]
    text = message.text
    for part in (
        "Acme",
        "+81312345678",
        "+819011112222",
        "+819033334444",
        "2026-11-24 14:00:00 JST",
        "11205",
        "primary.example.com",
    ):
        assert part in text, part
    assert "s3cret" not in text  # only the host of ErrorUrl
    assert message.kind == "call"
    assert message.data["type"] == "call.diverted"
    assert message.data["error_url_host"] == "primary.example.com"
    assert len(message.facts) == 5


def test_the_language_setting_changes_the_words() -> None:
    ja = call_message(diverted(), TOKYO, "ja").text
    en = call_message(diverted(), TOKYO, "en").text
    assert "転送発生" in ja
    assert "Diverted call" in en
    assert "応答しませんでした" in ja  # 11205 explained in Japanese
    assert "did not answer" in en


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_call_with_no_client_no_caller_and_no_error(language: str) -> None:
    event = diverted(
        client=None,
        from_="anonymous",
        error_code="",
        error_url="",
        destinations=(),
        route_kind="unknown",
    )
    text = call_message(event, TOKYO, language).text  # type: ignore[arg-type]
    assert ("非通知" if language == "ja" else "withheld") in text
    assert ("クライアントなし" if language == "ja" else "no client") in text
    assert ("未登録" if language == "ja" else "not in the table") in text
    assert "ErrorCode" in text


@pytest.mark.parametrize(
    ("outcome", "duration", "ja", "en"),
    [
        ("answered", 134, "応答（2分14秒）", "answered (2m 14s)"),
        ("busy", None, "話し中", "busy"),
        ("no-answer", None, "応答なし", "no answer"),
        ("failed", None, "接続失敗", "could not connect"),
        ("caller-hung-up", None, "呼出中に発信者が切断", "caller hung up while it rang"),
        ("canceled", None, "TwilioのAPIで呼出を取り消し", "leg cancelled through Twilio's API"),
        ("answered", None, "応答", "answered"),
    ],
)
def test_outcomes(outcome: str, duration: int | None, ja: str, en: str) -> None:
    assert outcome_text(outcome, duration, "ja") == ja
    assert outcome_text(outcome, duration, "en") == en
    assert en in outcome_message(ended(outcome, duration), TOKYO, "en").title


def test_a_call_already_ended_carries_its_outcome() -> None:
    message = call_message(diverted(), TOKYO, "en", ended("unrouted"))
    assert "not forwarded" in message.text
    assert message.data["outcome"] == "unrouted"


def stats(**changes: object) -> OutageStats:
    values: dict[str, object] = {
        "started_at": "2026-11-24T05:00:00Z",
        "last_call_at": "2026-11-24T05:42:00Z",
        "calls": 37,
        "new_calls": 12,
        "lines": tuple((f"C{i}", f"+8131234567{i}", 10 - i) for i in range(7)),
        "outcomes": {"answered": 30, "busy": 3, "no-answer": 2},
    }
    values.update(changes)
    return OutageStats(**values)  # type: ignore[arg-type]


def test_a_summary_counts_calls_lines_and_outcomes() -> None:
    message = summary_message(stats(), TOKYO, "en", now="2026-11-24T05:43:00Z")
    text = message.text
    assert "37" in message.title
    assert "14:00:00 JST" in message.title
    assert "+12 since the last message" in text
    assert "answered 30" in text
    assert "busy 3" in text
    assert "in progress 2" in text
    assert "C0 +81312345670: 10" in text
    assert "and 2 more number(s)" in text  # 7 lines, 5 shown
    assert message.data["missed"] == 5


def test_the_closing_summary_says_how_long_and_how_many_were_missed() -> None:
    en = summary_message(stats(), TOKYO, "en", now="2026-11-24T05:52:00Z", closing=True)
    assert en.kind == "closing"
    assert "42m 00s" in en.title
    assert "Answered 30, missed 5" in en.text
    assert "Still in progress 2" in en.text
    ja = summary_message(stats(), TOKYO, "ja", now="2026-11-24T05:52:00Z", closing=True)
    assert "障害収束" in ja.title
    assert "応答 30件" in ja.text


def test_a_closing_shows_seconds() -> None:
    short = stats(started_at="2026-11-24T05:00:03Z", last_call_at="2026-11-24T05:00:41Z")
    closing = summary_message(short, TOKYO, "en", now="2026-11-24T05:01:00Z", closing=True)
    assert "From 14:00:03 JST to 14:00:41 JST" in closing.text
    assert "38s" in closing.title
    ja = summary_message(short, TOKYO, "ja", now="2026-11-24T05:01:00Z", closing=True)
    assert "期間：14:00:03 JST〜14:00:41 JST" in ja.text


def test_the_summary_after_the_database_returns_says_the_outage_goes_on() -> None:
    for language, title in (
        ("en", "Database back, outage goes on: 37"),
        ("ja", "データベース復旧"),
    ):
        back = summary_message(
            stats(database_back=True),
            TOKYO,
            language,  # type: ignore[arg-type]
            now="2026-11-24T05:43:00Z",
        )
        assert back.kind == "summary"
        assert back.title.startswith(title)
        assert back.data["database_back"] is True
        assert "recorded locally" not in back.text


def test_summaries_from_the_journal_say_so() -> None:
    local = summary_message(stats(local=True), TOKYO, "en", now="2026-11-24T05:43:00Z")
    assert "recorded locally" in local.text
    assert (
        "recorded locally"
        not in summary_message(stats(), TOKYO, "en", now="2026-11-24T05:43:00Z").text
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_alerts_and_tests_are_marked(language: str) -> None:
    alert = alert_message(
        "#3 slack",
        "404 no_service",
        TOKYO,
        language,  # type: ignore[arg-type]
        at="2026-11-24T05:00:00Z",
        channel_id=3,
    )
    assert "404 no_service" in alert.text
    assert "backline channels test 3" in alert.text
    test = channel_test_message("#3 slack", TOKYO, language, at="2026-11-24T05:00:00Z")  # type: ignore[arg-type]
    assert ("テスト" if language == "ja" else "TEST") in test.title
    assert test.data["type"] == "test"


@pytest.mark.parametrize("language", LANGUAGES)
def test_messages_are_short_enough_for_a_phone(language: str) -> None:
    for message in (
        call_message(diverted(), TOKYO, language, ended("answered", 60)),  # type: ignore[arg-type]
        summary_message(stats(), TOKYO, language, now="2026-11-24T05:43:00Z"),  # type: ignore[arg-type]
        summary_message(stats(), TOKYO, language, now="x", closing=True),  # type: ignore[arg-type]
    ):
        assert len(message.text.splitlines()) <= 10
        assert len(message.title) <= 80


def test_messages_survive_a_round_trip_through_json() -> None:
    message = call_message(diverted(), TOKYO, "ja", ended("busy"))
    assert Message.from_json(message.to_json()) == message


@given(
    st.text(min_size=1, max_size=400),
    st.lists(st.text(max_size=80), max_size=12),
    st.integers(min_value=20, max_value=500),
)
def test_short_text_respects_the_limit(title: str, lines: list[str], limit: int) -> None:
    message = Message("call", title, tuple(lines))
    text = short_text(message, limit)
    assert len(text) <= limit
    if len(message.text) <= limit:
        assert text == message.text
    else:
        assert text.endswith("…")


@given(
    st.builds(
        CallEvent,
        kind=st.sampled_from(["diverted", "outcome"]),
        call_sid=st.text(max_size=40),
        to=st.text(max_size=20),
        from_=st.text(max_size=20),
        client=st.none() | st.text(max_size=30),
        destinations=st.lists(st.text(max_size=20), max_size=3).map(tuple),
        at=st.text(max_size=30),
        route_kind=st.text(max_size=10),
        error_code=st.text(max_size=8),
        error_url=st.text(max_size=60),
        outcome=st.text(max_size=10),
        duration=st.none() | st.integers(min_value=-10, max_value=10**6),
    )
)
def test_any_event_renders_in_both_languages(event: CallEvent) -> None:
    for language in LANGUAGES:
        assert call_message(event, TOKYO, language, event).title  # type: ignore[arg-type]
        assert outcome_message(event, TOKYO, language).title  # type: ignore[arg-type]
