"""Gauges that describe stored state, read when Prometheus scrapes (one short read, no writes)."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.broker.probe import ProbeStatus
from gateway.store import Store
from gateway.telemetry.metrics import GatewayMetrics


async def refresh(
    metrics: GatewayMetrics,
    store: Store,
    businesses: Iterable[str],
    *,
    broker_up: bool,
    probes: Iterable[ProbeStatus] = (),
) -> None:
    """Set the state gauges from the store, the broker link and the queue probes."""
    metrics.broker_connected.set(1 if broker_up else 0)
    for probe in probes:
        metrics.queue_delivering.labels(probe.queue).set(1 if probe.delivering else 0)
        if probe.last_round_trip_seconds is not None:
            metrics.probe_round_trip.labels(probe.queue).set(probe.last_round_trip_seconds)
    async with store.read() as tx:
        depth = await tx.outbox.depth()
        staged = await tx.audit.count()
        log_size = await tx.log.size()
        checkpoint = await tx.log.latest_checkpoint()
        per_business = [
            (business, await tx.endpoints.disabled_reason(business), await tx.disclosures.latest(business))
            for business in businesses
        ]
    metrics.outbox_rows.set(depth.rows)
    metrics.outbox_fanouts.set(depth.fanouts)
    metrics.outbox_oldest.set(depth.oldest_age_seconds)
    metrics.audit_staged.set(staged)
    metrics.log_size.set(log_size)
    metrics.log_checkpoint_size.set(0 if checkpoint is None else checkpoint[0])
    for business, disabled, latest in per_business:
        metrics.endpoint_disabled.labels(business).set(1 if disabled is not None else 0)
        metrics.disclosure_revision.labels(business).set(0 if latest is None else latest.revision)
