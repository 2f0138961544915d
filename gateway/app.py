"""Build the aiohttp application and wire its resources, each opened and closed by a cleanup_ctx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.audit.setup import make_trail
from gateway.audit.staging import AuditDrain, stage
from gateway.audit.witness import CheckpointForwarder
from gateway.bridge.bulkhead import Bulkhead, Parking
from gateway.bridge.consents import ConsentHandler
from gateway.bridge.delivery_control import DeliveryControl
from gateway.bridge.inbound import InboundHandler
from gateway.bridge.outbound import OutboundService
from gateway.bridge.receipts import ReceiptHandler
from gateway.bridge.status_webhooks import StatusWebhookHandler
from gateway.broker import topology
from gateway.broker.consumer import Handler, QueueConsumer
from gateway.broker.link import BrokerLink
from gateway.broker.probe import QueueProbe
from gateway.broker.publisher import Publisher
from gateway.broker.retries import STATUS_RETRIES, RetryScheduler
from gateway.config.loader import GatewayConfig
from gateway.console.routes import add_console
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.service import DisclosureService
from gateway.disclosure.signing_pool import SigningPool
from gateway.http import health, jwks, messages, metrics, network, openapi, operator, public, transparency
from gateway.http.auth import business_auth_middleware
from gateway.http.business_limits import BusinessLimits
from gateway.http.errors import error_middleware
from gateway.http.keys import (
    AUDIT,
    AUDIT_DRAIN,
    BROKER,
    BUSINESS_LIMITS,
    CONFIG,
    CONSENT_CONSUMER,
    CONSUMERS,
    DELIVERY_CONTROL,
    DISCLOSURES,
    INBOUND_CONSUMER,
    OUTBOUND_SERVICE,
    PARKINGS,
    PUBLISHER,
    RATE_LIMITER,
    RECEIPT_CONSUMER,
    RELAY,
    SIGNING_KEYS,
    STATUS_CONSUMER,
    STORE,
    SWEEPER,
    TRACING,
    TRANSPARENCY,
    WITNESS,
)
from gateway.http.metrics import METRICS, metrics_middleware
from gateway.http.ratelimit import RateLimiter
from gateway.http.tracing import tracing_middleware
from gateway.leasing import Lease
from gateway.relay.relay import OutboxRelay
from gateway.reload import ConfigHolder
from gateway.rights.sweeper import RetentionSweeper
from gateway.store import open_store_at
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.tracing import Tracing, TracingOptions
from gateway.transparency import note
from gateway.transparency.log import TransparencyLog, open_log_key
from gateway.transparency.submit import WitnessEndpoint

INBOUND_PREFETCH = 250
AUDIT_LEASE = "audit"

log = structlog.get_logger("hostgate.app")


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[STORE].open()
    log.info("store.opened", engine=app[STORE].engine, url=app[CONFIG].current.settings.store.redacted_url())
    yield
    await app[STORE].aclose()


async def _audit_ctx(app: web.Application) -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    # The drain opens the trail's writer once it holds the audit lease (one writer per cluster).
    await app[AUDIT_DRAIN].start()
    app[WITNESS].attach(loop, app[RELAY].wake)
    rotations: set[asyncio.Task[None]] = set()

    def spawn(old: str, new: str) -> None:
        task = loop.create_task(_record(app, "keys.rotated", kid=new, previous_kid=old))
        rotations.add(task)
        task.add_done_callback(rotations.discard)

    def on_rotate(old: str, new: str) -> None:
        # The key ring may notice a rotation on any thread (the signing pool's, a reader's).
        loop.call_soon_threadsafe(spawn, old, new)

    app[SIGNING_KEYS].on_rotate = on_rotate
    await _record_config(app, app[CONFIG].current)
    yield
    await asyncio.gather(*rotations)
    await app[AUDIT_DRAIN].close()
    await app[WITNESS].drain()


async def _record(app: web.Application, event: str, **fields: object) -> None:
    async with app[STORE].unit() as tx:
        await stage(tx, app[AUDIT], event, **fields)
    app[AUDIT_DRAIN].wake()


async def _record_config(app: web.Application, config: GatewayConfig) -> None:
    await _record(
        app,
        "config.loaded",
        directory=str(config.directory),
        generation=app[CONFIG].generation,
        businesses=sorted(config.businesses),
    )


async def _adapters_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    for business in app[CONFIG].current.businesses.values():
        await business.adapter.aclose()


async def _disclosures_ctx(app: web.Application) -> AsyncIterator[None]:
    # Revisions are persisted (and queued) before the broker or the API can act under them.
    await app[DISCLOSURES].sync(app[CONFIG].current.businesses)
    await app[TRANSPARENCY].start()
    following = asyncio.create_task(app[DISCLOSURES].follow_store(), name="feed-follow")
    yield
    following.cancel()
    await asyncio.gather(following, return_exceptions=True)
    await app[TRANSPARENCY].close()


async def _broker_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[BROKER].start()
    await app[RELAY].start()
    consumers = app[CONSUMERS]
    for consumer in consumers:
        await consumer.start()
    await app[SWEEPER].start()
    yield
    await app[SWEEPER].close()
    for consumer in consumers:
        await consumer.close()
    for parking in app[PARKINGS]:
        await parking.close()
    await app[RELAY].close()
    await app[PUBLISHER].close()
    await app[BROKER].close()
    # Last: spans of the shutdown itself are exported too.
    await asyncio.to_thread(app[TRACING].shutdown)


async def apply_config(app: web.Application, config: GatewayConfig) -> None:
    """After a good reload: record it, make new revisions for what changed, wake the relay."""
    await _record_config(app, config)
    created = await app[DISCLOSURES].sync(config.businesses)
    if created:
        app[RELAY].wake()


def build_app(
    config: GatewayConfig, connection_name: str = "hostgate", tracing: Tracing | None = None
) -> web.Application:
    """The gateway as an aiohttp application (``tracing`` replaces what ``[tracing]`` asks for)."""
    settings = config.settings
    if tracing is None:
        tracing = Tracing.from_options(TracingOptions(**settings.tracing.model_dump(mode="json")))
    middlewares: list[Middleware] = [metrics_middleware, error_middleware, business_auth_middleware]
    if tracing.enabled:  # installed only when on: off costs the request path nothing
        middlewares.insert(1, tracing_middleware(tracing))
    app = web.Application(middlewares=middlewares, client_max_size=settings.http.max_body_bytes)
    app[TRACING] = tracing
    app[METRICS] = GatewayMetrics()
    app[RATE_LIMITER] = RateLimiter()
    app[CONFIG] = ConfigHolder(config)
    app[STORE] = open_store_at(
        settings.store.url, config.path(settings.state_dir), pool_size=settings.store.pool_size
    )
    app[BUSINESS_LIMITS] = BusinessLimits(app[STORE])
    app[SIGNING_KEYS] = KeyRing.open(config.path(settings.signing_key_dir))
    app[WITNESS] = CheckpointForwarder(app[STORE])
    app[AUDIT] = make_trail(config, app[SIGNING_KEYS], on_checkpoint=app[WITNESS])
    app[METRICS].watch_trail(app[AUDIT].writer)
    app[AUDIT_DRAIN] = AuditDrain(app[STORE], app[AUDIT], lease=Lease(app[STORE], AUDIT_LEASE))
    app[DISCLOSURES] = DisclosureService(app[STORE], app[SIGNING_KEYS], app[AUDIT])
    app[TRANSPARENCY] = TransparencyLog(
        app[STORE],
        settings.transparency.origin,
        open_log_key(config.path(settings.signing_key_dir)),
        settings.transparency.checkpoint_seconds,
        [WitnessEndpoint(str(w.url), note.Verifier.parse(w.vkey)) for w in settings.transparency.witnesses],
    )

    async def on_connect(connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        try:
            await topology.declare(channel)
        finally:
            await channel.close()
        log.info("broker.topology_declared")
        app[RELAY].broker_connected()

    app[BROKER] = BrokerLink(settings.broker, name=connection_name, on_connect=on_connect)
    app[PUBLISHER] = Publisher(app[BROKER], settings.broker.publish_timeout_seconds, app[METRICS])
    app[RELAY] = OutboxRelay(
        app[STORE],
        app[PUBLISHER],
        app[SIGNING_KEYS],
        app[AUDIT],
        signing=SigningPool(settings.broker.signing_processes),
        notice_form=settings.broker.notice_form,
        notice_window=settings.broker.notice_window,
        log_proof=app[TRANSPARENCY].proof_for_publish,
        metrics=app[METRICS],
        tracing=tracing,
    )
    app[DELIVERY_CONTROL] = DeliveryControl(app[STORE], app[AUDIT])
    app[OUTBOUND_SERVICE] = OutboundService(app[STORE], app[DISCLOSURES], app[AUDIT], app[RELAY])
    _add_consumers(app, tracing)
    app[SWEEPER] = RetentionSweeper(app[STORE], app[CONFIG], app[AUDIT], settings.retention.sweep_seconds)
    app.cleanup_ctx.extend([_store_ctx, _audit_ctx, _adapters_ctx, _disclosures_ctx, _broker_ctx])
    for module in (health, jwks, messages, metrics, network, openapi, operator, public, transparency):
        app.add_routes(module.routes)
    add_console(app)
    return app


def _add_consumers(app: web.Application, tracing: Tracing) -> None:
    """The consumers of hostgate's own queues, their handlers and the businesses' bulkheads."""
    broker = app[CONFIG].current.settings.broker
    retries = RetryScheduler(app[PUBLISHER], app[BROKER])

    def max_in_flight(business_id: str) -> int:
        business = app[CONFIG].current.businesses.get(business_id)
        return business.file.delivery.max_in_flight if business is not None else 1

    inbound_parking = Parking(Bulkhead(max_in_flight), retries, app[BROKER], app[PUBLISHER])
    inbound = InboundHandler(
        app[CONFIG],
        app[STORE],
        app[DISCLOSURES],
        app[SIGNING_KEYS],
        app[AUDIT],
        app[RELAY],
        retries,
        inbound_parking,
        metrics=app[METRICS],
        tracing=tracing,
    )

    def consumer(queue: str, handler: Handler, prefetch: int = 100) -> QueueConsumer:
        probe = QueueProbe(queue, broker.probe_interval_seconds, broker.probe_deadline_seconds)
        return QueueConsumer(
            app[BROKER],
            queue,
            handler,
            publisher=app[PUBLISHER],
            prefetch=prefetch,
            metrics=app[METRICS],
            probe=probe,
            tracing=tracing,
        )

    # Enough deliveries in flight for each group commit to cover many of them (one fsync).
    app[INBOUND_CONSUMER] = consumer(topology.INBOUND.queue, inbound, INBOUND_PREFETCH)
    app[RECEIPT_CONSUMER] = consumer(
        topology.RECEIPTS.queue, ReceiptHandler(app[STORE], app[CONFIG], app[RELAY])
    )
    app[CONSENT_CONSUMER] = consumer(
        topology.CONSENTS.queue, ConsentHandler(app[STORE], app[CONFIG], app[AUDIT])
    )
    # Status webhooks have their own bulkhead: a business's slow webhook does not take slots
    # from its own deliveries, and never from anyone else's.
    status_retries = RetryScheduler(app[PUBLISHER], app[BROKER], STATUS_RETRIES)
    status_parking = Parking(Bulkhead(max_in_flight), status_retries, app[BROKER], app[PUBLISHER])
    statuses = StatusWebhookHandler(app[CONFIG], status_retries, status_parking)
    app[PARKINGS] = (inbound_parking, status_parking)
    app[STATUS_CONSUMER] = consumer(topology.STATUSES.queue, statuses, INBOUND_PREFETCH)
    app[CONSUMERS] = (
        app[INBOUND_CONSUMER],
        app[RECEIPT_CONSUMER],
        app[CONSENT_CONSUMER],
        app[STATUS_CONSUMER],
    )
