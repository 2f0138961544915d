"""A probe through a consumed queue: does the broker still deliver what it accepts.

A broker can take publishes and never hand them to a consumer (a queue process
stuck, a consumer cancelled without notice). A connection check cannot see that,
so now and then each consumer puts a small probe message on its own queue,
asking for an answer on RabbitMQ's direct reply-to. Whichever process consumes
it (any replica) answers and acks it; the asker times the round trip.

The rate is bounded: one probe outstanding per queue and process, and a new one
only ``interval`` seconds after the last came back. A queue is reported stuck
when its probe is older than ``deadline`` and nothing at all was delivered from
it in that time, so a long backlog that is draining is not mistaken for a stall.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

PROBE_HEADER = "x-hostgate-probe"
PROBE_TYPE = "hostgate.probe"
# RabbitMQ's pseudo-queue for replies on the asking channel; answers go only to names under it.
REPLY_TO = "amq.rabbitmq.reply-to"


def is_reply_address(reply_to: str) -> bool:
    """True for a direct reply-to address, the only place a probe's answer may be sent."""
    return reply_to.startswith(REPLY_TO + ".")


@dataclass(frozen=True, slots=True)
class ProbeStatus:
    """What readiness and metrics show about one queue."""

    queue: str
    delivering: bool
    # Seconds the outstanding probe has waited (None: none outstanding).
    waiting_seconds: float | None
    last_round_trip_seconds: float | None


class QueueProbe:
    """The probe state of one queue in this process; the consumer sends and answers."""

    def __init__(
        self,
        queue: str,
        interval: float,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue = queue
        self._interval = interval
        self._deadline = deadline
        self._clock = clock
        self._token: str | None = None
        self._sent_at = 0.0
        self._next_at = clock()
        self._last_delivery = clock()
        self._round_trip: float | None = None

    def due(self) -> str | None:
        """A fresh token when a probe should go out now (and marks it sent), else None."""
        now = self._clock()
        if self._token is not None or now < self._next_at:
            return None
        self._token = secrets.token_hex(8)
        self._sent_at = now
        return self._token

    def delivered(self) -> None:
        """Something (probe or not) was delivered from the queue: it is moving."""
        self._last_delivery = self._clock()

    def answered(self, token: str) -> bool:
        """The answer to a probe came back (True); one for an older or unknown probe is ignored."""
        if token != self._token:
            return False
        now = self._clock()
        self._round_trip = now - self._sent_at
        self._token = None
        self._next_at = now + self._interval
        return True

    def restart(self) -> None:
        """A new channel: the old probe's answer can no longer arrive, so stop waiting for it."""
        now = self._clock()
        self._token = None
        self._next_at = now
        self._last_delivery = now

    def status(self) -> ProbeStatus:
        """Whether the queue delivers, by the rule in the module docstring."""
        now = self._clock()
        waiting = now - self._sent_at if self._token is not None else None
        stalled = (
            waiting is not None and waiting > self._deadline and now - self._last_delivery > self._deadline
        )
        return ProbeStatus(self.queue, not stalled, waiting, self._round_trip)
