"""Per-client state is bounded: buckets expire once refilled and are capped in number."""

from __future__ import annotations

import tracemalloc

from gateway.http.auth import FAILED_AUTH_BURST, FAILED_AUTH_PER_SECOND
from gateway.http.ratelimit import MAX_KEYS, RateLimiter


class TestBounded:
    def test_100k_addresses_cost_bounded_memory(self) -> None:
        """100,000 distinct addresses failing at once keep at most MAX_KEYS buckets and a few MB."""
        limiter = RateLimiter()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for n in range(100_000):
            limiter.take(
                f"auth-failures:10.{n >> 16}.{(n >> 8) & 255}.{n & 255}",
                FAILED_AUTH_PER_SECOND,
                FAILED_AUTH_BURST,
                now=0.0,
            )
        grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
        tracemalloc.stop()
        print(f"100,000 addresses: {len(limiter)} buckets kept, +{grown / 1e6:.1f} MB")
        assert len(limiter) <= MAX_KEYS
        assert grown < 5_000_000

    def test_refilled_buckets_are_forgotten(self) -> None:
        """Once a client's bucket is full again it is dropped; the next call starts it afresh."""
        limiter = RateLimiter()
        for n in range(1000):
            limiter.take(f"client-{n}", 5.0, 20, now=0.0)
        assert len(limiter) == 1000
        for n in range(300):
            limiter.take(f"later-{n}", 5.0, 20, now=100.0)
        assert len(limiter) < 1000

    def test_limits_still_hold(self) -> None:
        """Eviction never lets a busy key past its limit: the 21st call in a burst of 20 waits."""
        limiter = RateLimiter(max_keys=50)
        waits = [limiter.take("busy", 5.0, 20, now=0.0) for _ in range(21)]
        assert waits[:20] == [0.0] * 20
        assert waits[20] > 0
