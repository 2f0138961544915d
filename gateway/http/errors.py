"""The one place hostgate errors become HTTP responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.errors import (
    AuthError,
    BrokerError,
    ConfigError,
    HostgateError,
    StaleDisclosure,
)

log = structlog.get_logger("hostgate.http")

_STATUS: list[tuple[type[HostgateError], int]] = [
    (AuthError, 401),
    (StaleDisclosure, 409),
    (BrokerError, 503),
    (ConfigError, 500),
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    """The JSON error shape every endpoint answers with."""
    return {"error": {"code": code, "message": message}}


def status_for(exc: HostgateError) -> int:
    """HTTP status for one of our errors (most specific class first)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 500


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map HostgateError and aiohttp's own HTTP errors to JSON; never leak a traceback."""
    try:
        return await handler(request)
    except HostgateError as exc:
        status = status_for(exc)
        log.warning("http.error", path=request.path, code=exc.code, status=status)
        return web.json_response(error_body(exc.code, str(exc)), status=status)
    except web.HTTPException as exc:
        if exc.status < 400:  # noqa: PLR2004 -- redirects and the like pass through
            raise
        code = exc.reason.lower().replace(" ", "_")
        return web.json_response(error_body(code, exc.reason), status=exc.status)
