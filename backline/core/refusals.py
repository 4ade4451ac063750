"""Refused requests, counted so that a wrong token or public URL cannot refuse calls in silence.

A forged request is refused with a 403 and nothing else happens; but so is every real call when
``BACKLINE_TWILIO_AUTH_TOKEN`` or ``BACKLINE_PUBLIC_URL`` is wrong, and from the outside the two
look the same. :class:`RefusalWatch` keeps the counts that ``/healthz`` shows, decides when a
refusal is worth a log line (the first at once, then at most one summary a minute, so a flood
of forgeries cannot flood the log) and whether most recent requests were refused (the health
turns ``degraded``). Pure: the caller passes the time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["RefusalWatch"]


@dataclass
class RefusalWatch:
    # Requests older than this no longer count as "recent".
    window_seconds: float = 600.0
    # The most recent requests remembered (a flood must not grow memory).
    window_size: int = 200
    # At most one log line per this many seconds.
    log_every_seconds: float = 60.0
    # Below this many recent refusals the health stays ok: a lone probe is not a wrong token.
    min_refusals: int = 3
    refused_total: int = 0
    accepted_total: int = 0
    _recent: deque[tuple[float, bool]] = field(default_factory=deque)
    _unlogged: int = 0
    _next_log_at: float = float("-inf")

    def observe(self, *, refused: bool, now: float) -> int:
        """Count one checked request; returns how many refusals to log now (0: stay quiet)."""
        self._recent.append((now, refused))
        while len(self._recent) > self.window_size:
            self._recent.popleft()
        if not refused:
            self.accepted_total += 1
            return 0
        self.refused_total += 1
        self._unlogged += 1
        if now < self._next_log_at:
            return 0
        due, self._unlogged = self._unlogged, 0
        self._next_log_at = now + self.log_every_seconds
        return due

    def recent(self, now: float) -> tuple[int, int]:
        """(refused, checked) among the requests of the last ``window_seconds``."""
        while self._recent and self._recent[0][0] < now - self.window_seconds:
            self._recent.popleft()
        refused = sum(1 for _at, was_refused in self._recent if was_refused)
        return refused, len(self._recent)

    def mostly_refused(self, now: float) -> bool:
        """Whether most recent requests were refused (and enough of them to mean something)."""
        refused, checked = self.recent(now)
        return refused >= self.min_refusals and refused * 2 > checked
