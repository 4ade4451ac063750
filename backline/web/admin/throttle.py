"""Sign-in throttling: after :data:`LIMIT` failed sign-ins within :data:`WINDOW` seconds from one
address, or for one user name, further attempts from it (or for it) are refused for
:data:`LOCKOUT` seconds, without checking the password at all.

It lives in the process's memory, bounded: at most ``max_keys`` addresses and user names are
remembered (the least recently failed are forgotten first), each with at most ``limit`` times.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

__all__ = ["LIMIT", "LOCKOUT", "WINDOW", "SignInThrottle"]

LIMIT = 5
WINDOW = 15 * 60.0
LOCKOUT = 15 * 60.0
MAX_KEYS = 10_000


@dataclass
class _Failures:
    times: deque[float]
    blocked_until: float = 0.0


@dataclass
class SignInThrottle:
    limit: int = LIMIT
    window: float = WINDOW
    lockout: float = LOCKOUT
    max_keys: int = MAX_KEYS
    clock: Callable[[], float] = time.monotonic
    _keys: OrderedDict[str, _Failures] = field(default_factory=OrderedDict)

    def wait(self, keys: Iterable[str]) -> int:
        """Seconds (rounded up) until any of ``keys`` may try again; 0: it may now."""
        now = self.clock()
        waits = [
            failures.blocked_until - now
            for key in keys
            if (failures := self._keys.get(key)) is not None
        ]
        return max(0, math.ceil(max(waits, default=0.0)))

    def failed(self, keys: Iterable[str]) -> None:
        """One failed sign-in for each of ``keys``."""
        now = self.clock()
        for key in keys:
            failures = self._keys.pop(key, None) or _Failures(deque(maxlen=self.limit))
            failures.times.append(now)
            while failures.times and failures.times[0] <= now - self.window:
                failures.times.popleft()
            if len(failures.times) >= self.limit:
                failures.blocked_until = now + self.lockout
                failures.times.clear()
            self._keys[key] = failures  # the most recent last
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._keys.pop(key, None)

    def __len__(self) -> int:
        return len(self._keys)
