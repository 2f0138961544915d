"""Consume a queue with manual acks, through broker restarts.

A message is acked only after its handler's effects are committed. A message
the handler can never process (bad CloudEvent, bad body, unknown business) is
rejected without requeue, so it goes to the dead-letter exchange; a transient
failure is requeued, and the queue's delivery limit dead-letters it if it keeps
failing. An unreachable store is not the message's failure: the message is held
and handled again here until the store is back (a requeue would count against
the delivery limit, and a database restart of a few seconds would dead-letter
every message in flight). Every consumer answers the readiness probes of ``gateway.broker.probe``,
and one given a ``QueueProbe`` also sends them through its own queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable

import aiormq
import structlog
from aio_pika.abc import AbstractChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pydantic import ValidationError

from gateway.broker.acks import AckBatcher
from gateway.broker.cloudevents import CloudEvent, parse
from gateway.broker.link import BrokerLink
from gateway.broker.probe import PROBE_HEADER, PROBE_TYPE, REPLY_TO, QueueProbe, is_reply_address
from gateway.broker.publisher import Outgoing, Publisher
from gateway.broker.topology import DEAD_LETTER_EXCHANGE
from gateway.errors import CloudEventError, HostgateError, PoisonMessageError, StoreUnavailable
from gateway.telemetry.metrics import GatewayMetrics
from gateway.telemetry.tracing import TRACEPARENT, Tracing

log = structlog.get_logger("hostgate.consumer")

Handler = Callable[[CloudEvent], Awaitable[None]]
DLQ_REASON = "x-hostgate-reason"
DLQ_QUEUE = "x-hostgate-queue"
# Waits between tries of a message held while the store is unreachable: doubling up to a ceiling.
STORE_RETRY_FIRST = 0.25
STORE_RETRY_CEILING = 5.0


class QueueConsumer:
    """One queue, one handler; re-subscribes whenever the broker comes back."""

    def __init__(
        self,
        link: BrokerLink,
        queue: str,
        handler: Handler,
        *,
        publisher: Publisher,
        prefetch: int = 100,
        metrics: GatewayMetrics | None = None,
        probe: QueueProbe | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._tracing = tracing or Tracing()
        self._link = link
        self.probe = probe
        self._metrics = metrics or GatewayMetrics()
        self._publisher = publisher
        self._queue = queue
        self._handler = handler
        self._prefetch = prefetch
        self._task: asyncio.Task[None] | None = None
        self._acks: AckBatcher | None = None  # the current channel's
        self.handled = 0
        self.dead_lettered = 0
        # Tells this consumer's probes from other processes' (for counting only).
        self._origin = secrets.token_hex(4)
        self.probes_answered = 0
        self.probes_answered_for_others = 0

    async def start(self) -> None:
        """Consume in the background."""
        self._task = asyncio.create_task(self._run(), name=f"consume:{self._queue}")

    async def close(self) -> None:
        """Stop consuming."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            connection = self._link.connection
            if connection is None or not self._link.status().connected:
                await asyncio.sleep(0.2)
                continue
            channel: AbstractChannel | None = None
            try:
                # No confirms: this channel publishes only probes and their answers, and a probe
                # into a stuck queue would never be confirmed (that is what the probe finds out).
                channel = await connection.channel(publisher_confirms=False)
                await channel.set_qos(prefetch_count=self._prefetch)
                # aio-pika's IncomingMessage and its extra task per delivery cost more than the
                # framing itself; the underlying aiormq channel hands over what arrived.
                underlay = await channel.get_underlay_channel()
                self._acks = AckBatcher(underlay)
                if self.probe is not None:
                    self.probe.restart()
                    await underlay.basic_consume(REPLY_TO, self._on_answer, no_ack=True)
                await underlay.basic_consume(self._queue, self._on_message)
                log.info("consumer.started", queue=self._queue)
                # aio-pika offers callbacks, not an awaitable, for a closing channel: poll.
                while not channel.is_closed and self._link.status().connected:
                    await self._send_probe(underlay)
                    await asyncio.sleep(0.5)
            except (aiormq.exceptions.AMQPError, ConnectionError, RuntimeError, TimeoutError) as exc:
                log.warning("consumer.interrupted", queue=self._queue, error=type(exc).__name__)
            finally:
                if channel is not None and not channel.is_closed:
                    with contextlib.suppress(Exception):
                        await channel.close()
            await asyncio.sleep(0.5)

    async def _send_probe(self, channel: aiormq.abc.AbstractChannel) -> None:
        token = self.probe.due() if self.probe is not None else None
        if token is None:
            return
        properties = Basic.Properties(
            headers={PROBE_HEADER: self._origin},
            reply_to=REPLY_TO,
            correlation_id=token,
            message_type=PROBE_TYPE,
            delivery_mode=1,
        )
        await channel.basic_publish(b"", exchange="", routing_key=self._queue, properties=properties)

    async def _on_answer(self, message: DeliveredMessage) -> None:
        if self.probe is not None and self.probe.answered(
            str(message.header.properties.correlation_id or "")
        ):
            self.probes_answered += 1

    async def _answer_probe(self, message: DeliveredMessage, tag: int) -> None:
        """Answer a probe (from this process or another) on its reply address, then ack it."""
        properties = message.header.properties
        if (properties.headers or {}).get(PROBE_HEADER) != self._origin:
            self.probes_answered_for_others += 1
        reply_to = str(properties.reply_to or "")
        if is_reply_address(reply_to):
            answer = Basic.Properties(correlation_id=properties.correlation_id, message_type=PROBE_TYPE)
            await message.channel.basic_publish(b"", exchange="", routing_key=reply_to, properties=answer)
        await self._finished(message, tag)

    def _batcher(self, message: DeliveredMessage) -> AckBatcher | None:
        """The ack batcher of the channel ``message`` came on (None for an earlier channel's)."""
        acks = self._acks
        return acks if acks is not None and acks.channel is message.channel else None

    async def _finished(self, message: DeliveredMessage, tag: int) -> None:
        """Ack a delivery whose handler is done, with the others done in this turn."""
        acks = self._batcher(message)
        if acks is not None:
            acks.finished(tag)
        else:
            # Queued, not awaited until written: an ack lost with the connection means a
            # redelivery, which the handlers already take (the same as an ack lost on the wire).
            await message.channel.basic_ack(tag, wait=False)

    def _settled(self, message: DeliveredMessage, tag: int) -> None:
        """The delivery was acked, nacked or rejected here: no longer open."""
        acks = self._batcher(message)
        if acks is not None:
            acks.settled(tag)

    async def _on_message(self, message: DeliveredMessage) -> None:
        tag = message.delivery_tag
        if tag is None:  # only a returned message or an empty basic.get lacks one; consumers never see them
            return
        acks = self._batcher(message)
        if acks is not None:
            acks.received(tag)
        if self.probe is not None:
            self.probe.delivered()
        if PROBE_HEADER in (message.header.properties.headers or {}):
            await self._answer_probe(message, tag)
            return
        try:
            event = parse(message.header.properties.headers or {}, message.body)
            await self._handle_while_store_away(event, message.channel)
        except (CloudEventError, PoisonMessageError, ValidationError, UnicodeDecodeError, ValueError) as exc:
            await self._dead_letter(message, tag, _reason(exc))
            self._settled(message, tag)
            return
        except Exception as exc:  # noqa: BLE001 -- anything else is retried; the delivery limit bounds it
            if message.channel.is_closed:
                self._settled(message, tag)
                return  # gone with its channel: the broker hands the message to another consumer
            # Our own errors say what failed without content; others are named by type only.
            detail = str(exc) if isinstance(exc, HostgateError | RuntimeError) else type(exc).__name__
            log.warning("consumer.retry", queue=self._queue, error=detail[:200])
            await asyncio.sleep(0.5)
            await message.channel.basic_nack(tag, requeue=True)
            self._settled(message, tag)
            self._metrics.child(self._metrics.consumed, self._queue, "requeue").inc()
            return
        self.handled += 1
        self._metrics.child(self._metrics.consumed, self._queue, "ack").inc()
        await self._finished(message, tag)

    async def _handle_while_store_away(self, event: CloudEvent, channel: aiormq.abc.AbstractChannel) -> None:
        """The handler, tried again in place for as long as the store is unreachable and the channel open."""
        pause = STORE_RETRY_FIRST
        while True:
            try:
                if self._tracing.enabled:
                    await self._traced(event)
                else:
                    await self._handler(event)
            except StoreUnavailable as exc:
                if channel.is_closed:
                    raise
                if pause == STORE_RETRY_FIRST:
                    log.warning("consumer.waiting_for_store", queue=self._queue, error=str(exc)[:200])
                self._metrics.child(self._metrics.consumed, self._queue, "store_wait").inc()
                await asyncio.sleep(pause)
                pause = min(pause * 2, STORE_RETRY_CEILING)
            else:
                return

    async def _traced(self, event: CloudEvent) -> None:
        """The handler in a consumer span, child of the event's ``traceparent`` when it has one."""
        parent = event.extensions.get(TRACEPARENT)
        attributes = {"messaging.system": "rabbitmq", "messaging.destination.name": self._queue}
        with self._tracing.span(
            f"process {self._queue}",
            parent=parent if isinstance(parent, str) else None,
            kind="consumer",
            attributes=attributes,
        ):
            await self._handler(event)

    async def _dead_letter(self, message: DeliveredMessage, tag: int, reason: str) -> None:
        """Publish to the dead-letter exchange with the reason (confirmed), then ack the original."""
        properties = message.header.properties
        given = properties.headers or {}
        headers = {k: v for k, v in given.items() if isinstance(v, str | int | bytes)}
        headers.update({DLQ_REASON: reason[:300], DLQ_QUEUE: self._queue})
        copy = Outgoing(
            DEAD_LETTER_EXCHANGE,
            self._queue,
            str(properties.message_id or ""),
            str(properties.message_type or ""),
            {k: v.decode(errors="replace") if isinstance(v, bytes) else v for k, v in headers.items()},
            message.body,
        )
        try:
            await self._publisher.publish(copy)
        except HostgateError:
            # Could not keep it with its reason: let RabbitMQ dead-letter it (reason "rejected").
            await message.channel.basic_reject(tag, requeue=False)
        else:
            await message.channel.basic_ack(tag)
        self.dead_lettered += 1
        self._metrics.child(self._metrics.consumed, self._queue, "poison").inc()
        log.warning("consumer.dead_lettered", queue=self._queue, reason=reason[:200])


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return f"invalid body: {exc.error_count()} field error(s), first at {where}: {first['type']}"
    if isinstance(exc, UnicodeDecodeError | ValueError) and not isinstance(exc, HostgateError):
        return f"invalid body: {type(exc).__name__}"
    return str(exc)
