"""The records of Twilio's callbacks: a voicemail (its recording status), its transcription, and
the key pressed on a screened leg; their rows and the events the team is told of.

Imported only when such a record is made, written or read back from the journal (see
:mod:`backline.store.records`), so a cold start that answers a plain call does not define them.
Values from the request are cleaned and bounded here, as for calls and legs.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, assert_never

from backline.core.cleaning import clean_text
from backline.core.events import CallEvent

if TYPE_CHECKING:
    from backline.store.database import Database

__all__ = [
    "KINDS",
    "ScreenRecord",
    "TranscriptionRecord",
    "VoicemailRecord",
    "apply_callback",
    "callback_events",
]

# A recording URL is Twilio's (https://api.twilio.com/...); anything longer than this, or not
# http(s), is not kept.
_URL_MAX = 500
TRANSCRIPTION_MAX = 2000


def _url(value: str) -> str:
    value = value.strip()
    if len(value) > _URL_MAX or not value.startswith(("https://", "http://")):
        return ""
    return value if value.isprintable() and " " not in value else ""


def _text(value: str, limit: int) -> str:
    """Words from a request, for people to read: control characters (line breaks too) as
    spaces, bounded; stored and shown like every other value (backline.core.cleaning)."""
    return clean_text(" ".join(value.split()), limit)


# A record's fields as :meth:`build` names them, where the names differ.
_BUILD_NAMES = {"to_number": "number", "from_number": "caller", "recording_url": "url"}


def _as_built(record: CallbackRecord) -> dict[str, Any]:
    """The arguments that build ``record`` again (and clean it by today's rules)."""
    return {
        _BUILD_NAMES.get(item.name, item.name): getattr(record, item.name)
        for item in fields(record)
    }


@dataclass(frozen=True, slots=True)
class VoicemailRecord:
    """Twilio's recording status request for a voicemail: the message is ready (completed), or
    there is none (absent: too short, or silent)."""

    KIND: ClassVar[str] = "voicemail"

    call_sid: str
    recording_sid: str
    to_number: str
    from_number: str
    client: str | None
    recording_url: str
    duration: int | None
    status: str
    answer: str
    at: str

    @property
    def key(self) -> str:
        return f"voicemail:{self.recording_sid or self.call_sid}"

    @classmethod
    def build(
        cls,
        *,
        call_sid: str,
        recording_sid: str,
        number: str,
        caller: str,
        client: str | None,
        url: str,
        duration: int | None,
        status: str,
        answer: str,
        at: str,
    ) -> VoicemailRecord:
        return cls(
            call_sid=clean_text(call_sid, 64),
            recording_sid=clean_text(recording_sid, 64),
            to_number=clean_text(number, 64),
            from_number=clean_text(caller, 64),
            client=client,
            recording_url=_url(url),
            duration=duration if duration is None or 0 <= duration <= 7 * 24 * 3600 else None,
            status=_text(status, 16),
            answer=answer,
            at=at,
        )

    def cleaned(self) -> VoicemailRecord:
        """Cleaned again (read back from the journal): the rules may have changed."""
        return VoicemailRecord.build(**_as_built(self))


@dataclass(frozen=True, slots=True)
class TranscriptionRecord:
    """Twilio's transcription of a voicemail (when the number asks for one)."""

    KIND: ClassVar[str] = "transcription"

    call_sid: str
    recording_sid: str
    to_number: str
    from_number: str
    client: str | None
    recording_url: str
    text: str
    status: str
    answer: str
    at: str

    @property
    def key(self) -> str:
        return f"transcription:{self.recording_sid or self.call_sid}"

    @classmethod
    def build(
        cls,
        *,
        call_sid: str,
        recording_sid: str,
        number: str,
        caller: str,
        client: str | None,
        url: str,
        text: str,
        status: str,
        answer: str,
        at: str,
    ) -> TranscriptionRecord:
        return cls(
            call_sid=clean_text(call_sid, 64),
            recording_sid=clean_text(recording_sid, 64),
            to_number=clean_text(number, 64),
            from_number=clean_text(caller, 64),
            client=client,
            recording_url=_url(url),
            text=_text(text, TRANSCRIPTION_MAX),
            status=_text(status, 16),
            answer=answer,
            at=at,
        )

    def cleaned(self) -> TranscriptionRecord:
        """Cleaned again (read back from the journal): the rules may have changed."""
        return TranscriptionRecord.build(**_as_built(self))


@dataclass(frozen=True, slots=True)
class ScreenRecord:
    """The key pressed by the person who picked up a screened leg (``call_sid`` is that leg's
    own call, the ``DialCallSid`` the dial outcome later carries)."""

    KIND: ClassVar[str] = "screen"

    call_sid: str
    parent_call_sid: str
    to_number: str
    destination: str
    digits: str
    accepted: bool
    answer: str
    at: str

    @property
    def key(self) -> str:
        return f"screen:{self.call_sid}"

    @classmethod
    def build(
        cls,
        *,
        call_sid: str,
        parent_call_sid: str,
        number: str,
        destination: str,
        digits: str,
        accepted: bool,
        answer: str,
        at: str,
    ) -> ScreenRecord:
        return cls(
            call_sid=clean_text(call_sid, 64),
            parent_call_sid=clean_text(parent_call_sid, 64),
            to_number=clean_text(number, 64),
            destination=_text(destination, 64),
            digits=_text(digits, 16),
            accepted=accepted,
            answer=answer,
            at=at,
        )

    def cleaned(self) -> ScreenRecord:
        """Cleaned again (read back from the journal): the rules may have changed."""
        return ScreenRecord.build(**_as_built(self))


CallbackRecord = VoicemailRecord | TranscriptionRecord | ScreenRecord
# The journal's name for each kind.
KINDS: dict[str, type[CallbackRecord]] = {
    kind.KIND: kind for kind in (VoicemailRecord, TranscriptionRecord, ScreenRecord)
}


def callback_events(record: CallbackRecord) -> list[CallEvent]:
    """The events a callback's record adds (see :func:`backline.store.calls.call_events`)."""
    match record:
        case VoicemailRecord():
            return [
                CallEvent.of(
                    "voicemail",
                    record,
                    recording_url=record.recording_url,
                    recording_duration=record.duration,
                    recording_status=record.status,
                )
            ]
        case TranscriptionRecord():
            if not record.text:
                return []  # a failed transcription: the voicemail itself was told already
            return [
                CallEvent.of(
                    "transcription",
                    record,
                    recording_url=record.recording_url,
                    transcription=record.text,
                )
            ]
        case ScreenRecord():
            return []  # told through the leg it belongs to
        case _:
            assert_never(record)


_UPSERT_VOICEMAIL = """
INSERT INTO voicemails (recording_sid, call_sid, to_number, from_number, client, recording_url,
                        duration, status, transcription, created_at, updated_at)
VALUES (:recording_sid, :call_sid, :to_number, :from_number, :client, :recording_url,
        :duration, :status, NULL, :at, :at)
ON CONFLICT (recording_sid) DO UPDATE SET recording_url = excluded.recording_url,
    duration = excluded.duration, status = excluded.status, updated_at = excluded.updated_at
"""
# A transcription may come before the recording's own status request: it then makes the row,
# which the status request fills in.
_UPSERT_TRANSCRIPTION = """
INSERT INTO voicemails (recording_sid, call_sid, to_number, from_number, client, recording_url,
                        duration, status, transcription, created_at, updated_at)
VALUES (:recording_sid, :call_sid, :to_number, :from_number, :client, :recording_url,
        NULL, '', :text, :at, :at)
ON CONFLICT (recording_sid) DO UPDATE SET transcription = excluded.transcription,
    updated_at = excluded.updated_at
"""
_INSERT_SCREENING = """
INSERT INTO screenings (call_sid, parent_call_sid, to_number, destination, digits, accepted,
                        created_at)
VALUES (:call_sid, :parent_call_sid, :to_number, :destination, :digits, :accepted, :at)
ON CONFLICT (call_sid) DO NOTHING
"""


def apply_callback(db: Database, cursor: Any, record: CallbackRecord) -> None:
    """Write ``record``'s row (the caller adds its events, in the same transaction)."""
    match record:
        case VoicemailRecord():
            cursor.execute(
                db.sql(_UPSERT_VOICEMAIL),
                {
                    "recording_sid": record.recording_sid or record.call_sid,
                    "call_sid": record.call_sid,
                    "to_number": record.to_number,
                    "from_number": record.from_number,
                    "client": record.client,
                    "recording_url": record.recording_url,
                    "duration": record.duration,
                    "status": record.status,
                    "at": record.at,
                },
            )
        case TranscriptionRecord():
            cursor.execute(
                db.sql(_UPSERT_TRANSCRIPTION),
                {
                    "recording_sid": record.recording_sid or record.call_sid,
                    "call_sid": record.call_sid,
                    "to_number": record.to_number,
                    "from_number": record.from_number,
                    "client": record.client,
                    "recording_url": record.recording_url,
                    "text": record.text,
                    "at": record.at,
                },
            )
        case ScreenRecord():
            cursor.execute(
                db.sql(_INSERT_SCREENING),
                {
                    "call_sid": record.call_sid,
                    "parent_call_sid": record.parent_call_sid,
                    "to_number": record.to_number,
                    "destination": record.destination,
                    "digits": record.digits,
                    "accepted": record.accepted,
                    "at": record.at,
                },
            )
        case _:
            assert_never(record)
