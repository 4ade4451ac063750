"""What the answer path records: one row per diverted call, one per dial leg (and, in
:mod:`backline.store.callback_records`, a voicemail, its transcription, a screened leg's key).

Values from the request are cleaned here, at the boundary: control characters (PostgreSQL
refuses a NUL) and lone surrogates removed, clipped to the column sizes, the ErrorUrl stripped of
credentials and query, numbers kept in range; so that an odd request can never make a record
that the database refuses (and that would then block the journal's replay). Records read back
from the journal are cleaned again, so a journal written by an older version replays too.
Records are plain values so the same record can be written to the database, kept in the local
journal as JSON while the database is down, and replayed later with the same effect.
"""

from __future__ import annotations

import json
from dataclasses import asdict, astuple, dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, assert_never

from backline.core.cleaning import clean_text, url_without_secrets
from backline.core.models import FINAL_OUTCOMES, Call, Plan

if TYPE_CHECKING:
    from backline.store.callback_records import (
        ScreenRecord,
        TranscriptionRecord,
        VoicemailRecord,
    )

__all__ = [
    "MAX_DURATION",
    "MAX_STEP",
    "CallRecord",
    "LegRecord",
    "Record",
    "RecordKind",
    "cleaned",
    "record_from_json",
    "record_kind",
    "record_to_json",
]

# A leg's step is an index into at most ten destinations; a duration is at most a week. Both
# columns are 32-bit integers: anything outside these ranges is not a fact worth storing.
MAX_STEP = 99
MAX_DURATION = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CallRecord:
    call_sid: str
    account_sid: str
    to_number: str
    from_number: str
    direction: str
    error_code: str
    error_url: str
    client: str | None
    route_kind: str
    destinations: tuple[str, ...]
    outcome: str
    answer: str
    at: str

    @property
    def key(self) -> str:
        return f"call:{self.call_sid}"

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    @classmethod
    def build(cls, call: Call, plan: Plan, answer: str, at: str) -> CallRecord:
        return _call_record(
            call_sid=call.call_sid,
            account_sid=call.account_sid,
            to_number=call.to,
            from_number=call.from_,
            direction=call.direction,
            error_code=call.error_code,
            error_url=call.error_url,
            client=plan.client,
            route_kind=plan.route_kind,
            destinations=plan.destinations,
            outcome=plan.outcome,
            answer=answer,
            at=at,
        )


@dataclass(frozen=True, slots=True)
class LegRecord:
    call_sid: str
    step: int
    to_number: str
    from_number: str
    client: str | None
    destinations: tuple[str, ...]
    dial_call_sid: str
    status: str
    duration: int | None
    outcome: str
    answer: str
    at: str

    @property
    def key(self) -> str:
        return f"leg:{self.call_sid}:{self.step}"

    @classmethod
    def build(
        cls,
        *,
        call: Call,
        step: int,
        plan: Plan,
        status: str,
        dial_call_sid: str,
        duration: int | None,
        answer: str,
        at: str,
    ) -> LegRecord:
        return _leg_record(
            call_sid=call.call_sid,
            step=step,
            to_number=call.to,
            from_number=call.from_,
            client=plan.client,
            destinations=plan.leg_destinations(step),
            dial_call_sid=dial_call_sid,
            status=status,
            duration=duration,
            outcome=plan.outcome,
            answer=answer,
            at=at,
        )

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES


# Every kind of record. The callbacks' records (a voicemail, its transcription, a screened
# leg's key) live in backline.store.callback_records, imported only when one is made or read:
# defining them costs a cold start about 2 ms that a call without them does not need.
Record: TypeAlias = "CallRecord | LegRecord | VoicemailRecord | TranscriptionRecord | ScreenRecord"
# The journal's (and the endpoint table's) name of each kind of record.
RecordKind = Literal["call", "leg", "voicemail", "transcription", "screen"]


def record_kind(record: Record) -> RecordKind:
    """The name of ``record``'s kind. A new kind of record is a type error here until it has
    one."""
    match record:
        case CallRecord():
            return "call"
        case LegRecord():
            return "leg"
        case _:
            from backline.store.callback_records import (
                ScreenRecord,
                TranscriptionRecord,
                VoicemailRecord,
            )

            match record:
                case VoicemailRecord():
                    return "voicemail"
                case TranscriptionRecord():
                    return "transcription"
                case ScreenRecord():
                    return "screen"
                case _:
                    assert_never(record)


def record_to_json(record: Record) -> tuple[str, str]:
    kind = record_kind(record)
    return kind, json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":"))


def _call_record(
    call_sid: str,
    account_sid: str,
    to_number: str,
    from_number: str,
    direction: str,
    error_code: str,
    error_url: str,
    client: str | None,
    route_kind: str,
    destinations: tuple[str, ...],
    outcome: str,
    answer: str,
    at: str,
) -> CallRecord:
    """A call record with the request's values cleaned: the one place the rules are written.
    (Built once, field by field: this runs on every answer.)"""
    return CallRecord(
        clean_text(call_sid, 64),
        clean_text(account_sid, 64),
        clean_text(to_number, 64),
        clean_text(from_number, 64),
        clean_text(direction, 32),
        clean_text(error_code, 16),
        clean_text(url_without_secrets(error_url), 2000),
        client,
        route_kind,
        destinations,
        outcome,
        answer,
        at,
    )


def _leg_record(
    call_sid: str,
    step: int,
    to_number: str,
    from_number: str,
    client: str | None,
    destinations: tuple[str, ...],
    dial_call_sid: str,
    status: str,
    duration: int | None,
    outcome: str,
    answer: str,
    at: str,
) -> LegRecord:
    """A leg record with the request's values cleaned and its numbers in range."""
    return LegRecord(
        clean_text(call_sid, 64),
        min(max(step, 0), MAX_STEP),
        clean_text(to_number, 64),
        clean_text(from_number, 64),
        client,
        destinations,
        clean_text(dial_call_sid, 64),
        clean_text(status, 16),
        duration if duration is not None and 0 <= duration <= MAX_DURATION else None,
        outcome,
        answer,
        at,
    )


def cleaned(record: Record) -> Record:
    """``record`` cleaned again (read back from the journal, or set aside): the rules may have
    changed since it was written."""
    if isinstance(record, CallRecord):
        return _call_record(*astuple(record))
    if isinstance(record, LegRecord):
        return _leg_record(*astuple(record))
    return record.cleaned()


def record_from_json(kind: str, text: str) -> Record:
    data: dict[str, Any] = json.loads(text)
    record: Record
    if kind in ("voicemail", "transcription", "screen"):
        from backline.store.callback_records import KINDS

        record = KINDS[kind](**data)
    else:
        # Journals written before there were other kinds name only "call" and "leg".
        data["destinations"] = tuple(data["destinations"])
        record = CallRecord(**data) if kind == "call" else LegRecord(**data)
    return cleaned(record)
