"""Prometheus metrics at ``/metrics``: HTTP requests counted here, the rest from ``gateway/telemetry``."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.errors import StoreError
from gateway.http.keys import BROKER, CONFIG, CONSUMERS, STORE
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.snapshot import refresh

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()
log = structlog.get_logger("hostgate.metrics")

METRICS = web.AppKey("metrics", GatewayMetrics)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request by route (the pattern, never the concrete path)."""
    started = time.perf_counter()
    response = await handler(request)
    route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
    metrics = request.app[METRICS]
    metrics.child(metrics.http_requests, request.method, route, str(response.status)).inc()
    metrics.child(metrics.http_latency, route).observe(time.perf_counter() - started)
    return response


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """The Prometheus text exposition."""
    app = request.app
    try:
        await refresh(
            app[METRICS],
            app[STORE],
            app[CONFIG].current.businesses,
            broker_up=app[BROKER].status().connected,
            probes=[c.probe.status() for c in app[CONSUMERS] if c.probe is not None],
        )
    except StoreError as exc:
        # The counters are still worth serving; the stored-state gauges keep their last values.
        log.warning("metrics.state_unreadable", error=str(exc)[:200])
    body = generate_latest(app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
