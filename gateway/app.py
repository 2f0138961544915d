"""Build the aiohttp application and wire its resources."""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from gateway.broker.link import BrokerLink
from gateway.config.loader import GatewayConfig
from gateway.http import health
from gateway.http.errors import error_middleware
from gateway.http.keys import BROKER, CONFIG

log = structlog.get_logger("hostgate.app")


async def _adapters_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    for business in app[CONFIG].businesses.values():
        await business.adapter.aclose()


async def _broker_ctx(app: web.Application) -> AsyncIterator[None]:
    link = app[BROKER]
    await link.start()
    yield
    await link.close()


def build_app(config: GatewayConfig, connection_name: str = "hostgate") -> web.Application:
    """The gateway as an aiohttp application; resources open and close with it."""
    app = web.Application(
        middlewares=[error_middleware], client_max_size=config.settings.http.max_body_bytes
    )
    app[CONFIG] = config
    app[BROKER] = BrokerLink(config.settings.broker, name=connection_name)
    app.cleanup_ctx.extend([_adapters_ctx, _broker_ctx])
    app.add_routes(health.routes)
    return app
