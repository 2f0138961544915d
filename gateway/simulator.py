"""A network simulator: a real AMQP client playing the network and its chat clients.

It learns each business's endpoint key from verified disclosures, seals and
sends users' messages, re-seals and re-sends a message answered with
``disclosure_stale`` once the user's client has the new key (from the stale
notice), records what businesses send to users, and can answer with delivery
receipts. Tests, the README demo and the benchmarks drive hostgate through it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aio_pika
import aiohttp
import orjson
import structlog
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, AbstractRobustConnection
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from adapters.base import EndpointKey, b64url
from gateway.bridge.models import (
    ConsentDecision,
    DeliveryReceipt,
    InboundMessage,
    InboundReceipt,
    OutboundMessage,
)
from gateway.broker.cloudevents import CloudEvent, amqp_message, parse
from gateway.broker.topology import CONSENTS, DISCLOSURES, INBOUND, NOTICES, OUTBOUND, RECEIPTS
from gateway.client.verifier import Accepted, EventVerifier
from gateway.disclosure.document import DisclosureDocument, NoticeDocument
from gateway.events import (
    CONSENT_DECISION,
    DELIVERY_RECEIPT,
    INBOUND_MESSAGE,
    INBOUND_RECEIPT,
    NOTICE_BATCH,
    NOTICE_PUBLISHED,
    OUTBOUND_MESSAGE,
)
from gateway.http.public import JWS_HEADER
from gateway.ids import new_id, new_uuid
from gateway.sealing import seal
from gateway.telemetry.tracing import TRACEPARENT
from gateway.waiting import wait_event

log = structlog.get_logger("hostgate.simulator")


@dataclass
class Sent:
    """A user's message as the client keeps it until it is delivered."""

    message_id: str
    user: str
    business_id: str
    plaintext: bytes
    sealed_to: list[str] = field(default_factory=list)
    delivered: bool = False
    failure: str | None = None  # the reason of a "rejected" receipt


@dataclass
class Stats:
    """What happened, for tests and the demo."""

    counts: Counter[str] = field(default_factory=Counter)


