"""Publish to RabbitMQ with confirms, ``mandatory`` with returns raised, a timeout on each window.

A window of messages is framed into one write and its confirms awaited in
order; the caller learns how many from the start of the window were confirmed,
so it can delete exactly those from the outbox and retry the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel
from aiormq.abc import ChannelFrame
from pamqp import commands as spec

from gateway.broker.cloudevents import CONTENT_TYPE, CloudEvent
from gateway.broker.framing import Properties, content_frames, publish_method
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
        confirmed, failure = await self._send_window(underlay, items)
        self._metrics.confirm_latency.observe(time.perf_counter() - started)
        self._metrics.child(self._metrics.publishes, "confirmed").inc(confirmed)
        if failure is not None:
            self._metrics.child(self._metrics.publishes, "failed").inc(len(items) - confirmed)
            self._drop_channel_after(failure)
            log.warning(
                "publish.not_confirmed",
                confirmed=confirmed,
                window=len(items),
                error=type(failure).__name__,
                event_type=items[confirmed].event_type,
            )
        return confirmed

    async def _send_window(
        self, underlay: aiormq.abc.AbstractChannel, items: Sequence[Outgoing]
    ) -> tuple[int, BaseException | None]:
        """Frame the window into one write, then await its confirms in order: (confirmed, first failure).

        What the library's ``basic_publish`` does for one message, for a window at once, on
        the same channel state (delivery tags, confirmation futures, the message ids that
        a ``Basic.Return`` is matched by), so its frame reader settles every future as usual.
        """
        # The concrete channel: its bookkeeping is what the abstract type does not declare.
        channel = underlay if isinstance(underlay, aiormq.Channel) else None
        try:
            if channel is None or channel.is_closed:
                raise aiormq.exceptions.ChannelInvalidStateError("no open aiormq channel")
            # Framed before any delivery tag is taken: a frame that cannot be built sends nothing.
            payload = _frames(channel.number, channel.max_content_size, items)
            # A writer stuck on a dead connection fills the bounded write queue: bounded wait.
            async with asyncio.timeout(self._timeout):
                tags, confirmations = await _enqueue(channel, items, payload)
        # struct.error: pamqp 3.3 (aio-pika 9.4's) cannot pack a header int in -128..-1; a frame
        # that cannot be built is a window not confirmed, never an error the caller did not expect.
        except (*_FAILURES, ValueError, struct.error) as exc:
            return 0, exc
        try:
            return await self._confirmed(confirmations)
        finally:
            _forget(channel.message_id_delivery_tag, tags)

    async def _confirmed(
        self, confirmations: list[asyncio.Future[object]]
    ) -> tuple[int, BaseException | None]:
        """Await the confirms in order, within the timeout: how many, and the first failure."""
        confirmed = 0
        try:
            async with asyncio.timeout(self._timeout):
                for confirmation in confirmations:
                    await confirmation
                    confirmed += 1
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this task is being cancelled (awaiting a future cancels it too): pass it on
            return confirmed, exc  # the confirmation itself was cancelled
        except Exception as exc:  # noqa: BLE001 -- a closing channel rejects its futures with any exception
            return confirmed, exc
        finally:
            for confirmation in confirmations[confirmed:]:
                confirmation.cancel()
        return confirmed, None

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


async def _enqueue(
    channel: aiormq.Channel, items: Sequence[Outgoing], payload: bytes
) -> tuple[list[tuple[str, int]], list[asyncio.Future[object]]]:
    """Take the window's delivery tags and queue its frames for the writer: (message id, tag)s, confirms."""
    async with channel.lock:
        first = channel.delivery_tag + 1
        tags = [(item.event_id, first + offset) for offset, item in enumerate(items)]
        confirmations: list[asyncio.Future[object]] = []
        for message_id, tag in tags:
            confirmation = channel.create_future()
            channel.confirmations[tag] = confirmation
            channel.message_id_delivery_tag[message_id] = tag
            confirmations.append(confirmation)
        channel.delivery_tag += len(items)
        try:
            # The write queue is bounded: this can wait, and be cancelled while it does.
            await channel.write_queue.put(ChannelFrame(payload=payload, should_close=False))
        except BaseException:
            # Not sent: the broker numbers only what it receives, so the tags are given back.
            channel.delivery_tag -= len(items)
            for (_message_id, tag), confirmation in zip(tags, confirmations, strict=True):
                confirmation.cancel()
                channel.confirmations.pop(tag, None)
            _forget(channel.message_id_delivery_tag, tags)
            raise
    return tags, confirmations


def _forget(lookup: dict[str, int], tags: list[tuple[str, int]]) -> None:
    """Drop a window's message ids from the channel's return lookup (its futures are settled)."""
    for message_id, tag in tags:
        if lookup.get(message_id) == tag:
            del lookup[message_id]


def _frames(channel: int, max_body: int, items: Sequence[Outgoing]) -> bytes:
    """Every frame of a window of publishes, in order, as one buffer."""
    methods: dict[tuple[str, str], bytes] = {}  # one Basic.Publish frame per route, reused
    frames: list[bytes] = []
    for item in items:
        route = (item.exchange, item.routing_key)
        method = methods.get(route)
        if method is None:
            method = methods[route] = publish_method(channel, *route)
        frames.append(method)
        frames.append(content_frames(channel, item.properties(), item.body, max_body))
    return b"".join(frames)
