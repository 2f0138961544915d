"""A business's request limit for the whole gateway, however many processes serve it.

The bucket lives in the store (``tx.rates``); each process takes a batch of tokens
(a tenth of the burst) and spends it locally, so the bucket's row is written once per
batch rather than once per request. Precision, as ``docs/scaling.md`` states it: the
cluster never admits more than the bucket holds (every token comes from the row);
it may admit fewer, by at most the tokens other processes took and have not spent
yet, ``(processes - 1) * batch``, and a batch unspent after ``HOLD_SECONDS`` is
dropped rather than kept for a later burst.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.store import Store

HOLD_SECONDS = 1.0
BATCH_FRACTION = 0.1


@dataclass
class _Held:
    tokens: int
    until: float


class BusinessLimits:
    """Takes tokens from the shared buckets in batches."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._fetching: dict[str, asyncio.Lock] = {}

    def _spend(self, key: str) -> bool:
        held = self._held.get(key)
        if held is None or held.tokens < 1 or held.until <= self._clock():
            return False
        held.tokens -= 1
        return True

    async def take(self, key: str, per_second: float, burst: int) -> float:
        """Take one token; return 0 when allowed, else the seconds until one is available."""
        if self._spend(key):
            return 0.0
        # One fetch per key at a time: requests arriving meanwhile share its batch.
        lock = self._fetching.setdefault(key, asyncio.Lock())
        async with lock:
            if self._spend(key):
                return 0.0
            want = max(1, math.floor(burst * BATCH_FRACTION))
            async with self._store.unit() as tx:
                granted, wait = await tx.rates.take(key, want, per_second, burst)
            if not granted:
                return wait
            self._held[key] = _Held(granted - 1, self._clock() + HOLD_SECONDS)
            return 0.0
