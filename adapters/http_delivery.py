"""One HTTP delivery attempt, and what its answer means for retrying."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import aiohttp

from adapters.base import DeliveryResult
from adapters.egress import DestinationRefused, EgressPolicy, guarded_session
from gateway.telemetry.tracing import trace_headers

_GONE = 410
_TOO_MANY = 429
# Not followed, and not a success either: a webhook endpoint that redirects is misconfigured.
_REDIRECTS = range(300, 400)


def _retry_after(value: str | None) -> timedelta | None:
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=int(value.strip()))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when - datetime.now(UTC), timedelta(0))


def classify(status: int, retry_after: str | None) -> DeliveryResult:
    """Map an endpoint's HTTP status to delivered, retry, rejected or gone."""
    if 200 <= status < 300:  # noqa: PLR2004 -- the 2xx range
        return DeliveryResult("delivered", f"http {status}")
    if status == _GONE:
        return DeliveryResult("gone", "http 410: endpoint asked to stop deliveries")
    if status == _TOO_MANY:
        return DeliveryResult("retry", "http 429", retry_after=_retry_after(retry_after))
    if status in _REDIRECTS:
        return DeliveryResult("retry", f"http {status}: redirects are not followed")
    # Standard Webhooks: every other non-2xx is retried on the schedule. A 404 or 401 is most
    # often an endpoint mid-deploy or a secret mid-rotation; giving up at once would lose it.
    return DeliveryResult("retry", f"http {status}")


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], policy: EgressPolicy
) -> DeliveryResult:
    """POST once (destination checked, no redirects, the answer read with a cap) and classify it."""
    try:
        policy.check_url(url)
        # With tracing on and inside a span, the host gets its traceparent (W3C Trace Context).
        if traced := trace_headers():
            headers = {**headers, **traced}
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
            # Drain at most a little of the body so the connection can be reused.
            await response.content.read(4096)
            return classify(response.status, response.headers.get("Retry-After"))
    except aiohttp.InvalidURL as exc:
        return DeliveryResult("rejected", f"destination refused: not a valid URL ({type(exc).__name__})")
    except DestinationRefused as exc:
        # A business's URL pointing inside our network is its configuration to fix, not a retry.
        return DeliveryResult("rejected", f"destination refused: {exc}")
    except TimeoutError:
        return DeliveryResult("retry", "timeout")
    except aiohttp.ClientError as exc:
        return DeliveryResult("retry", f"connection failed: {type(exc).__name__}")


def new_session(policy: EgressPolicy, total_timeout: float = 15.0) -> aiohttp.ClientSession:
    """A client session with timeouts on every request, whose every connection passes the policy."""
    return guarded_session(policy, total_timeout=total_timeout, connect_timeout=min(5.0, total_timeout))
