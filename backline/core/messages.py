"""What the team is told, as pure functions: events and counts in, :class:`Message` out.

Every channel shows the same :class:`Message`: Slack as Block Kit with the plain text as the
fallback, e-mail as subject and body, SMS as :func:`short_text`, webhooks as JSON with ``data``.
Texts are short because they are read on a phone, first lines first: the title says what
happened and to whom, the lines say the rest. No I/O, no clock: times come in as ISO-8601 UTC
strings and are shown in the time zone passed in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, Literal

from backline.core.events import CallEvent
from backline.core.times import parse as parse_time
from backline.core.twilio_errors import Language, explain, url_host

__all__ = [
    "MISSED_OUTCOMES",
    "CallEvent",
    "Language",
    "Message",
    "OutageStats",
    "alert_message",
    "call_message",
    "channel_test_message",
    "drill_message",
    "format_duration",
    "format_time",
    "outcome_message",
    "outcome_text",
    "short_text",
    "summary_message",
    "transcription_message",
    "voicemail_message",
]

MessageKind = Literal[
    "call", "outcome", "voicemail", "transcription", "summary", "closing", "alert", "test", "drill"
]

# Outcomes in which nobody on the team spoke to the caller.
MISSED_OUTCOMES = frozenset(
    {"busy", "no-answer", "failed", "caller-hung-up", "canceled", "unrouted", "voicemail", "closed"}
)

# How many lines of "client / number: count" a summary lists before "and N more".
_TOP_LINES = 5


@dataclass(frozen=True, slots=True)
class OutageStats:
    """A run of diverted calls close together ("an outage"), as a summary reports it."""

    started_at: str
    last_call_at: str
    calls: int
    new_calls: int
    # (client, Twilio number, calls), most calls first.
    lines: tuple[tuple[str | None, str, int], ...]
    # outcome -> calls, for the calls whose outcome is known.
    outcomes: Mapping[str, int] = field(default_factory=dict)
    answered_seconds: int = 0
    local: bool = False
    # The database came back during the outage: its part told from the local journal and the
    # part recorded since are one outage, and this message says the outage goes on.
    database_back: bool = False

    @property
    def answered(self) -> int:
        return self.outcomes.get("answered", 0)

    @property
    def missed(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome in MISSED_OUTCOMES)

    @property
    def in_progress(self) -> int:
        return max(0, self.calls - self.answered - self.missed)


@dataclass(frozen=True, slots=True)
class Message:
    kind: MessageKind
    title: str
    lines: tuple[str, ...]
    # Label/value pairs (Slack shows them as fields); the same facts are in ``lines``.
    facts: tuple[tuple[str, str], ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The plain text: Slack's fallback, the mail body, what a webhook receiver can show."""
        return "\n".join((self.title, *self.lines))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "lines": list(self.lines),
            "facts": [list(f) for f in self.facts],
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Message:
        return cls(
            kind=value["kind"],
            title=str(value["title"]),
            lines=tuple(str(line) for line in value["lines"]),
            facts=tuple((str(a), str(b)) for a, b in value.get("facts", ())),
            data=dict(value.get("data", {})),
        )


# --- small pieces ---------------------------------------------------------------------------


def format_time(at: str, zone: tzinfo, *, with_date: bool = True) -> str:
    """``2026-11-24 14:05:03 JST`` (or ``14:05:03 JST``); an unreadable time is shown as given.

    Always to the second: an outage of a few seconds must not read "14:05 to 14:05".
    """
    moment = parse_time(at)
    if moment is None:
        return at
    local = moment.astimezone(zone)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
    name = local.tzname() or ""
    return f"{text} {name}".rstrip()


def format_duration(seconds: int | float, language: Language) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if language == "ja":
        if hours:
            return f"{hours}時間{minutes}分"
        return f"{minutes}分{secs}秒" if minutes else f"{secs}秒"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


_OUTCOMES: dict[str, tuple[str, str]] = {
    "answered": ("answered", "応答"),
    "busy": ("busy", "話し中"),
    "no-answer": ("no answer", "応答なし"),
    "failed": ("could not connect", "接続失敗"),
    "caller-hung-up": ("caller hung up while it rang", "呼出中に発信者が切断"),
    "canceled": ("leg cancelled through Twilio's API", "TwilioのAPIで呼出を取り消し"),
    "unrouted": ("not forwarded, apology played", "転送先なし（案内を再生）"),
    "voicemail": ("nobody answered, voicemail offered", "不在（留守番電話へ）"),
    "closed": ("closed, message played", "営業時間外（案内を再生）"),
    "forwarding": ("forwarding", "転送中"),
}


