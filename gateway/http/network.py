"""Endpoints only the network may call (with its own credential): users' data exports."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import AUDIT, CONFIG, STORE
from gateway.rights.export import export_user as build_user_export
from gateway.rights.sweeper import retentions

routes = web.RouteTableDef()


@routes.get("/v1/network/users/{user_id}/export")
async def export_user(request: web.Request) -> web.Response:
    """Everything hostgate holds about a user (metadata only), as JSON; the export is audited."""
    user_id = request.match_info["user_id"]
    holder = request.app[CONFIG]
    operators = {b.id: b.facts.operator for b in holder.current.businesses.values()}
    document = await build_user_export(
        request.app[STORE], request.app[AUDIT], user_id, retentions(holder), operators, requester="network"
    )
    return web.json_response(document)
