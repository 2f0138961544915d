"""Who is calling: a business, known only by the hash of its bearer API key."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.config.fields import hash_api_key
from gateway.config.loader import Business
from gateway.errors import AuthError, HostgateError, RequestError
from gateway.http.keys import BUSINESS_LIMITS, CONFIG, RATE_LIMITER

BUSINESS_PATHS = "/v1/"
NETWORK_PATHS = "/v1/network/"
_CALLER = web.RequestKey("business", Business)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def caller(request: web.Request) -> Business:
    """The business the request's API key belongs to (set by the auth middleware)."""
    return request[_CALLER]


# Guessing keys: failed attempts per client address share a small bucket; past it, 429.
FAILED_AUTH_PER_SECOND = 5.0
FAILED_AUTH_BURST = 20


def failed_auth_wait(request: web.Request) -> float:
    """Count a failed authentication from this client; seconds it must wait (0 while under the limit)."""
    return request.app[RATE_LIMITER].take(
        f"auth-failures:{request.remote}", FAILED_AUTH_PER_SECOND, FAILED_AUTH_BURST
    )


def _refuse(request: web.Request, message: str) -> HostgateError:
    wait = failed_auth_wait(request)
    if wait > 0:
        return RequestError(
            429,
            "rate_limited",
            "too many failed authentications; retry later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return AuthError(message)


def bearer_hash(request: web.Request) -> str | None:
    """The hash of the request's ``Authorization: Bearer`` key, or None when it carries none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    # Keys are printable ASCII; bytes that are not (\xff\xfe arrives as surrogates) are no key at all.
    if scheme.lower() != "bearer" or not token or not token.isascii() or not token.isprintable():
        return None
    return hash_api_key(token)


def _token_hash(request: web.Request) -> str:
    hashed = bearer_hash(request)
    if hashed is None:
        raise _refuse(request, "send the credential as 'Authorization: Bearer <key>'")
    return hashed


@web.middleware
async def business_auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate ``/v1/`` calls: the network's credential on ``/v1/network/``, business keys elsewhere."""
    if not request.path.startswith(BUSINESS_PATHS):
        return await handler(request)
    config = request.app[CONFIG].current
    key_hash = _token_hash(request)
    network_credential = key_hash in config.settings.network.credential_hashes
    business_id = config.key_index.get(key_hash)
    if request.path.startswith(NETWORK_PATHS):
        if network_credential:
            return await handler(request)
        if business_id is not None:
            raise RequestError(
                403, "forbidden_credential", "a business key cannot call the network's endpoints"
            )
        raise _refuse(request, "unknown or revoked network credential")
    if network_credential:
        raise RequestError(
            403, "forbidden_credential", "the network's credential cannot call business endpoints"
        )
    business = config.businesses.get(business_id) if business_id else None
    if business is None:
        raise _refuse(request, "unknown or revoked API key")
    limit = business.file.rate_limit
    wait = await request.app[BUSINESS_LIMITS].take(business.id, limit.per_second, limit.burst)
    if wait > 0:
        raise RequestError(
            429,
            "rate_limited",
            f"over {limit.per_second:g} requests/s (burst {limit.burst}); retry after the delay given",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    request[_CALLER] = business
    return await handler(request)
