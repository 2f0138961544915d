"""The console's delivery page: how each business's deliveries are going, and the two fixes an operator has.

Per business: deliveries per minute, success rate and p95 host latency over the
last hour (this process's figures, drawn as inline SVG), retries pending,
whether its endpoint is enabled, and its dead letters. "Enable" and "Replay"
are form posts from the page itself (session cookie SameSite=Strict plus the
same-origin check), for a signed-in operator only, and each is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import structlog
from aiohttp import web
from markupsafe import Markup

from gateway.broker import dead_letters
from gateway.console.charts import sparkline
from gateway.console.common import PREFIX, page, read_form, require_api, require_page
from gateway.errors import HostgateError, RequestError
from gateway.http.keys import BROKER, CONFIG, DELIVERY_CONTROL, STORE
from gateway.http.metrics import METRICS
from gateway.telemetry.recent import Minute

log = structlog.get_logger("hostgate.console")
routes = web.RouteTableDef()
PAGE = f"{PREFIX}/deliveries"
# What a finished action says on the page; only these texts are shown (the query names one).
DONE = {
    "enabled": "{business}: endpoint enabled again.",
    "not-disabled": "{business}: the endpoint was not disabled.",
    "replayed": "{business}: {count} dead letter(s) sent back for delivery.",
}


@dataclass(frozen=True, slots=True)
class BusinessDeliveries:
    """One row of the page."""

    business_id: str
    display_name: str
    per_minute: float  # over the last five minutes
    success_rate: float | None  # over the hour; None without attempts
    p95_ms: float | None
    retries_pending: int
    disabled_reason: str | None
    dead_letters: int | None  # None: the broker cannot be asked now
    rate_chart: Markup
    success_chart: Markup
    latency_chart: Markup


def _row(
    business_id: str,
    name: str,
    minutes: list[Minute],
    hour_p95: float | None,
    pending: int,
    disabled: str | None,
    dead: int | None,
) -> BusinessDeliveries:
    attempts = sum(m.delivered + m.failed for m in minutes)
    latencies = [None if m.p95_seconds is None else m.p95_seconds * 1000 for m in minutes]
    return BusinessDeliveries(
        business_id=business_id,
        display_name=name,
        per_minute=sum(m.delivered for m in minutes[-5:]) / 5,
        success_rate=sum(m.delivered for m in minutes) / attempts if attempts else None,
        p95_ms=None if hour_p95 is None else hour_p95 * 1000,
        retries_pending=pending,
        disabled_reason=disabled,
        dead_letters=dead,
        rate_chart=sparkline([m.delivered for m in minutes], label=f"{business_id}: deliveries per minute"),
        success_chart=sparkline(
            [m.delivered / (m.delivered + m.failed) if m.delivered + m.failed else None for m in minutes],
            label=f"{business_id}: success rate per minute",
            ceiling=1.0,
        ),
        latency_chart=sparkline(latencies, label=f"{business_id}: p95 latency per minute (ms)"),
    )


async def _dead_count(request: web.Request, business_id: str) -> int | None:
    connection = request.app[BROKER].connection
    if connection is None or not request.app[BROKER].status().connected:
        return None
    try:
        return await dead_letters.count(connection, business_id)
    except (HostgateError, ConnectionError, RuntimeError) as exc:
        log.warning("console.dead_letters_unreadable", business=business_id, error=type(exc).__name__)
        return None


@routes.get(PAGE)
async def deliveries_page(request: web.Request) -> web.Response:
    """Every business's deliveries over the last hour, with its endpoint and dead letters."""
    await require_page(request)
    config = request.app[CONFIG].current
    metrics = request.app[METRICS]
    businesses = sorted(config.businesses.values(), key=lambda b: b.id)
    async with request.app[STORE].read() as tx:
        disabled = {b.id: await tx.endpoints.disabled_reason(b.id) for b in businesses}
    rows = [
        _row(
            b.id,
            b.file.display_name,
            metrics.recent.minutes(b.id),
            metrics.recent.hour_p95(b.id),
            metrics.pending.get(b.id, 0),
            disabled[b.id],
            await _dead_count(request, b.id),
        )
        for b in businesses
    ]
    return page("deliveries.html", page="deliveries", rows=rows, notice=_notice(request))


def _notice(request: web.Request) -> str | None:
    """The outcome of the action just taken, from a fixed set of texts."""
    kind, business = request.query.get("done", ""), request.query.get("business", "")
    if kind not in DONE or business not in request.app[CONFIG].current.businesses:
        return None
    count = request.query.get("count", "0")
    return DONE[kind].format(business=business, count=count if count.isdigit() else "0")


def _business(request: web.Request) -> str:
    business_id = request.match_info["business_id"]
    if business_id not in request.app[CONFIG].current.businesses:
        raise RequestError(404, "business_not_found", f"no business {business_id!r} in the config")
    return business_id


def _back(**query: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PAGE}?{urlencode(query)}")


@routes.post(f"{PAGE}/{{business_id}}/enable")
async def enable(request: web.Request) -> web.Response:
    """Enable a disabled endpoint again (audited as ``endpoint.enabled``)."""
    await require_api(request)
    business_id = _business(request)
    changed = await request.app[DELIVERY_CONTROL].enable(business_id, by="console")
    log.info("console.endpoint_enabled", business=business_id, changed=changed)
    raise _back(done="enabled" if changed else "not-disabled", business=business_id)


@routes.post(f"{PAGE}/{{business_id}}/replay")
async def replay(request: web.Request) -> web.Response:
    """Send the business's dead letters (or the one named) back for delivery (``deliveries.replayed``)."""
    await require_api(request)
    business_id = _business(request)
    form = await read_form(request)
    message_id = form.get("message_id", "").strip() or None
    replayed = await request.app[DELIVERY_CONTROL].replay(
        request.app[BROKER].connection, business_id, "console", message_id
    )
    log.info("console.deliveries_replayed", business=business_id, count=len(replayed))
    raise _back(done="replayed", business=business_id, count=str(len(replayed)))
