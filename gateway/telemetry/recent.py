"""The last hour of deliveries per business, minute by minute, for the console's delivery page.

Prometheus keeps history for dashboards; the console has no Prometheus to ask,
so this process keeps a small ring of per-minute counts and a latency histogram
(fixed buckets, so memory is bounded however many deliveries there are). With
several replicas each page shows the process that served it; the dashboard
shows them all.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MINUTES = 60
# Upper bounds (seconds) of the latency buckets; the last bucket holds anything slower.
BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
ATTEMPTS = ("delivered", "retry", "dead_lettered")


@dataclass(frozen=True, slots=True)
class Minute:
    """One minute of one business's deliveries."""

    start: int  # unix time of the minute's start
    delivered: int
    failed: int  # attempts that failed (retried or given up)
    p95_seconds: float | None


@dataclass
class _Bucket:
    minute: int
    delivered: int = 0
    failed: int = 0
    latencies: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS) + 1))


def p95(latencies: list[int]) -> float | None:
    """The 95th percentile from bucket counts: the upper bound of the bucket it falls in."""
    total = sum(latencies)
    if total == 0:
        return None
    wanted, seen = 0.95 * total, 0
    for index, count in enumerate(latencies):
        seen += count
        if seen >= wanted:
            return BOUNDS[index] if index < len(BOUNDS) else float("inf")
    return float("inf")  # pragma: no cover -- the loop always reaches the total


class RecentDeliveries:
    """Per business, the last ``MINUTES`` minutes of attempts and latencies."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._rings: dict[str, list[_Bucket]] = {}

    def _bucket(self, business_id: str) -> _Bucket:
        minute = int(self._clock() // 60)
        ring = self._rings.setdefault(business_id, [])
        slot = minute % MINUTES
        if len(ring) < MINUTES:
            ring.extend(_Bucket(-1) for _ in range(MINUTES - len(ring)))
        if ring[slot].minute != minute:
            ring[slot] = _Bucket(minute)
        return ring[slot]

    def outcome(self, business_id: str, outcome: str) -> None:
        """Count one attempt's outcome (parked events are not attempts and are ignored)."""
        if outcome not in ATTEMPTS:
            return
        bucket = self._bucket(business_id)
        if outcome == "delivered":
            bucket.delivered += 1
        else:
            bucket.failed += 1

    def latency(self, business_id: str, seconds: float) -> None:
        """Add one host call's duration."""
        self._bucket(business_id).latencies[bisect.bisect_left(BOUNDS, seconds)] += 1

    def minutes(self, business_id: str) -> list[Minute]:
        """The last ``MINUTES`` minutes, oldest first (zeros where nothing happened)."""
        now = int(self._clock() // 60)
        ring = {b.minute: b for b in self._rings.get(business_id, [])}
        out = []
        for minute in range(now - MINUTES + 1, now + 1):
            bucket = ring.get(minute)
            if bucket is None:
                out.append(Minute(minute * 60, 0, 0, None))
            else:
                out.append(Minute(minute * 60, bucket.delivered, bucket.failed, p95(bucket.latencies)))
        return out

    def hour_p95(self, business_id: str) -> float | None:
        """The 95th percentile of host-call latency over the whole window."""
        now = int(self._clock() // 60)
        merged = [0] * (len(BOUNDS) + 1)
        for bucket in self._rings.get(business_id, []):
            if now - MINUTES < bucket.minute <= now:
                merged = [a + b for a, b in zip(merged, bucket.latencies, strict=True)]
        return p95(merged)
