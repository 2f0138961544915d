"""Guard the listening socket: a cap on open connections and a deadline for request headers.

aiohttp has neither. Without a cap, every connection a client opens costs a
protocol object and buffers, so memory grows with whatever a client (or a
botnet) opens. Past ``max_connections`` a new connection gets a fixed 503 and
is closed before aiohttp sees it. Without a header deadline, a client that
sends a request line and then one byte a minute (slowloris) holds a connection
forever: until the blank line that ends the headers arrives a timer runs, and
when it fires the connection is closed. Idle keep-alive connections are
aiohttp's own keepalive_timeout; slow bodies are bounded where handlers read them.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

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


_BUSY_BODY = (
    b'{"error":{"code":"too_many_connections","message":"the gateway is at its connection limit; retry"}}'
)
BUSY_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


class Refused(asyncio.Protocol):
    """A connection over the cap: a fixed 503, then closed; nothing is read or parsed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Answer and close."""
        # A TCP server's transport writes (uvloop's is not an asyncio.WriteTransport subclass).
        writable = cast("asyncio.Transport", transport)
        writable.write(BUSY_RESPONSE)
        writable.close()


class ConnectionCount:
    """Open connections, against a cap; refusals are logged at most once a second."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.refused = 0
        self._logged_at = 0.0

    def admit(self) -> bool:
        """Take a slot if one is free."""
        if self.open >= self.limit:
            self.refused += 1
            now = time.monotonic()
            if now - self._logged_at >= 1.0:
                self._logged_at = now
                log.warning(
                    "http.connections_refused", open=self.open, limit=self.limit, refused=self.refused
                )
            return False
        self.open += 1
        return True

    def release(self) -> None:
        """Give a slot back."""
        self.open -= 1


class Counted(HeaderDeadline):
    """HeaderDeadline that also gives its slot back when the connection ends."""

    def __init__(self, inner: asyncio.Protocol, seconds: float, count: ConnectionCount) -> None:
        super().__init__(inner, seconds)
        self._count = count

    def connection_lost(self, exc: Exception | None) -> None:
        """Free the slot, then hand over."""
        self._count.release()
        super().connection_lost(exc)


class DeadlineSite(web.TCPSite):
    """A TCP site with a connection cap and a header deadline on every connection."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        header_seconds: float,
        max_connections: int,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, host, port, reuse_port=reuse_port)
        self._header_seconds = header_seconds
        self.connections = ConnectionCount(max_connections)

    async def start(self) -> None:
        """Listen, as TCPSite does, with each protocol wrapped."""
        # TCPSite.start() offers no way to wrap the protocol factory: this mirrors it.
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None  # noqa: S101 -- set up by the runner before sites start
        count = self.connections

        def factory() -> asyncio.Protocol:
            if not count.admit():
                return Refused()
            return Counted(server(), self._header_seconds, count)

        self._server = await asyncio.get_running_loop().create_server(
            factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
