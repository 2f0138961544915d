"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import BROKER, CONFIG, RELAY

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    """Config loaded and broker reachable, with the outbox's depth; 503 naming what is not."""
    holder = request.app[CONFIG]
    broker = request.app[BROKER].status()
    depth = await request.app[RELAY].depth()
    checks = {
        "config": {
            "ok": True,
            "businesses": len(holder.current.businesses),
            "generation": holder.generation,
        },
        "broker": {"ok": broker.connected, "url": broker.url, "reason": broker.reason or None},
        "outbox": {
            "rows": depth.rows,
            "fanouts": depth.fanouts,
            "oldest_age_seconds": depth.oldest_age_seconds,
        },
    }
    ready = broker.connected
    body: dict[str, object] = {"status": "ready" if ready else "unready", "checks": checks}
    if not ready:
        body["reason"] = f"broker {broker.url} unreachable: {broker.reason}"
    return web.json_response(body, status=200 if ready else 503)
