"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from gateway.http.auth import bearer_hash
from gateway.http.keys import BROKER, CONFIG, CONSUMERS, RELAY

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
    """Config loaded, broker reachable and delivering, with the outbox's depth; 503 naming what is not.

    "Delivering" is the probe of ``gateway.broker.probe`` through each consumed queue. The
    broker's URL and error text are shown only to a caller with the network's credential or an
    operator key (``Authorization: Bearer``); others see what is down.
    """
    holder = request.app[CONFIG]
    broker = request.app[BROKER].status()
    probes = [c.probe.status() for c in request.app[CONSUMERS] if c.probe is not None]
    stuck = [probe for probe in probes if not probe.delivering]
    depth = await request.app[RELAY].depth()
    broker_check: dict[str, object] = {"ok": broker.connected}
    checks = {
        "config": {
            "ok": True,
            "businesses": len(holder.current.businesses),
            "generation": holder.generation,
        },
        "broker": broker_check,
        "queues": {
            probe.queue: {
                "ok": probe.delivering,
                "probe_waiting_seconds": _rounded(probe.waiting_seconds),
                "probe_round_trip_seconds": _rounded(probe.last_round_trip_seconds),
            }
            for probe in probes
        },
        "outbox": {
            "rows": depth.rows,
            "fanouts": depth.fanouts,
            "oldest_age_seconds": depth.oldest_age_seconds,
        },
    }
    detail = _may_see_detail(request)
    if detail:
        broker_check.update(url=broker.url, reason=broker.reason or None)
    ready = broker.connected and not stuck
    body: dict[str, object] = {"status": "ready" if ready else "unready", "checks": checks}
    if not broker.connected:
        body["reason"] = (
            f"broker {broker.url} unreachable: {broker.reason}" if detail else "broker unreachable"
        )
    elif stuck:
        body["reason"] = "broker accepts but does not deliver: " + ", ".join(
            f"{p.queue} (probe unanswered for {p.waiting_seconds or 0:.0f} s)" for p in stuck
        )
    return web.json_response(body, status=200 if ready else 503)


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)
