"""What the answer path records: one row per diverted call, one per dial leg.

Values from the request are clipped to the column sizes here, so that an odd request can never
make a record that the database refuses (and that would then block the journal's replay).
Records are plain values so the same record can be written to the database, kept in the local
journal as JSON while the database is down, and replayed later with the same effect.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from backline.core.models import FINAL_OUTCOMES, Call, Plan

__all__ = ["CallRecord", "LegRecord", "Record", "record_from_json", "record_to_json"]


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
        return cls(
            call_sid=call.call_sid[:64],
            account_sid=call.account_sid[:64],
            to_number=call.to[:64],
            from_number=call.from_[:64],
            direction=call.direction[:32],
            error_code=call.error_code[:16],
            error_url=call.error_url[:2000],
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
        return cls(
            call_sid=call.call_sid[:64],
            step=step,
            to_number=call.to[:64],
            from_number=call.from_[:64],
            client=plan.client,
            destinations=plan.leg_destinations(step),
            dial_call_sid=dial_call_sid[:64],
            status=status[:16],
            duration=duration,
            outcome=plan.outcome,
            answer=answer,
            at=at,
        )

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES


Record = CallRecord | LegRecord


def record_to_json(record: Record) -> tuple[str, str]:
    kind = "call" if isinstance(record, CallRecord) else "leg"
    return kind, json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":"))


def record_from_json(kind: str, text: str) -> Record:
    data: dict[str, Any] = json.loads(text)
    data["destinations"] = tuple(data["destinations"])
    return CallRecord(**data) if kind == "call" else LegRecord(**data)
