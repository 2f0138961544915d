"""The one place hostgate errors become HTTP responses: JSON with a stable code, never a traceback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from gateway.errors import (
    AuthError,
    BrokerError,
    DisclosurePending,
    HostgateError,
    IdempotencyKeyReused,
    RecipientBlocked,
    RequestError,
    StaleDisclosure,
    StoreError,
)

log = structlog.get_logger("hostgate.http")

# Errors whose own message is written for the caller; first match wins.
_STATUS: list[tuple[type[HostgateError], int]] = [
    (AuthError, 401),
    (StaleDisclosure, 409),
    (DisclosurePending, 503),
    (IdempotencyKeyReused, 409),
    (RecipientBlocked, 403),
]
# Errors whose message is for the operator (it may name a file, a host or a driver's words):
# the caller gets a fixed answer, the log gets the detail.
_FIXED: list[tuple[type[HostgateError], int, str]] = [
    (StoreError, 503, "the gateway cannot reach its store; retry later"),
    (BrokerError, 503, "the gateway cannot reach its broker; retry later"),
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


def _ours(exc: HostgateError) -> web.Response | None:
    if isinstance(exc, RequestError):
        return error_response(exc.status, exc.code, str(exc), exc.headers)
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            headers = {"WWW-Authenticate": 'Bearer realm="hostgate"'} if isinstance(exc, AuthError) else None
            return error_response(status, exc.code, str(exc), headers)
    for cls, status, message in _FIXED:
        if isinstance(exc, cls):
            return error_response(status, exc.code, message, {"Retry-After": "1"})
    return None


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map HostgateError and aiohttp's HTTP errors to JSON; anything unexpected is a logged 500."""
    try:
        return await handler(request)
    except HostgateError as exc:
        response = _ours(exc)
        if response is None:
            log.error(  # noqa: TRY400 -- a HostgateError with no HTTP mapping; its text is the detail
                "http.unexpected_error", path=request.path, code=exc.code, error=str(exc)
            )
            return _internal()
        if response.status >= 500:  # noqa: PLR2004 -- server-side: the operator needs the detail
            log.warning("http.unavailable", path=request.path, code=exc.code, error=str(exc))
        else:
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
        return _internal()


def _internal() -> web.Response:
    return error_response(500, "internal_error", "the gateway failed; the request can be retried")