def outcome_text(outcome: str, duration: int | None, language: Language) -> str:
    en, ja = _OUTCOMES.get(outcome, (outcome or "unknown", outcome or "不明"))
    text = ja if language == "ja" else en
    if outcome == "answered" and duration is not None:
        text += (
            f"（{format_duration(duration, language)}）"
            if language == "ja"
            else (f" ({format_duration(duration, language)})")
        )
    return text


def _caller(number: str, language: Language) -> str:
    if not number or number.lower() in ("anonymous", "restricted", "unknown", "private"):
        return "非通知" if language == "ja" else "withheld"
    return number


def _client(client: str | None, language: Language) -> str:
    if client:
        return client
    return "（クライアントなし）" if language == "ja" else "(no client)"


_ROUTE_KINDS: dict[str, tuple[str, str]] = {
    "unknown": ("number not in the table", "未登録の番号"),
    "disabled": ("number disabled", "無効化された番号"),
    "catch-all": ("catch-all", "キャッチオール"),
    "last-resort": ("last resort", "最終手段"),
    "closed": ("outside office hours", "営業時間外"),
}


def _destinations(event: CallEvent, language: Language) -> str:
    if event.destinations:
        text = ", ".join(event.destinations)
    else:
        text = "なし" if language == "ja" else "none"
    kind = _ROUTE_KINDS.get(event.route_kind)
    if kind is not None:
        text += f"（{kind[1]}）" if language == "ja" else f" ({kind[0]})"
    return text


def _failure(event: CallEvent, language: Language) -> str:
    parts = []
    if event.error_code:
        parts.append(f"{event.error_code} {explain(event.error_code, language)}")
    host = url_host(event.error_url)
    if host:
        parts.append(f"（{host}）" if language == "ja" else f"({host})")
    if not parts:
        return "不明（ErrorCodeなし）" if language == "ja" else "unknown (no ErrorCode sent)"
    return " ".join(parts) if language == "en" else "".join(parts)


def _event_data(event: CallEvent) -> dict[str, Any]:
    return {
        "call_sid": event.call_sid,
        "client": event.client,
        "to": event.to,
        "from": event.from_,
        "destinations": list(event.destinations),
        "at": event.at,
        "route_kind": event.route_kind,
        "error_code": event.error_code,
        "error_url_host": url_host(event.error_url),
    }


# --- the messages ---------------------------------------------------------------------------


def call_message(
    event: CallEvent, zone: tzinfo, language: Language, outcome: CallEvent | None = None
) -> Message:
    """A diverted call, told on its own; with ``outcome`` when the call has already ended."""
    ja = language == "ja"
    client = _client(event.client, language)
    labels = (
        ("着信番号", "発信者", "転送先", "時刻", "一次の失敗", "結果")
        if ja
        else ("Number", "Caller", "Forwarded to", "Time", "Primary failed", "Outcome")
    )
    facts = [
        (labels[0], event.to),
        (labels[1], _caller(event.from_, language)),
        (labels[2], _destinations(event, language)),
        (labels[3], format_time(event.at, zone)),
        (labels[4], _failure(event, language)),
    ]
    data = {"type": "call.diverted", **_event_data(event)}
    if outcome is not None:
        facts.append((labels[5], outcome_text(outcome.outcome, outcome.duration, language)))
        data["outcome"] = outcome.outcome
        data["duration"] = outcome.duration
    title = f"転送発生: {client}" if ja else f"Diverted call: {client}"
    return Message("call", title, _lines(facts, language), tuple(facts), data)


def outcome_message(event: CallEvent, zone: tzinfo, language: Language) -> Message:
    """How a diverted call that was told on its own ended."""
    ja = language == "ja"
    client = _client(event.client, language)
    result = outcome_text(event.outcome, event.duration, language)
    labels = ("着信番号", "発信者", "時刻") if ja else ("Number", "Caller", "Time")
    facts = [
        (labels[0], event.to),
        (labels[1], _caller(event.from_, language)),
        (labels[2], format_time(event.at, zone)),
    ]
    title = f"通話終了: {client} — {result}" if ja else f"Call ended: {client} — {result}"
    data = {
        "type": "call.ended",
        **_event_data(event),
        "outcome": event.outcome,
        "duration": event.duration,
    }
    return Message("outcome", title, _lines(facts, language), tuple(facts), data)


