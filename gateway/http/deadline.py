"""Drop connections that do not finish sending their request headers in time.

aiohttp has no header-read deadline of its own: a client that sends a request
line and then one byte a minute (slowloris) holds a connection forever. Every
connection's protocol is wrapped: until the blank line that ends the headers
arrives, a timer runs; when it fires, the connection is closed. Idle keep-alive
connections are aiohttp's own keepalive_timeout; slow bodies are bounded where
handlers read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiohttp import web

log = structlog.get_logger("hostgate.http")

_END_OF_HEADERS = b"\r\n\r\n"
_MAX_WATCHED = 64 * 1024  # aiohttp refuses header blocks far smaller than this


class HeaderDeadline(asyncio.Protocol):
    """Delegates to aiohttp's protocol; closes the transport if headers are not complete in time."""

    def __init__(self, inner: asyncio.Protocol, seconds: float) -> None:
        self._inner = inner
        self._seconds = seconds
        self._seen = b""
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the clock, then hand over."""
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._seconds, self._expire)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Watch for the end of the headers; pass everything on."""
        if self._timer is not None:
            self._seen = (self._seen + data)[-_MAX_WATCHED:]
            if _END_OF_HEADERS in self._seen:
                self._stop()
        self._inner.data_received(data)

    def _expire(self) -> None:
        self._timer = None
        log.info("http.slow_request_dropped", seconds=self._seconds)
        if self._transport is not None:
            self._transport.close()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._seen = b""

    def eof_received(self) -> bool | None:
        """Hand over."""
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock and hand over."""
        self._stop()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Hand over."""
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        """Hand over."""
        self._inner.resume_writing()


class DeadlineSite(web.TCPSite):
    """A TCP site whose connections are wrapped in HeaderDeadline."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, header_seconds: float) -> None:
        super().__init__(runner, host, port)
        self._header_seconds = header_seconds

    async def start(self) -> None:
        """Listen, as TCPSite does, with each protocol wrapped."""
        # TCPSite.start() offers no way to wrap the protocol factory: this mirrors it.
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None  # noqa: S101 -- set up by the runner before sites start
        factory: Callable[[], asyncio.Protocol] = lambda: HeaderDeadline(server(), self._header_seconds)  # noqa: E731 -- a factory, as create_server wants
        self._server = await asyncio.get_running_loop().create_server(
            factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
