"""Publish to RabbitMQ with confirms, ``mandatory`` with returns raised, a timeout on each publish.

A window of messages is published back to back and its confirms awaited
together; the caller learns how many from the start of the window were
confirmed, so it can delete exactly those from the outbox and retry the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel
from pamqp import commands as spec

from gateway.broker.cloudevents import CONTENT_TYPE, CloudEvent
from gateway.broker.framing import Properties
from gateway.broker.link import BrokerLink
from gateway.errors import BrokerError, PublishNotConfirmed
from gateway.telemetry.metrics import GatewayMetrics

log = structlog.get_logger("hostgate.publisher")

_PERSISTENT = 2

_FAILURES = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,
    aio_pika.exceptions.ChannelClosed,
    ConnectionError,
    RuntimeError,  # aio-pika raises it for a closed connection or channel
    TimeoutError,
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event bound for one exchange and routing key, headers and body ready to send."""

    exchange: str
    routing_key: str
    event_id: str
    event_type: str
    headers: Mapping[str, str | int]
    body: bytes
    expiration_ms: int | None = None

    @classmethod
    def of(
        cls, exchange: str, routing_key: str, event: CloudEvent, expiration_ms: int | None = None
    ) -> Outgoing:
        """Wrap a CloudEvent."""
        return cls(exchange, routing_key, event.id, event.type, event.headers(), event.data, expiration_ms)

    def properties(self) -> spec.Basic.Properties:
        """AMQP properties: persistent, JSON, CloudEvents headers, message id = event id."""
        return Properties(
            headers=dict(self.headers),
            content_type=CONTENT_TYPE,
            message_id=self.event_id,
            message_type=self.event_type,
            delivery_mode=_PERSISTENT,
            expiration=None if self.expiration_ms is None else str(self.expiration_ms),
        )


class Publisher:
    """Owns one confirming channel on the broker link; reopened when it closes."""

    def __init__(self, link: BrokerLink, timeout: float, metrics: GatewayMetrics | None = None) -> None:
        self._link = link
        self._timeout = timeout
        self._metrics = metrics or GatewayMetrics()
        self._channel: AbstractChannel | None = None
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()

    async def _ready_channel(self) -> AbstractChannel:
        async with self._lock:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            connection = self._link.connection
            if connection is None or not self._link.status().connected:
                raise BrokerError("broker not connected")
            try:
                channel = await asyncio.wait_for(
                    connection.channel(publisher_confirms=True, on_return_raises=True),
                    self._timeout,
                )
            except _FAILURES as exc:
                if isinstance(exc, TimeoutError):
                    # A connection that cannot even open a channel will not heal by itself.
                    await self._link.restart("opening a channel timed out")
                raise BrokerError(f"cannot open a channel: {type(exc).__name__}") from exc
            self._channel = channel
            return channel

    async def publish_window(self, items: Sequence[Outgoing]) -> int:
        """Publish ``items``, await the confirms; return how many from the start were confirmed."""
        if not items:
            return 0
        try:
            channel = await self._ready_channel()
            # aio-pika's Message and Exchange wrappers cost more per publish than the
            # framing itself; the underlying aiormq channel takes properties directly.
            underlay = await channel.get_underlay_channel()
        except _FAILURES as exc:
            self._metrics.child(self._metrics.publishes, "failed").inc(len(items))
            raise BrokerError(f"cannot publish: {type(exc).__name__}") from exc
        started = time.perf_counter()
        results = await asyncio.gather(
            *(
                underlay.basic_publish(
                    item.body,
                    exchange=item.exchange,
                    routing_key=item.routing_key,
                    properties=item.properties(),
                    mandatory=True,
                    timeout=self._timeout,
                )
                for item in items
            ),
            return_exceptions=True,
        )
        confirmed = 0
        for result in results:
            if isinstance(result, BaseException):
                break
            confirmed += 1
        self._metrics.confirm_latency.observe(time.perf_counter() - started)
        self._metrics.child(self._metrics.publishes, "confirmed").inc(confirmed)
        if confirmed < len(items):
            self._metrics.child(self._metrics.publishes, "failed").inc(len(items) - confirmed)
            failure = results[confirmed]
            self._drop_channel_after(failure)
            log.warning(
                "publish.not_confirmed",
                confirmed=confirmed,
                window=len(items),
                error=type(failure).__name__,
                event_type=items[confirmed].event_type,
            )
        return confirmed

    def _drop_channel_after(self, failure: object) -> None:
        # A timeout or a closed channel leaves the channel in doubt: start afresh next time.
        if not isinstance(failure, aiormq.exceptions.PublishError):
            doubtful, self._channel = self._channel, None
            if doubtful is not None and not doubtful.is_closed:
                closing = asyncio.create_task(self._close_quietly(doubtful))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)

    async def _close_quietly(self, channel: AbstractChannel) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(channel.close(), self._timeout)

    async def publish(self, item: Outgoing) -> None:
        """Publish one event; raise PublishNotConfirmed unless the broker confirmed it."""
        if await self.publish_window([item]) != 1:
            raise PublishNotConfirmed(f"{item.event_type} to {item.exchange} was not confirmed")

    async def close(self) -> None:
        """Close the channel."""
        if self._channel is not None and not self._channel.is_closed:
            await self._channel.close()
        self._channel = None
