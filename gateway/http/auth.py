"""Who is calling: a business, known only by the hash of its bearer API key."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.config.loader import Business
from gateway.errors import AuthError, RequestError
from gateway.http.keys import CONFIG, RATE_LIMITER

BUSINESS_PATHS = "/v1/"
_CALLER = web.RequestKey("business", Business)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def caller(request: web.Request) -> Business:
    """The business the request's API key belongs to (set by the auth middleware)."""
    return request[_CALLER]


@web.middleware
async def business_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate ``/v1/`` calls by API key and apply the business's rate limit."""
    if not request.path.startswith(BUSINESS_PATHS):
        return await handler(request)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("send the API key as 'Authorization: Bearer <key>'")
    config = request.app[CONFIG].current
    business_id = config.key_index.get("sha256:" + hashlib.sha256(token.strip().encode()).hexdigest())
    business = config.businesses.get(business_id) if business_id else None
    if business is None:
        raise AuthError("unknown or revoked API key")
    limit = business.file.rate_limit
    wait = request.app[RATE_LIMITER].take(business.id, limit.per_second, limit.burst)
    if wait > 0:
        raise RequestError(
            429,
            "rate_limited",
            f"over {limit.per_second:g} requests/s (burst {limit.burst}); retry after the delay given",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request[_CALLER] = business
    return await handler(request)
