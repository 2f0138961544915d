"""What crosses the AMQP boundary with the network: validated, frozen, nothing extra."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from adapters.base import Base64UrlBytes
from gateway.disclosure.document import canonical_json

MessageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
BusinessId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
MAX_SEALED_BYTES = 256 * 1024
# How far ahead of our clock a network-supplied time may be. A consent dated far in the future
# would otherwise outrank every later decision of the user, forever.
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _not_in_the_future(value: datetime) -> datetime:
    if value - datetime.now(UTC) > MAX_CLOCK_SKEW:
        raise ValueError(f"is more than {MAX_CLOCK_SKEW.total_seconds():g} s ahead of the gateway's clock")
    return value


NetworkTime = Annotated[AwareDatetime, AfterValidator(_not_in_the_future)]
"""A time the network reports: with its offset, and at most MAX_CLOCK_SKEW ahead of our clock."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InboundMessage(_Frozen):
    """A user's sealed message to a business, from the network."""

    message_id: MessageId
    sender: UserId
    business_id: BusinessId
    key_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    suite: Literal["x25519", "mlkem768-x25519"] = "x25519"
    sealed: Annotated[Base64UrlBytes, Field(max_length=MAX_SEALED_BYTES)]
    sent_at: NetworkTime


class DeliveryReceipt(_Frozen):
    """The network's word on a business's message to a user."""

    message_id: MessageId
    business_id: BusinessId
    status: Literal["sent", "delivered", "read", "failed"]
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None
    at: NetworkTime


class ConsentDecision(_Frozen):
    """A user allows or blocks a business, as their client decided it (the later decision wins)."""

    user_id: UserId
    business_id: BusinessId
    decision: Literal["allow", "block"]
    at: NetworkTime


class OutboundMessage(_Frozen):
    """A business's message to a user, as published to the network."""

    message_id: MessageId
    business_id: BusinessId
    recipient: UserId
    payload: str
    content_type: str
    revision: int
    sent_at: datetime


def outbound_message_json(
    *,
    message_id: str,
    business_id: str,
    recipient: str,
    payload: str,
    content_type: str,
    revision: int,
    sent_at: datetime,
) -> bytes:
    """An :class:`OutboundMessage` as canonical JSON, built straight from validated values.

    One per accepted request: the API has validated every field already, so the model's
    validate-and-dump round trip is skipped; the bytes are the model's (a property test holds it).
    """
    return canonical_json(
        {
            "business_id": business_id,
            "content_type": content_type,
            "message_id": message_id,
            "payload": payload,
            "recipient": recipient,
            "revision": revision,
            "sent_at": sent_at.isoformat().replace("+00:00", "Z"),
        }
    )


class InboundReceipt(_Frozen):
    """hostgate's answer to the network about a user's message."""

    message_id: MessageId
    business_id: BusinessId
    sender: UserId
    status: Literal["delivered", "disclosure_stale", "rejected"]
    reason: str | None = None
    current_revision: int
    current_key_id: str
    at: datetime


ReceiptStatus = Literal["delivered", "disclosure_stale", "rejected"]


def inbound_receipt_json(
    message: InboundMessage,
    status: ReceiptStatus,
    *,
    revision: int,
    key_id: str,
    reason: str | None,
    at: datetime,
) -> bytes:
    """An :class:`InboundReceipt` as canonical JSON, built straight from trusted values.

    One per delivery, so it skips the model's validate-and-dump round trip; the result is
    byte for byte what the model gives (a property test holds it to that).
    """
    return canonical_json(
        {
            "at": at.isoformat().replace("+00:00", "Z"),
            "business_id": message.business_id,
            "current_key_id": key_id,
            "current_revision": revision,
            "message_id": message.message_id,
            "reason": reason,
            "sender": message.sender,
            "status": status,
        }
    )


class StatusWebhook(_Frozen):
    """A status webhook owed to a business (internal: hostgate publishes and consumes it)."""

    update_id: str
    message_id: MessageId
    business_id: BusinessId
    status: str
    reported: str
    reason: str | None = None
    at: datetime
