"""Public, unauthenticated reads for the network and its clients: current signed disclosures."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import RequestError
from gateway.http.keys import CONFIG, DISCLOSURES

routes = web.RouteTableDef()
JWS_HEADER = "Hostgate-Jws"


@routes.get("/disclosures")
async def list_disclosures(request: web.Request) -> web.Response:
    """Every business with its current revision, for a client that joins late."""
    service = request.app[DISCLOSURES]
    items = []
    for business_id in sorted(request.app[CONFIG].current.businesses):
        latest = await service.latest(business_id)
        if latest is not None:
            items.append({"business_id": business_id, "revision": latest.revision})
    return web.json_response({"disclosures": items})


@routes.get("/disclosures/{business_id}")
async def get_public_disclosure(request: web.Request) -> web.Response:
    """The exact signed bytes of a business's current disclosure; the detached JWS rides in a header."""
    business_id = request.match_info["business_id"]
    latest = await request.app[DISCLOSURES].latest(business_id)
    if latest is None or business_id not in request.app[CONFIG].current.businesses:
        raise RequestError(404, "business_not_found", f"no disclosure for {business_id!r}")
    return web.Response(
        body=latest.body,
        content_type="application/json",
        headers={JWS_HEADER: latest.jws, "Cache-Control": "no-cache"},
    )
