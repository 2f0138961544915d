"""Build the aiohttp application and wire its resources, each opened and closed by a cleanup_ctx."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aio_pika.abc import AbstractRobustConnection
from aiohttp import web

from gateway.broker import topology
from gateway.broker.link import BrokerLink
from gateway.broker.publisher import Publisher
from gateway.broker.relay import OutboxRelay
from gateway.config.loader import GatewayConfig
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.service import DisclosureService
from gateway.http import health, jwks
from gateway.http.errors import error_middleware
from gateway.http.keys import BROKER, CONFIG, DISCLOSURES, PUBLISHER, RELAY, SIGNING_KEYS, STORE
from gateway.reload import ConfigHolder
from gateway.store.sqlite import SqliteStore

log = structlog.get_logger("hostgate.app")

STORE_FILE = "hostgate.sqlite3"


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[STORE].open()
    yield
    await app[STORE].close()


async def _adapters_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    for business in app[CONFIG].current.businesses.values():
        await business.adapter.aclose()


async def _disclosures_ctx(app: web.Application) -> AsyncIterator[None]:
    # Revisions are persisted (and queued) before the broker or the API can act under them.
    await app[DISCLOSURES].sync(app[CONFIG].current.businesses)
    yield


async def _broker_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[BROKER].start()
    await app[RELAY].start()
    yield
    await app[RELAY].close()
    await app[PUBLISHER].close()
    await app[BROKER].close()


async def apply_config(app: web.Application, config: GatewayConfig) -> None:
    """After a good reload: new revisions for what changed, and wake the relay."""
    created = await app[DISCLOSURES].sync(config.businesses)
    if created:
        app[RELAY].wake()


def build_app(config: GatewayConfig, connection_name: str = "hostgate") -> web.Application:
    """The gateway as an aiohttp application."""
    settings = config.settings
    app = web.Application(middlewares=[error_middleware], client_max_size=settings.http.max_body_bytes)
    app[CONFIG] = ConfigHolder(config)
    app[STORE] = SqliteStore(config.path(settings.state_dir) / STORE_FILE)
    app[SIGNING_KEYS] = KeyRing.open(config.path(settings.signing_key_dir))
    app[DISCLOSURES] = DisclosureService(app[STORE], app[SIGNING_KEYS])

    async def on_connect(connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        try:
            await topology.declare(channel)
        finally:
            await channel.close()
        log.info("broker.topology_declared")
        app[RELAY].wake()

    app[BROKER] = BrokerLink(settings.broker, name=connection_name, on_connect=on_connect)
    app[PUBLISHER] = Publisher(app[BROKER], settings.broker.publish_timeout_seconds)
    app[RELAY] = OutboxRelay(app[STORE], app[PUBLISHER], app[SIGNING_KEYS])
    app.cleanup_ctx.extend([_store_ctx, _adapters_ctx, _disclosures_ctx, _broker_ctx])
    app.add_routes(health.routes)
    app.add_routes(jwks.routes)
    return app
