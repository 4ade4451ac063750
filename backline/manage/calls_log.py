"""The call log as the REST API and the web admin read it: filtered, a page at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

__all__ = ["search"]


def search(engine: Engine, *, limit: int, **filters: Any) -> list[Any]:
    """One page and one more call (to tell whether there is a next page)."""
    from backline.store.admin import search_calls

    return search_calls(engine, limit=limit + 1, **filters)


def dashboard(engine: Engine, now: float | None = None) -> dict[str, Any]:
    """What the admin's dashboard shows: calls diverted in the last 10 minutes and 24 hours,
    and the last hour's diverted calls per minute and outcome."""
    import time

    from sqlalchemy import func, select

    from backline.store.database import utc_now
    from backline.store.schema import calls

    moment = time.time() if now is None else now
    recent, day, hour = (utc_now(moment - seconds) for seconds in (600, 86400, 3600))
    minute = func.substr(calls.c.created_at, 1, 16)
    with engine.connect() as connection:
        count_recent = connection.execute(
            select(func.count()).select_from(calls).where(calls.c.created_at >= recent)
        ).scalar_one()
        count_day = connection.execute(
            select(func.count()).select_from(calls).where(calls.c.created_at >= day)
        ).scalar_one()
        rows = connection.execute(
            select(minute, calls.c.outcome, func.count())
            .where(calls.c.created_at >= hour)
            .group_by(minute, calls.c.outcome)
        ).all()
    per_minute: dict[str, dict[str, int]] = {}
    for at, outcome, count in rows:
        per_minute.setdefault(str(at), {})[str(outcome)] = int(count)
    minutes = [utc_now(moment - 60 * back)[:16] for back in range(59, -1, -1)]
    return {
        "recent": int(count_recent),
        "day": int(count_day),
        "minutes": minutes,
        "per_minute": per_minute,
        "outcomes": sorted({outcome for counts in per_minute.values() for outcome in counts}),
    }
