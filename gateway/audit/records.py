"""The schema of every audit event: what may be recorded, and nothing else.

Each event name maps to a frozen model. The pipeline keeps only the fields the
model declares (an allowlist: anything else passed by mistake is dropped, never
written) and replaces user ids by pseudonyms before validation; a ``Pseudonym``
field refuses anything that is not one, so a raw id cannot reach the trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Pseudonym = Annotated[str, StringConstraints(pattern=r"^u_[0-9a-f]{32}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]

# Fields holding a user id: the pipeline pseudonymises these before validation.
USER_FIELDS = frozenset({"user"})
# Fields holding (user id, something) pairs: the pipeline pseudonymises each pair's user.
USER_PAIR_FIELDS = frozenset({"recipients"})


class AuditEvent(BaseModel):
    """Base of every audit event's fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class ConfigLoaded(AuditEvent):
    """A config directory was loaded (start-up or reload)."""

    directory: Name
    generation: int
    businesses: list[Name]


class BusinessOnboarded(AuditEvent):
    """A business got its first disclosure revision."""

    business: Name
    hosting_class: Name
    operator: Name


class HostingChanged(AuditEvent):
    """A business's hosting facts changed; a new revision follows."""

    business: Name
    revision: int
    hosting_class: Name
    operator: Name
    region: Name
    retention_seconds: int
    endpoint_kid: Name


class DisclosureRevised(AuditEvent):
    """A business's disclosure text changed (name, link, wording) while its hosting did not."""

    business: Name
    revision: int
    hosting_class: Name
    operator: Name
    region: Name
    retention_seconds: int
    endpoint_kid: Name


class DisclosurePublished(AuditEvent):
    """The broker confirmed a disclosure revision."""

    business: Name
    revision: int
    event_id: Name
    kid: Name


class NoticePublished(AuditEvent):
    """The broker confirmed a per-chat notice to a user (one record per notice: trails before 2026-12-03)."""

    business: Name
    revision: int
    user: Pseudonym
    notice_id: Name
    reason: Name


class NoticesPublished(AuditEvent):
    """The broker confirmed a window of per-chat notices: who was shown which notice, by pseudonym."""

    business: Name
    revision: int
    reason: Name
    recipients: list[tuple[Pseudonym, Name]] = Field(min_length=1, max_length=100_000)


class MessageAccepted(AuditEvent):
    """A message was accepted (from a business, or from a user)."""

    business: Name
    message_id: Name
    user: Pseudonym
    direction: Literal["inbound", "outbound"]
    revision: int


class MessageDelivered(AuditEvent):
    """A host or the network took a message."""

    business: Name
    message_id: Name
    user: Pseudonym
    host: Name
    revision: int


class MessageRejected(AuditEvent):
    """A message was refused, with the reason."""

    business: Name
    message_id: Name
    user: Pseudonym
    reason: Name


class DeliveryDeadLettered(AuditEvent):
    """A delivery gave up after its last retry."""

    business: Name
    message_id: Name
    attempts: int
    reason: Name


class EndpointDisabled(AuditEvent):
    """A business endpoint was disabled."""

    business: Name
    reason: Name


class EndpointEnabled(AuditEvent):
    """An operator enabled a disabled business endpoint again (``by``: console or cli)."""

    business: Name
    by: Literal["console", "cli"]


class DeliveriesReplayed(AuditEvent):
    """An operator sent a business's dead letters back for delivery."""

    business: Name
    count: int = Field(ge=0)
    message_id: Name | None = None
    by: Literal["console", "cli"]


class ConsentRecorded(AuditEvent):
    """A user allowed or blocked a business."""

    business: Name
    user: Pseudonym
    decision: Literal["allow", "block"]


class ExportServed(AuditEvent):
    """A user's data export was served."""

    user: Pseudonym
    requester: Name


class DataPurged(AuditEvent):
    """Data past a business's retention was purged."""

    business: Name
    records: int
    older_than: datetime


class KeysRotated(AuditEvent):
    """The disclosure signing key changed."""

    kid: Name
    previous_kid: Name | None = None


class AuditCheckpoint(AuditEvent):
    """A signed checkpoint covering the trail up to and including this record."""

    size: int = Field(ge=1)
    previous_head: Name
    # The Merkle tree's compact range before this record (absent in trails older than the tree).
    tree: list[Name] = Field(default_factory=list, max_length=64)


EVENTS: dict[str, type[AuditEvent]] = {
    "config.loaded": ConfigLoaded,
    "business.onboarded": BusinessOnboarded,
    "hosting.changed": HostingChanged,
    "disclosure.revised": DisclosureRevised,
    "disclosure.published": DisclosurePublished,
    "notice.published": NoticePublished,
    "notices.published": NoticesPublished,
    "message.accepted": MessageAccepted,
    "message.delivered": MessageDelivered,
    "message.rejected": MessageRejected,
    "delivery.dead_lettered": DeliveryDeadLettered,
    "endpoint.disabled": EndpointDisabled,
    "endpoint.enabled": EndpointEnabled,
    "deliveries.replayed": DeliveriesReplayed,
    "consent.recorded": ConsentRecorded,
    "export.served": ExportServed,
    "data.purged": DataPurged,
    "keys.rotated": KeysRotated,
    "audit.checkpoint": AuditCheckpoint,
}