class NetworkSimulator:
    """Plays the network: consumes disclosures, notices and outbound traffic; publishes users' messages."""

    def __init__(
        self, amqp_url: str, keys: dict[str, Ed25519PublicKey], *, name: str = "hostgate-simulator"
    ) -> None:
        self._url = amqp_url
        self._name = name
        self.verifier = EventVerifier(keys)
        self.disclosures: dict[str, DisclosureDocument] = {}
        self.client_keys: dict[tuple[str, str], EndpointKey] = {}
        self.sent: dict[str, Sent] = {}
        self.outbound: list[OutboundMessage] = []
        # The W3C traceparent each outbound message arrived with; its receipts carry it back.
        self.traces: dict[str, str] = {}
        self.notices: list[NoticeDocument] = []
        self.stats = Stats()
        self._connection: AbstractRobustConnection | None = None
        self._inbound: AbstractExchange | None = None
        self._receipts: AbstractExchange | None = None
        self._consents: AbstractExchange | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        """Connect and bind private queues to what the network consumes."""
        self._connection = await aio_pika.connect_robust(
            self._url, client_properties={"connection_name": self._name}
        )
        channel = await self._connection.channel(publisher_confirms=True)
        await channel.set_qos(prefetch_count=500)
        self._inbound = await channel.get_exchange(INBOUND.exchange)
        self._receipts = await channel.get_exchange(RECEIPTS.exchange)
        self._consents = await channel.get_exchange(CONSENTS.exchange)
        for exchange in (DISCLOSURES.exchange, NOTICES.exchange, OUTBOUND.exchange):
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(exchange, routing_key="#")
            await queue.consume(self._on_message)

    async def close(self) -> None:
        """Disconnect."""
        if self._connection is not None:
            await self._connection.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        async with message.process():
            headers = dict(message.headers)
            event = parse(headers, message.body)
            if event.type == OUTBOUND_MESSAGE:
                outbound = OutboundMessage.model_validate_json(event.data)
                traceparent = event.extensions.get(TRACEPARENT)
                if isinstance(traceparent, str):
                    self.traces[outbound.message_id] = traceparent
                self.outbound.append(outbound)
                self.stats.counts["outbound"] += 1
            elif event.type == INBOUND_RECEIPT:
                await self._on_receipt(InboundReceipt.model_validate_json(event.data))
            elif event.type == NOTICE_BATCH:
                # What the network does with a batch: check it once, one notice per chat.
                for verdict in self.verifier.check_batch(headers, message.body):
                    if isinstance(verdict, Accepted):
                        if isinstance(verdict.document, NoticeDocument):
                            self.stats.counts[f"published:{verdict.document.reason}"] += 1
                        await self._on_signed(verdict)
                    else:
                        self.stats.counts[f"rejected:{verdict.reason}"] += 1
            else:
                if event.type == NOTICE_PUBLISHED:
                    # Counted as published, before the client decides whether to show it.
                    self.stats.counts[f"published:{orjson.loads(event.data).get('reason')}"] += 1
                verdict = self.verifier.check(headers, message.body)
                if isinstance(verdict, Accepted):
                    await self._on_signed(verdict)
                else:
                    self.stats.counts[f"rejected:{verdict.reason}"] += 1
            self._changed.set()

    async def _on_signed(self, accepted: Accepted) -> None:
        document = accepted.document
        if isinstance(document, DisclosureDocument):
            self.disclosures[document.business_id] = document
            self.stats.counts["disclosures"] += 1
            return
        self.notices.append(document)
        self.stats.counts[f"notice:{document.reason}"] += 1
        # The client shows the notice and from now on seals to the key it names.
        self.client_keys[(document.user_id, document.business_id)] = document.endpoint_key
        await self._resend_pending(document.user_id, document.business_id)

    async def _on_receipt(self, receipt: InboundReceipt) -> None:
        sent = self.sent.get(receipt.message_id)
        self.stats.counts[f"receipt:{receipt.status}"] += 1
        if sent is None:
            return
        if receipt.status == "delivered":
            sent.delivered = True
        elif receipt.status == "rejected":
            sent.failure = receipt.reason or "rejected"
        elif receipt.status == "disclosure_stale":
            await self._resend_pending(sent.user, sent.business_id)

    async def _resend_pending(self, user: str, business_id: str) -> None:
        key = self.client_keys.get((user, business_id))
        if key is None:
            return
        for sent in list(self.sent.values()):
            if sent.user == user and sent.business_id == business_id and not sent.delivered:
                if sent.sealed_to and sent.sealed_to[-1] == key.kid:
                    continue  # already sealed to this key; its receipt is on the way
                self.stats.counts["resealed"] += 1
                await self._publish(sent, key)

    async def bootstrap(self, gateway_url: str) -> None:
        """Learn every business's current disclosure over HTTP, as a client that joins late does."""
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{gateway_url}/disclosures") as response:
                listing = await response.json()
            for item in listing["disclosures"]:
                async with session.get(f"{gateway_url}/disclosures/{item['business_id']}") as response:
                    verdict = self.verifier.check_fetched(await response.read(), response.headers[JWS_HEADER])
                if isinstance(verdict, Accepted):
                    await self._on_signed(verdict)

    async def wait_for_disclosures(self, businesses: set[str], within: float = 30) -> None:
        """Until a disclosure of every business has been seen."""
        await self._wait(lambda: businesses <= set(self.disclosures), within, "disclosures")

    async def send(
        self,
        user: str,
        business_id: str,
        text: str,
        message_id: str | None = None,
        traceparent: str | None = None,
    ) -> str:
        """A user sends a message: sealed to the key the user's client knows, published to hostgate.

        Given the ``message_id`` of an earlier send whose publish failed, sends that message again
        (the same id, so the gateway and the host can tell it is one message). A ``traceparent``
        travels as the CloudEvents distributed-tracing extension.
        """
        key = self.client_keys.setdefault((user, business_id), self.disclosures[business_id].endpoint_key)
        sent = self.sent.get(message_id) if message_id else None
        if sent is None:
            sent = Sent(message_id or "m-" + new_uuid().hex, user, business_id, text.encode())
            self.sent[sent.message_id] = sent
        await self._publish(sent, key, traceparent)
        return sent.message_id

    async def _publish(self, sent: Sent, key: EndpointKey, traceparent: str | None = None) -> None:
        assert self._inbound is not None  # noqa: S101 -- start() comes first
        sent.sealed_to.append(key.kid)
        body = InboundMessage(
            message_id=sent.message_id,
            sender=sent.user,
            business_id=sent.business_id,
            key_id=key.kid,
            suite=key.suite,
            sealed=seal(sent.plaintext, sent.business_id, key),
            sent_at=datetime.now(UTC),
        )
        await self._publish_event(
            self._inbound, INBOUND_MESSAGE, sent.business_id, body.model_dump(mode="json"), traceparent
        )
        self.stats.counts["sent"] += 1

    async def receipt(
        self, message_id: str, business_id: str, status: str, reason: str | None = None
    ) -> None:
        """The network reports on a business's message to a user."""
        assert self._receipts is not None  # noqa: S101 -- start() comes first
        body = DeliveryReceipt.model_validate(
            {
                "message_id": message_id,
                "business_id": business_id,
                "status": status,
                "reason": reason,
                "at": datetime.now(UTC),
            }
        )
        await self._publish_event(
            self._receipts,
            DELIVERY_RECEIPT,
            business_id,
            body.model_dump(mode="json"),
            self.traces.get(message_id),
        )

    async def _publish_event(
        self,
        exchange: AbstractExchange,
        event_type: str,
        subject: str,
        data: object,
        traceparent: str | None = None,
    ) -> None:
        event = CloudEvent(
            id=new_id(),
            type=event_type,
            subject=subject,
            time=datetime.now(UTC),
            source="urn:hostgate:simulator",
            data=orjson.dumps(data),
            extensions={TRACEPARENT: traceparent} if traceparent else {},
        )
        await exchange.publish(amqp_message(event), routing_key=subject, mandatory=True)

    async def consent(self, user: str, business_id: str, decision: str, at: datetime | None = None) -> None:
        """A user allows or blocks a business in their client."""
        assert self._consents is not None  # noqa: S101 -- start() comes first
        body = ConsentDecision.model_validate(
            {"user_id": user, "business_id": business_id, "decision": decision, "at": at or datetime.now(UTC)}
        )
        await self._publish_event(self._consents, CONSENT_DECISION, business_id, body.model_dump(mode="json"))

    def undelivered(self) -> list[Sent]:
        """Messages not yet confirmed delivered."""
        return [s for s in self.sent.values() if not s.delivered]

    async def wait_all_delivered(self, within: float = 60) -> None:
        """Until every message sent has a delivered receipt."""
        await self._wait(lambda: not self.undelivered(), within, "every message delivered")

    async def _wait(self, done: object, within: float, what: str) -> None:
        assert callable(done)  # noqa: S101 -- internal helper
        deadline = asyncio.get_running_loop().time() + within
        while not done():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"simulator: timed out waiting for {what}: {dict(self.stats.counts)}")
            self._changed.clear()
            await wait_event(self._changed, min(remaining, 1.0))


def key_b64(key: EndpointKey) -> str:
    """An endpoint key as config files write it."""
    return b64url(key.public_key)
