"""The transparency log over HTTP in the C2SP tlog-tiles layout, and disclosures' inclusion proofs."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import RequestError
from gateway.http.keys import CONFIG, TRANSPARENCY

routes = web.RouteTableDef()
# A full tile or bundle never changes; a partial one is replaced by a wider one, never altered.
IMMUTABLE = "public, max-age=31536000, immutable"
# Revisions are 64-bit integers in the store: a longer number names no revision (and must not reach SQL).
MAX_REVISION = 2**62


@routes.get("/log/checkpoint")
async def checkpoint(request: web.Request) -> web.Response:
    """The latest signed checkpoint (C2SP signed note)."""
    note = await request.app[TRANSPARENCY].latest_checkpoint()
    if note is None:
        raise RequestError(404, "no_checkpoint", "the log has no signed checkpoint yet")
    return web.Response(text=note, content_type="text/plain", headers={"Cache-Control": "no-cache"})


@routes.get("/log/tile/{path:.+}")
async def tile(request: web.Request) -> web.Response:
    """A hash tile or an entry bundle."""
    try:
        data = await request.app[TRANSPARENCY].tile(request.match_info["path"])
    except ValueError as exc:
        raise RequestError(400, "bad_tile_path", str(exc)) from exc
    if data is None:
        raise RequestError(404, "tile_not_found", "no such tile in the latest checkpoint")
    return web.Response(
        body=data, content_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE}
    )


@routes.get("/log/vkey")
async def vkey(request: web.Request) -> web.Response:
    """The log's verifier key (``<origin>+<key ID>+<base64 key>``) clients and witnesses pin."""
    return web.Response(text=request.app[TRANSPARENCY].verifier_key + "\n", content_type="text/plain")


@routes.get("/disclosures/{business_id}/{revision:[0-9]+}/proof")
async def proof(request: web.Request) -> web.Response:
    """Where a revision sits in the log, a checkpoint holding it, and the inclusion proof."""
    business_id = request.match_info["business_id"]
    if business_id not in request.app[CONFIG].current.businesses:
        raise RequestError(404, "business_not_found", f"no disclosure for {business_id!r}")
    revision = int(request.match_info["revision"])
    found = None if revision > MAX_REVISION else await request.app[TRANSPARENCY].proof(business_id, revision)
    if found is None:
        raise RequestError(404, "not_in_checkpoint", "that revision is in no signed checkpoint yet")
    return web.json_response(found.as_json(), headers={"Cache-Control": "no-cache"})
