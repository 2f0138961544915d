"""A network-side consumer of hostgate's disclosures and notices, verifying each one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from types import TracebackType

import aio_pika
import aiohttp
import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection

from gateway.broker.topology import DISCLOSURES, NOTICES
from gateway.client.jwks import fetch_jwks
from gateway.client.transparency import LogVerifier, TileReader
from gateway.client.verifier import Accepted, EventVerifier, Rejected
from gateway.disclosure.signed import attributes
from gateway.events import NOTICE_BATCH

log = structlog.get_logger("hostgate.client")


class NetworkClient:
    """Consumes disclosures and notices; yields only verified, new, in-order events.

    With ``queue=None`` it binds a private, auto-deleted queue to both exchanges
    (a watcher that sees everything without taking messages from the network's
    queues); give a queue name to consume a shared durable queue instead.
    """

    def __init__(
        self,
        amqp_url: str,
        jwks_url: str,
        *,
        queue: str | None = None,
        name: str = "hostgate-client",
        log: LogVerifier | None = None,
        gateway_url: str | None = None,
    ) -> None:
        self._amqp_url = amqp_url
        self._jwks_url = jwks_url
        self._queue_name = queue
        self._name = name
        self._session: aiohttp.ClientSession | None = None
        self._connection: AbstractRobustConnection | None = None
        self.verifier = EventVerifier({}, log=log)
        # Where the log's tiles are read for consistency proofs (default: beside the JWKS).
        self._gateway_url = gateway_url or jwks_url.split("/.well-known/", 1)[0]
        self.rejected: list[Rejected] = []
        self.on_rejected: Callable[[Rejected], None] | None = None

    async def __aenter__(self) -> NetworkClient:
        self._session = aiohttp.ClientSession()
        self.verifier.update_keys(await fetch_jwks(self._jwks_url, self._session))
        self._connection = await aio_pika.connect_robust(
            self._amqp_url, client_properties={"connection_name": self._name}
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._connection is not None:
            await self._connection.close()
        if self._session is not None:
            await self._session.close()

    async def _queue(self) -> AbstractQueue:
        assert self._connection is not None  # noqa: S101 -- used inside the context manager only
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=500)
        if self._queue_name is not None:
            return await channel.get_queue(self._queue_name, ensure=False)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for route in (DISCLOSURES, NOTICES):
            await queue.bind(route.exchange, routing_key="#")
        return queue

    async def events(self) -> AsyncIterator[Accepted]:
        """Verified events, as they arrive; forged, duplicate and stale ones are dropped."""
        queue = await self._queue()
        async with queue.iterator() as messages:
            async for message in messages:
                verdicts = await self._check(message)
                await message.ack()
                for verdict in verdicts:
                    if isinstance(verdict, Rejected):
                        self.rejected.append(verdict)
                        log.warning("client.event_rejected", reason=verdict.reason)
                        if self.on_rejected is not None:
                            self.on_rejected(verdict)
                        continue
                    yield verdict

    async def _check(self, message: AbstractIncomingMessage) -> list[Accepted | Rejected]:
        headers = dict(message.headers)
        if not self.verifier.knows_kid_of(headers) and self._session is not None:
            # A kid we do not know yet is most likely a rotation: fetch the JWKS once more.
            try:
                self.verifier.update_keys(await fetch_jwks(self._jwks_url, self._session))
            except Exception:  # noqa: BLE001 -- verification below reports the unknown key
                await asyncio.sleep(0)
        if attributes(headers).get("type") == NOTICE_BATCH:
            return self.verifier.check_batch(headers, message.body)  # one verdict per chat in it
        consistency: list[bytes] = []
        sizes = self.verifier.log_sizes(headers)
        if sizes is not None and self._session is not None:
            with contextlib.suppress(Exception):  # no proof: the check below refuses the event
                consistency = await TileReader(self._session, self._gateway_url).consistency(*sizes)
        return [self.verifier.check(headers, message.body, consistency)]