def voicemail_message(event: CallEvent, zone: tzinfo, language: Language) -> Message:
    """A caller's voicemail is ready (with its length and link), or they left none."""
    ja = language == "ja"
    client = _client(event.client, language)
    left = event.recording_status == "completed" and bool(event.recording_url)
    labels = (
        ("着信番号", "発信者", "長さ", "録音", "時刻")
        if ja
        else ("Number", "Caller", "Length", "Recording", "Time")
    )
    facts = [(labels[0], event.to), (labels[1], _caller(event.from_, language))]
    if left:
        length = event.recording_duration
        facts.append((labels[2], "-" if length is None else format_duration(length, language)))
        facts.append((labels[3], event.recording_url))
        title = f"留守番電話: {client}" if ja else f"Voicemail: {client}"
    else:
        title = (
            f"留守番電話（メッセージなし）: {client}" if ja else f"Voicemail (no message): {client}"
        )
    facts.append((labels[4], format_time(event.at, zone)))
    lines = _lines(facts, language)
    if not left:
        lines += (
            ("発信者はメッセージを残さずに切断しました。",)
            if ja
            else ("The caller hung up without leaving a message.",)
        )
    data = {
        "type": "call.voicemail",
        **_event_data(event),
        "recording_url": event.recording_url,
        "recording_duration": event.recording_duration,
        "recording_status": event.recording_status,
    }
    return Message("voicemail", title, lines, tuple(facts), data)


def transcription_message(event: CallEvent, zone: tzinfo, language: Language) -> Message:
    """The words of a voicemail, as Twilio transcribed them."""
    ja = language == "ja"
    client = _client(event.client, language)
    labels = (
        ("着信番号", "発信者", "内容", "録音", "時刻")
        if ja
        else ("Number", "Caller", "Transcript", "Recording", "Time")
    )
    facts = [
        (labels[0], event.to),
        (labels[1], _caller(event.from_, language)),
        (labels[2], event.transcription),
    ]
    if event.recording_url:
        facts.append((labels[3], event.recording_url))
    facts.append((labels[4], format_time(event.at, zone)))
    title = f"留守番電話の文字起こし: {client}" if ja else f"Voicemail transcript: {client}"
    data = {
        "type": "call.transcription",
        **_event_data(event),
        "recording_url": event.recording_url,
        "transcription": event.transcription,
    }
    return Message("transcription", title, _lines(facts, language), tuple(facts), data)


def _lines(facts: Sequence[tuple[str, str]], language: Language) -> tuple[str, ...]:
    separator = ": " if language == "en" else "："
    return tuple(f"{label}{separator}{value}" for label, value in facts)


def _outcome_counts(stats: OutageStats, language: Language) -> str:
    ja = language == "ja"
    parts = []
    order = (
        "answered",
        "voicemail",
        "closed",
        "no-answer",
        "busy",
        "failed",
        "caller-hung-up",
        "canceled",
        "unrouted",
    )
    for outcome in order:
        count = stats.outcomes.get(outcome, 0)
        if count:
            name = outcome_text(outcome, None, language)
            parts.append(f"{name} {count}")
    if stats.in_progress:
        parts.append(f"{'進行中' if ja else 'in progress'} {stats.in_progress}")
    return ", ".join(parts) if parts else ("なし" if ja else "none yet")


def _line_counts(stats: OutageStats, language: Language) -> list[str]:
    shown = [
        f"{_client(client, language)} {number}: {count}"
        for client, number, count in stats.lines[:_TOP_LINES]
    ]
    rest = len(stats.lines) - _TOP_LINES
    if rest > 0:
        shown.append(f"ほか{rest}番号" if language == "ja" else f"and {rest} more number(s)")
    return shown


def _elapsed(stats: OutageStats, until: str) -> float:
    start, end = parse_time(stats.started_at), parse_time(until)
    if start is None or end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds())


def summary_message(
    stats: OutageStats, zone: tzinfo, language: Language, *, now: str, closing: bool = False
) -> Message:
    """A periodic summary while calls keep coming, or the closing one when they stopped."""
    ja = language == "ja"
    since = format_time(stats.started_at, zone, with_date=False)
    if closing:
        span = format_duration(_elapsed(stats, stats.last_call_at), language)
        title = (
            f"障害収束: {span}間に{stats.calls}件の転送"
            if ja
            else f"Outage over: {stats.calls} diverted call(s) in {span}"
        )
        head = [
            (
                f"期間：{since}〜{format_time(stats.last_call_at, zone, with_date=False)}"
                if ja
                else f"From {since} to {format_time(stats.last_call_at, zone, with_date=False)}"
            ),
            (
                f"応答 {stats.answered}件、不在・失敗 {stats.missed}件"
                if ja
                else f"Answered {stats.answered}, missed {stats.missed}"
            ),
        ]
        if stats.in_progress:
            head.append(
                f"進行中 {stats.in_progress}件" if ja else f"Still in progress {stats.in_progress}"
            )
        kind: MessageKind = "closing"
        event_type = "outage.closed"
    else:
        if stats.database_back:
            title = (
                f"データベース復旧、障害は継続中: {since}から{stats.calls}件の転送"
                if ja
                else f"Database back, outage goes on: {stats.calls} diverted call(s) since {since}"
            )
        else:
            title = (
                f"障害継続中: {since}から{stats.calls}件の転送"
                if ja
                else f"Outage ongoing: {stats.calls} diverted call(s) since {since}"
            )
        head = [
            (
                f"前回から +{stats.new_calls}件"
                if ja
                else f"+{stats.new_calls} since the last message"
            ),
            (
                f"結果：{_outcome_counts(stats, language)}"
                if ja
                else f"Outcomes: {_outcome_counts(stats, language)}"
            ),
        ]
        kind = "summary"
        event_type = "outage.summary"
    if stats.local:
        head.append(
            "（データベース停止中：ローカルに記録）"
            if ja
            else "(database unreachable: recorded locally)"
        )
    if stats.database_back:
        head.append(
            "（データベースに再び記録中。件数は停止中の分を含みます）"
            if ja
            else "(the database is recording again; the counts include the calls before)"
        )
    data = {
        "type": event_type,
        "started_at": stats.started_at,
        "last_call_at": stats.last_call_at,
        "at": now,
        "calls": stats.calls,
        "new_calls": stats.new_calls,
        "answered": stats.answered,
        "missed": stats.missed,
        "in_progress": stats.in_progress,
        "outcomes": dict(stats.outcomes),
        "lines": [{"client": c, "number": n, "calls": k} for c, n, k in stats.lines],
        "database_back": stats.database_back,
    }
    return Message(kind, title, tuple(head + _line_counts(stats, language)), (), data)


