"""The OpenAPI 3.1 document, shipped beside this module and served at ``/openapi.json``."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from aiohttp import web

routes = web.RouteTableDef()


@cache
def document() -> dict[str, Any]:
    """The parsed OpenAPI document."""
    parsed: dict[str, Any] = json.loads(resources.files(__package__).joinpath("openapi.json").read_text())
    return parsed


@routes.get("/openapi.json")
async def openapi(_request: web.Request) -> web.Response:
    """The API description."""
    return web.json_response(document())
