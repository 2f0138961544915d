"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import bearer_hash
from gateway.http.keys import BROKER, CONFIG, RELAY

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


def _may_see_detail(request: web.Request) -> bool:
    """Broker host, user and error text are for the network or an operator, not for anyone who asks."""
    hashed = bearer_hash(request)
    if hashed is None:
        return False
    settings = request.app[CONFIG].current.settings
    return hashed in settings.network.credential_hashes or hashed in settings.console.operator_key_hashes


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Config loaded and broker reachable, with the outbox's depth; 503 naming what is not.

    The broker's URL and error text are shown only to a caller with the network's
    credential or an operator key (``Authorization: Bearer``); others see what is down.
    """
    holder = request.app[CONFIG]
    broker = request.app[BROKER].status()
    depth = await request.app[RELAY].depth()
    broker_check: dict[str, object] = {"ok": broker.connected}
    checks = {
        "config": {
            "ok": True,
            "businesses": len(holder.current.businesses),
            "generation": holder.generation,
        },
        "broker": broker_check,
        "outbox": {
            "rows": depth.rows,
            "fanouts": depth.fanouts,
            "oldest_age_seconds": depth.oldest_age_seconds,
        },
    }
    detail = _may_see_detail(request)
    if detail:
        broker_check.update(url=broker.url, reason=broker.reason or None)
    ready = broker.connected
    body: dict[str, object] = {"status": "ready" if ready else "unready", "checks": checks}
    if not ready:
        body["reason"] = (
            f"broker {broker.url} unreachable: {broker.reason}" if detail else "broker unreachable"
        )
    return web.json_response(body, status=200 if ready else 503)
