"""The last ``backline twilio audit``, kept for the web admin's dashboard: when it ran and which
of the account's numbers Twilio would not send to backline when their primary handler fails
(no fallback URL, another one, or no route in the table)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, insert, select

from backline.manage.engine import reading, transaction
from backline.store.database import utc_now
from backline.store.schema import twilio_coverage

if TYPE_CHECKING:
    from backline.twilio_account.audit import Audit

__all__ = ["Coverage", "last", "save"]

# The statuses of a number that can take calls and is not protected.
_UNCOVERED = ("fallback missing", "fallback elsewhere", "no route")


@dataclass(frozen=True, slots=True)
class Coverage:
    at: str
    fallback_url: str
    numbers: int
    # Each number not protected: {"number", "status", "detail"}.
    uncovered: tuple[dict[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "fallback_url": self.fallback_url,
            "numbers": self.numbers,
            "uncovered": list(self.uncovered),
        }


def save(engine: Engine, result: Audit, *, at: str | None = None) -> Coverage:
    """Keep ``result`` as the last audit (replacing the one before)."""
    uncovered = tuple(
        {"number": row.number.phone_number, "status": row.status.value, "detail": row.detail}
        for row in result.numbers
        if row.status.value in _UNCOVERED
    )
    coverage = Coverage(at or utc_now(), result.fallback_url, len(result.numbers), uncovered)
    with transaction(engine) as connection:
        connection.execute(delete(twilio_coverage))
        connection.execute(
            insert(twilio_coverage).values(
                at=coverage.at,
                fallback_url=coverage.fallback_url,
                numbers=coverage.numbers,
                uncovered=json.dumps(list(uncovered), ensure_ascii=False),
            )
        )
    return coverage


def last(engine: Engine) -> Coverage | None:
    """The last audit, or None when ``backline twilio audit`` has never run."""
    query = select(twilio_coverage).order_by(twilio_coverage.c.id.desc()).limit(1)
    with reading(engine) as connection:
        row = connection.execute(query).first()
    if row is None:
        return None
    return Coverage(row.at, row.fallback_url, row.numbers, tuple(json.loads(row.uncovered)))
