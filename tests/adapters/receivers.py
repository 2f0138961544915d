"""Real HTTP receivers on 127.0.0.1 that record requests and answer on cue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.support import served


@dataclass
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every request; answers each with the next queued (status, headers), else 200."""

    url: str
    requests: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    """Serve a recording endpoint on 127.0.0.1 with a free port."""
    state = Receiver(url="")

    async def handle(request: web.Request) -> web.Response:
        state.requests.append(Received(request.path, dict(request.headers), await request.read()))
        status, headers = state.answers.pop(0) if state.answers else (200, {})
        return web.Response(status=status, headers=headers, text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    async with served(app) as url:
        state.url = url
        yield state
