"""The one place hostgate errors become HTTP responses: JSON with a stable code, never a traceback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.errors import AuthError, BrokerError, HostgateError, RequestError, StaleDisclosure

log = structlog.get_logger("hostgate.http")

_STATUS: list[tuple[type[HostgateError], int]] = [
    (AuthError, 401),
    (StaleDisclosure, 409),
    (BrokerError, 503),
]

# aiohttp's own HTTP errors, given codes that say what to fix.
_AIOHTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The JSON error shape every endpoint answers with."""
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def _ours(exc: HostgateError) -> web.Response:
    if isinstance(exc, RequestError):
        return error_response(exc.status, exc.code, str(exc), exc.headers)
    status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 500)
    headers = {"WWW-Authenticate": 'Bearer realm="hostgate"'} if isinstance(exc, AuthError) else None
    return error_response(status, exc.code, str(exc), headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map HostgateError and aiohttp's HTTP errors to JSON; anything unexpected is a logged 500."""
    try:
        return await handler(request)
    except HostgateError as exc:
        response = _ours(exc)
        log.info("http.refused", path=request.path, code=exc.code, status=response.status)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:  # noqa: PLR2004 -- redirects and the like pass through
            raise
        code = _AIOHTTP_CODES.get(exc.status, exc.reason.lower().replace(" ", "_"))
        # Keep headers the status requires (Allow on 405).
        kept = {k: v for k, v in exc.headers.items() if k.lower() in {"allow", "retry-after"}}
        return error_response(exc.status, code, exc.reason, kept or None)
    except Exception:
        log.exception("http.unexpected_error", path=request.path)
        return error_response(500, "internal_error", "the gateway failed; the request can be retried")