def alert_message(
    channel: str, reason: str, zone: tzinfo, language: Language, *, at: str, channel_id: int
) -> Message:
    """A channel stopped working for good; told through the others so someone fixes it."""
    if language == "ja":
        title = f"通知チャンネル停止: {channel}"
        lines = (
            f"理由：{reason}",
            f"このチャンネルへの送信を止めました。修正後 backline channels test {channel_id} "
            f"で再開します。",
            f"時刻：{format_time(at, zone)}",
        )
    else:
        title = f"Notification channel failing: {channel}"
        lines = (
            f"Reason: {reason}",
            f"Messages to it are stopped; fix it, then run backline channels test "
            f"{channel_id} to resume.",
            f"Time: {format_time(at, zone)}",
        )
    data = {
        "type": "channel.failing",
        "channel": channel,
        "channel_id": channel_id,
        "reason": reason,
        "at": at,
    }
    return Message("alert", title, lines, (), data)


def channel_test_message(channel: str, zone: tzinfo, language: Language, *, at: str) -> Message:
    if language == "ja":
        title = "【テスト】backline からの通知テスト"
        lines = (
            f"チャンネル {channel} のテストです。実際の着信はありません。",
            f"時刻：{format_time(at, zone)}",
        )
    else:
        title = "[TEST] backline notification test"
        lines = (
            f"This tests channel {channel}. No call was diverted.",
            f"Time: {format_time(at, zone)}",
        )
    return Message("test", title, lines, (), {"type": "test", "channel": channel, "at": at})


# How many failing numbers a drill message lists before "and N more".
_DRILL_LINES = 10


def drill_message(
    checked: int,
    failing: Sequence[tuple[str, str]],
    zone: tzinfo,
    language: Language,
    *,
    at: str,
) -> Message:
    """The result of `backline drill`, sent to each channel it checks: clearly a drill, never
    an outage. ``failing`` holds (number, first problem) for the numbers that failed."""
    ja = language == "ja"
    if not failing:
        title = (
            f"【訓練】backline 定期確認：{checked}番号すべて正常"
            if ja
            else f"[DRILL] backline drill: all {checked} number(s) answer as configured"
        )
    else:
        title = (
            f"【訓練】backline 定期確認：{checked}番号中{len(failing)}番号で異常"
            if ja
            else f"[DRILL] backline drill: {len(failing)} of {checked} number(s) FAIL"
        )
    lines = [f"{number}: {problem}" for number, problem in failing[:_DRILL_LINES]]
    if len(failing) > _DRILL_LINES:
        rest = len(failing) - _DRILL_LINES
        lines.append(f"ほか{rest}番号" if ja else f"and {rest} more")
    lines.append(
        "着信はありません。このチャンネルへの通知が届くことの確認です。"
        if ja
        else "No call was diverted: this checks that messages reach this channel."
    )
    lines.append(f"時刻：{format_time(at, zone)}" if ja else f"Time: {format_time(at, zone)}")
    data = {
        "type": "drill",
        "ok": not failing,
        "numbers": checked,
        "failing": [number for number, _ in failing],
        "at": at,
    }
    return Message("drill", title, tuple(lines), (), data)


def short_text(message: Message, limit: int = 300) -> str:
    """The message cut to ``limit`` characters on a line boundary where possible (SMS)."""
    text = message.text
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    newline = cut.rfind("\n")
    if newline >= len(message.title):
        cut = cut[:newline]
    return cut.rstrip() + "…"
