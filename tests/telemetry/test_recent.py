"""The console's last hour of deliveries: per-minute counts, bounded memory, p95 from buckets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.telemetry.recent import BOUNDS, MINUTES, RecentDeliveries, p95


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_minutes_count_attempts_and_drop_what_is_older_than_an_hour() -> None:
    """Outcomes land in their minute; parked is not an attempt; an hour later they are gone."""
    clock = Clock()
    recent = RecentDeliveries(clock)
    for outcome in ("delivered", "delivered", "retry", "dead_lettered", "parked"):
        recent.outcome("b", outcome)
    recent.latency("b", 0.03)
    clock.now += 60
    recent.outcome("b", "delivered")
    minutes = recent.minutes("b")
    assert len(minutes) == MINUTES
    assert [(m.delivered, m.failed) for m in minutes[-2:]] == [(2, 2), (1, 0)]
    assert minutes[-2].p95_seconds == 0.05
    assert recent.hour_p95("b") == 0.05
    clock.now += 60 * MINUTES
    assert all(m.delivered == m.failed == 0 for m in recent.minutes("b"))
    assert recent.hour_p95("b") is None
    assert recent.minutes("never-seen")[-1].delivered == 0


@given(st.lists(st.floats(min_value=0, max_value=500, allow_nan=False), min_size=1, max_size=300))
def test_p95_is_the_bucket_bound_at_or_above_the_true_p95(samples: list[float]) -> None:
    """The bucketed p95 never understates the true one, and is the first bound at or above it."""
    recent = RecentDeliveries(Clock())
    for seconds in samples:
        recent.latency("b", seconds)
    estimate = recent.hour_p95("b")
    assert estimate is not None
    ordered = sorted(samples)
    true = ordered[max(0, -(-95 * len(ordered) // 100) - 1)]  # nearest-rank 95th percentile
    assert estimate >= true
    above = [b for b in BOUNDS if b >= true]
    assert estimate == (above[0] if above else float("inf"))


@given(st.integers(min_value=1, max_value=5000))
def test_memory_is_bounded_however_many_minutes_pass(minutes: int) -> None:
    """The ring never holds more than an hour of buckets per business."""
    clock = Clock()
    recent = RecentDeliveries(clock)
    for _ in range(min(minutes, 200)):
        recent.outcome("b", "delivered")
        clock.now += 60 * (minutes // 200 + 1)
    assert len(recent._rings["b"]) == MINUTES


def test_p95_of_nothing_is_none() -> None:
    """No samples, no percentile."""
    assert p95([0] * (len(BOUNDS) + 1)) is None
