"""Sign-in rate limits: failed attempts per account, all attempts per client address.

Sliding windows kept in this process's memory, bounded in size (the oldest keys are dropped
first), so a flood of made-up emails cannot grow it without limit.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

MAX_KEYS = 50_000


class SlidingWindow:
    """At most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _live(self, key: str, moment: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            hits = deque()
            self._hits[key] = hits
            while len(self._hits) > MAX_KEYS:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= moment - self.window:
            hits.popleft()
        return hits

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it may try now."""
        moment = time.monotonic()
        with self._lock:
            hits = self._live(key, moment)
            if len(hits) < self.limit:
                return None
            return max(1.0, hits[0] + self.window - moment)

    def hit(self, key: str) -> None:
        moment = time.monotonic()
        with self._lock:
            self._live(key, moment).append(moment)

    def clear(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)


class LoginLimits:
    def __init__(self, per_account: int, per_ip: int, window: float) -> None:
        self.accounts = SlidingWindow(per_account, window)
        self.addresses = SlidingWindow(per_ip, window)
