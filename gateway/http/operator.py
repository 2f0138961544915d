"""Operator actions on the running gateway: ``POST /operator/purge`` (an operator key from [console])."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import AuthError
from gateway.http.auth import bearer_hash
from gateway.http.keys import CONFIG, SWEEPER

routes = web.RouteTableDef()


@routes.post("/operator/purge")
async def purge(request: web.Request) -> web.Response:
    """Purge what is past each business's retention now, in this gateway (audited as the sweeper is)."""
    hashed = bearer_hash(request)
    if hashed is None or hashed not in request.app[CONFIG].current.settings.console.operator_key_hashes:
        raise AuthError("an operator key ([console] operator_key_hashes) is required")
    report = await request.app[SWEEPER].sweep()
    return web.json_response({"removed": report.removed})
