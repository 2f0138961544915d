"""A server span per request, installed only when ``[tracing]`` is on (so off costs nothing here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from gateway.telemetry.tracing import TRACEPARENT, Tracing

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def tracing_middleware(tracing: Tracing) -> Middleware:
    """A middleware opening a span named by method and route, child of the caller's ``traceparent``."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        attributes = {"http.request.method": request.method, "http.route": route}
        with tracing.span(
            f"{request.method} {route}",
            parent=request.headers.get(TRACEPARENT),
            kind="server",
            attributes=attributes,
        ):
            return await handler(request)

    return middleware
