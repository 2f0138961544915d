"""The gateway's Prometheus metrics: one registry per app, instruments the services update.

Names follow Prometheus conventions (base units, ``_total`` for counters).
Label sets are bounded: business ids (from config), queue names, fixed
outcome words; never a user id or a message id. Counters and histograms are
updated where the work happens; gauges that describe stored state (outbox,
staged audit records, disabled endpoints, disclosure revisions) are read at
scrape time by ``gateway/http/metrics.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.telemetry.recent import RecentDeliveries

_Metric = TypeVar("_Metric", Counter, Gauge, Histogram)

# Host calls and confirms: from a loopback host's milliseconds to a business's 120 s timeout.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class TrailPosition(Protocol):
    """**Protocol:** what the audit writer tells about its progress (read from any thread)."""

    seq: int
    appended: int

    @property
    def uncheckpointed(self) -> int:
        """Records written since the last signed checkpoint."""
        ...

    @property
    def checkpoint_age_seconds(self) -> float:
        """Seconds since the last signed checkpoint (or since the writer opened)."""
        ...


class _TrailCollector(Collector):
    """The trail's counters, read from the writer when scraped (it runs on its own thread)."""

    def __init__(self, trail: TrailPosition) -> None:
        self._trail = trail

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        """The writer's families."""
        yield CounterMetricFamily(
            "hostgate_audit_records", "Records this process appended to the audit trail", self._trail.appended
        )
        yield GaugeMetricFamily(
            "hostgate_audit_chain_seq", "Sequence number of the trail's head", self._trail.seq
        )
        yield GaugeMetricFamily(
            "hostgate_audit_checkpoint_age_seconds",
            "Time since the trail's last signed checkpoint",
            self._trail.checkpoint_age_seconds,
        )
        yield GaugeMetricFamily(
            "hostgate_audit_uncheckpointed_records",
            "Records written since the trail's last signed checkpoint",
            self._trail.uncheckpointed,
        )


class GatewayMetrics:
    """Every instrument, registered in this object's own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.recent = RecentDeliveries()
        self.pending: dict[str, int] = {}
        self._children: dict[tuple[int, tuple[str, ...]], Counter | Gauge | Histogram] = {}
        self.http_requests = Counter(
            "hostgate_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "hostgate_http_request_seconds", "HTTP request latency", ["route"], registry=r
        )
        # Broker
        self.broker_connected = Gauge(
            "hostgate_broker_connected", "1 while the broker link is up", registry=r
        )
        self.queue_delivering = Gauge(
            "hostgate_broker_queue_delivering",
            "1 while the readiness probe through a consumed queue comes back (0: stuck)",
            ["queue"],
            registry=r,
        )
        self.probe_round_trip = Gauge(
            "hostgate_broker_probe_round_trip_seconds",
            "Round trip of the last answered readiness probe through a consumed queue",
            ["queue"],
            registry=r,
        )
        self.publishes = Counter(
            "hostgate_broker_publishes_total", "Messages published, by outcome", ["outcome"], registry=r
        )
        self.confirm_latency = Histogram(
            "hostgate_broker_confirm_seconds",
            "Time from publishing a window to its last confirm",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.consumed = Counter(
            "hostgate_consumer_messages_total",
            (
                "Messages consumed, by queue and what became of them"
                " (ack, requeue, poison; store_wait: tried again while the store was unreachable)"
            ),
            ["queue", "outcome"],
            registry=r,
        )
        # Outbox and fan-out
        self.outbox_rows = Gauge("hostgate_outbox_rows", "Rows waiting in the outbox", registry=r)
        self.outbox_fanouts = Gauge(
            "hostgate_outbox_fanouts", "Notice fan-outs waiting or under way", registry=r
        )
        self.outbox_oldest = Gauge(
            "hostgate_outbox_oldest_age_seconds", "How long the oldest outbox row has waited", registry=r
        )
        self.notices_sent = Counter(
            "hostgate_notices_sent_total",
            "Per-chat notices confirmed by the broker",
            ["business"],
            registry=r,
        )
        # Deliveries to business hosts
        self.deliveries = Counter(
            "hostgate_deliveries_total",
            "Delivery attempts to a business's host, by outcome (delivered, retry, dead_lettered, parked)",
            ["business", "outcome"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "hostgate_delivery_seconds",
            "Duration of a host call (delivery)",
            ["business"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.retries_pending = Gauge(
            "hostgate_retries_pending",
            "Deliveries this process put on the retry schedule that have not come back yet",
            ["business"],
            registry=r,
        )
        self.dead_letters = Counter(
            "hostgate_dead_letters_total", "Deliveries given up and kept for replay", ["business"], registry=r
        )
        self.endpoint_disabled = Gauge(
            "hostgate_endpoint_disabled",
            "1 while a business's endpoint is disabled",
            ["business"],
            registry=r,
        )
        # Audit trail: counts from the writer's thread are read at scrape (see watch_trail)
        self.audit_staged = Gauge(
            "hostgate_audit_staged_records",
            "Records committed but not yet in the trail (drain lag)",
            registry=r,
        )
        # Disclosures and the transparency log
        self.disclosure_revision = Gauge(
            "hostgate_disclosure_revision",
            "Newest disclosure revision per business",
            ["business"],
            registry=r,
        )
        self.log_size = Gauge("hostgate_log_size", "Leaves in the transparency log", registry=r)
        self.log_checkpoint_size = Gauge(
            "hostgate_log_checkpoint_size", "Leaves covered by the latest signed checkpoint", registry=r
        )

    def child(self, metric: _Metric, *values: str) -> _Metric:
        """``metric.labels(*values)``, remembered: the hot paths ask per message, labels() locks each time."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return cast(_Metric, found)

    def delivery(self, business_id: str, outcome: str) -> None:
        """Count one delivery outcome (the counter, and the console's last hour)."""
        self.child(self.deliveries, business_id, outcome).inc()
        self.recent.outcome(business_id, outcome)

    def retries_waiting(self, business_id: str, pending: int) -> None:
        """Set how many retries this process scheduled for a business and has not seen back."""
        self.child(self.retries_pending, business_id).set(pending)
        self.pending[business_id] = pending

    def host_call(self, business_id: str, seconds: float) -> None:
        """Time one call to a business's host."""
        self.child(self.delivery_latency, business_id).observe(seconds)
        self.recent.latency(business_id, seconds)

    def watch_trail(self, trail: TrailPosition) -> None:
        """Expose the audit writer's progress."""
        self.registry.register(_TrailCollector(trail))
