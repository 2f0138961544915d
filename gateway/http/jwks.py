"""The public keys that verify disclosures and notices."""

from __future__ import annotations

from aiohttp import web

from gateway.http.keys import SIGNING_KEYS

routes = web.RouteTableDef()


@routes.get("/.well-known/jwks.json")
async def jwks(request: web.Request) -> web.Response:
    """Every signing key, the active one first; old ones stay so old signatures verify."""
    return web.json_response(
        request.app[SIGNING_KEYS].jwks(), headers={"Cache-Control": "public, max-age=300"}
    )
