"""Token buckets: over the limit answers 429 with Retry-After, never a dropped message.

Memory is bounded whatever the callers do: a bucket that has refilled completely is the
same as no bucket and is forgotten, and past ``max_keys`` the least recently used bucket
goes first (a forgotten bucket starts full again, so forgetting only ever errs on the
side of the caller, never blocks one).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

MAX_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float
    full_at: float  # when, left alone, it holds ``burst`` tokens again


class RateLimiter:
    """In-process buckets keyed by business or client (one process; replicas each enforce their share)."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max_keys = max_keys

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, per_second: float, burst: int, now: float | None = None) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        self._forget_full(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(burst), now, now)
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            wait = 0.0
        else:
            wait = (1 - bucket.tokens) / per_second
        bucket.full_at = now + (burst - bucket.tokens) / per_second
        return wait

    def _forget_full(self, now: float) -> None:
        # The front is the least recently used; a few per call keeps this O(1) on average.
        for _ in range(4):
            if not self._buckets:
                return
            key, oldest = next(iter(self._buckets.items()))
            if oldest.full_at > now:
                return
            del self._buckets[key]
