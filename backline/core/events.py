"""A call's events: what the answer path writes to ``events`` and the dispatcher reads back.

Pure and light (the answer path imports it): one definition of each kind's payload, written by
:meth:`CallEvent.payload` and read by :meth:`CallEvent.from_payload`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, get_args

__all__ = ["CallEvent", "EventKind", "RecordedCall"]

EventKind = Literal["diverted", "outcome", "voicemail", "transcription"]
_EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

# The keys of each kind's payload, in the order they are written: the one definition of an
# event's payload, written by the store (:meth:`CallEvent.payload`) and read by the dispatcher
# (:meth:`CallEvent.from_payload`).
_COMMON_KEYS = ("call_sid", "to", "from", "client", "destinations", "at")
_PAYLOAD_KEYS: Mapping[EventKind, tuple[str, ...]] = {
    "diverted": (*_COMMON_KEYS, "route_kind", "error_code", "error_url"),
    "outcome": (*_COMMON_KEYS, "outcome", "duration"),
    "voicemail": (*_COMMON_KEYS, "recording_url", "recording_duration", "recording_status"),
    "transcription": (*_COMMON_KEYS, "recording_url", "transcription"),
}


class RecordedCall(Protocol):
    """What every record an event is made from says about its call."""

    @property
    def call_sid(self) -> str: ...
    @property
    def to_number(self) -> str: ...
    @property
    def from_number(self) -> str: ...
    @property
    def client(self) -> str | None: ...
    @property
    def at(self) -> str: ...


@dataclass(frozen=True, slots=True)
class CallEvent:
    """One row of ``events``: what the answer path writes and the dispatcher reads."""

    kind: EventKind
    call_sid: str
    to: str
    from_: str
    client: str | None
    destinations: tuple[str, ...]
    at: str
    route_kind: str = ""
    error_code: str = ""
    error_url: str = ""
    outcome: str = ""
    duration: int | None = None
    # A voicemail (and its transcription): where the message is, how long, whether there is one.
    recording_url: str = ""
    recording_duration: int | None = None
    recording_status: str = ""
    transcription: str = ""

    @classmethod
    def of(
        cls,
        kind: EventKind,
        record: RecordedCall,
        destinations: tuple[str, ...] = (),
        **details: Any,
    ) -> CallEvent:
        """The event of this kind for a record; ``details`` are the kind's own fields."""
        return cls(
            kind,
            record.call_sid,
            record.to_number,
            record.from_number,
            record.client,
            destinations,
            record.at,
            **details,
        )

    @property
    def id(self) -> str:
        """The event's id: one event of each kind per call at most."""
        return f"{self.call_sid}:{self.kind}"

    def payload(self) -> dict[str, Any]:
        """The JSON object stored for the event: the keys of its kind."""
        every: dict[str, Any] = {
            "call_sid": self.call_sid,
            "to": self.to,
            "from": self.from_,
            "client": self.client,
            "destinations": list(self.destinations),
            "at": self.at,
            "route_kind": self.route_kind,
            "error_code": self.error_code,
            "error_url": self.error_url,
            "outcome": self.outcome,
            "duration": self.duration,
            "recording_url": self.recording_url,
            "recording_duration": self.recording_duration,
            "recording_status": self.recording_status,
            "transcription": self.transcription,
        }
        return {key: every[key] for key in _PAYLOAD_KEYS[self.kind]}

    @classmethod
    def from_payload(cls, kind: str, payload: Mapping[str, Any]) -> CallEvent:
        duration = payload.get("duration")
        length = payload.get("recording_duration")
        return cls(
            kind=next((known for known in _EVENT_KINDS if known == kind), "diverted"),
            call_sid=str(payload.get("call_sid", "")),
            to=str(payload.get("to", "")),
            from_=str(payload.get("from", "")),
            client=payload.get("client") or None,
            destinations=tuple(str(d) for d in payload.get("destinations") or ()),
            at=str(payload.get("at", "")),
            route_kind=str(payload.get("route_kind", "")),
            error_code=str(payload.get("error_code", "")),
            error_url=str(payload.get("error_url", "")),
            outcome=str(payload.get("outcome", "")),
            duration=int(duration) if isinstance(duration, int | float) else None,
            recording_url=str(payload.get("recording_url") or ""),
            recording_duration=int(length) if isinstance(length, int | float) else None,
            recording_status=str(payload.get("recording_status") or ""),
            transcription=str(payload.get("transcription") or ""),
        )
