"""A TCP proxy on loopback that breaks the link on cue: cut every connection, or slow every chunk."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class FaultProxy:
    """Forwards 127.0.0.1:<port> to a target; ``sever()`` and ``delay`` inject faults."""

    target: tuple[str, int]
    port: int = 0
    delay: float = 0.0
    severed: int = 0
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def sever(self) -> None:
        """Cut every connection now (both sides see a reset)."""
        self.severed += len(self._writers)
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while chunk := await reader.read(65536):
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(chunk)
                await writer.drain()
        writer.transport.abort()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update({client_writer, upstream_writer})
        await asyncio.gather(
            self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer)
        )
        self._writers.difference_update({client_writer, upstream_writer})


@asynccontextmanager
async def fault_proxy(target: tuple[str, int]) -> AsyncIterator[FaultProxy]:
    """A running proxy to ``target``."""
    proxy = FaultProxy(target)
    server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0)
    proxy.port = int(server.sockets[0].getsockname()[1])
    try:
        yield proxy
    finally:
        proxy.sever()
        server.close()
        await server.wait_closed()
