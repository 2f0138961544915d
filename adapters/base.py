"""The hosting adapter contract and the data that crosses it.

An adapter is found by name through the ``hostgate.adapters`` entry-point group.
The entry point names an :class:`AdapterFactory`; the factory validates the
``[hosting.settings]`` table of a business file with its own pydantic model and
builds a :class:`HostingAdapter`, which declares the business's
:class:`HostingFacts`. The disclosure users see is derived from those facts, so
it cannot disagree with where messages really go.
"""

from __future__ import annotations

import base64
import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Literal, Protocol, runtime_checkable

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ModelWrapValidatorHandler,
    PlainSerializer,
    SecretStr,
    StringConstraints,
    computed_field,
    model_validator,
)

from adapters.egress import EgressPolicy
from gateway.encoding import b64url_decode

# Sizes from RFC 9180 (X25519) and draft-ietf-hpke-pq (ML-KEM-768 + X25519: 1184 + 32 bytes).
_KEY_SIZES = {"x25519": 32, "mlkem768-x25519": 1216}


class HostingClass(StrEnum):
    """Who, besides the business, can read a chat's messages."""

    SELF_HOSTED = "self_hosted"
    CLOUD = "cloud"
    PARTNER = "partner"


def _b64url_decode(value: object) -> object:
    if isinstance(value, str):
        try:
            return b64url_decode(value)
        except ValueError as exc:
            raise ValueError(str(exc)) from exc
    return value


def b64url(data: bytes) -> str:
    """Encode bytes as unpadded base64url, the form keys take in config and events."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


# Control, format (bidi overrides above all), line/paragraph separators, private-use and
# surrogate code points: each could spoof a notice or a terminal that shows one.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})


def unprintable(ch: str) -> bool:
    """Whether a character must never reach a notice or a terminal as itself."""
    return unicodedata.category(ch) in _UNPRINTABLE


def _printable(value: str) -> str:
    if any(unprintable(ch) for ch in value):
        raise ValueError("must not contain control or formatting characters")
    return value


DisplayText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(_printable),
]
"""A name shown to users inside a notice: printable, 1-120 characters."""

Region = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
"""A storage region slug such as ``eu-frankfurt``."""

Base64UrlBytes = Annotated[
    bytes,
    BeforeValidator(_b64url_decode),
    PlainSerializer(b64url, return_type=str),
]


class EndpointKey(BaseModel):
    """The HPKE public key of the endpoint that decrypts users' messages."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: Literal["x25519", "mlkem768-x25519"] = "x25519"
    public_key: Base64UrlBytes

    @model_validator(mode="wrap")
    @classmethod
    def _kid_matches(cls, data: object, handler: ModelWrapValidatorHandler[EndpointKey]) -> EndpointKey:
        # ``kid`` is derived; when a document carries it, it must be the one the key gives.
        claimed = None
        if isinstance(data, dict) and "kid" in data:
            claimed = data["kid"]
            data = {k: v for k, v in data.items() if k != "kid"}
        key = handler(data)
        if claimed is not None and claimed != key.kid:
            raise ValueError("kid does not match the public key")
        return key

    @model_validator(mode="after")
    def _check_key(self) -> EndpointKey:
        size = _KEY_SIZES[self.suite]
        if len(self.public_key) != size:
            raise ValueError(
                f"public_key for suite {self.suite} must be {size} bytes, got {len(self.public_key)}"
            )
        if self.suite == "x25519":
            X25519PublicKey.from_public_bytes(self.public_key)
        return self

    # Cached: the inbound path compares it on every message, and the key of a frozen model never moves.
    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern for derived fields
    @cached_property
    def kid(self) -> str:
        """Key id that envelopes name: a digest of suite and key, so it moves when the key does."""
        digest = hashlib.sha256(self.suite.encode() + b"\x00" + self.public_key).digest()
        return "ek_" + b64url(digest[:15])


class HostingFacts(BaseModel):
    """What an adapter declares about where messages go; the disclosure is derived from it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hosting_class: HostingClass
    operator: DisplayText
    region: Region
    retention: timedelta
    endpoint_key: EndpointKey

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented pattern for derived fields
    @property
    def end_to_end(self) -> bool:
        """Only the business itself can read messages when it hosts them on its own servers."""
        return self.hosting_class is HostingClass.SELF_HOSTED


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    """Where and how a business receives events from hostgate."""

    url: str
    secrets: tuple[SecretStr, ...]


@dataclass(frozen=True, slots=True)
class AdapterContext:
    """What an adapter may know about the business it serves."""

    business_id: str
    display_name: str
    webhook: WebhookTarget
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    timeout_seconds: float = 15.0


@dataclass(frozen=True, slots=True)
class Envelope:
    """A sealed message on its way to a host; hostgate cannot open it."""

    message_id: str
    business_id: str
    sender: str
    key_id: str
    suite: str
    sealed: bytes  # HPKE single-shot output: encapsulated key || ciphertext
    sent_at: datetime
    disclosure_revision: int
    chat_sequence: int


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """News for a business about a message it sent: the network's receipt, as status now stands."""

    update_id: str
    message_id: str
    business_id: str
    status: str
    reported: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What happened to one delivery attempt."""

    outcome: Literal["delivered", "retry", "rejected", "gone"]
    detail: str = ""
    retry_after: timedelta | None = None


@runtime_checkable
class HostingAdapter(Protocol):
    """**Protocol:** delivers sealed envelopes to where a business hosts its chats."""

    def facts(self) -> HostingFacts:
        """Declare where messages go, who operates it and which key decrypts them."""
        ...

    async def deliver(self, envelope: Envelope) -> DeliveryResult:
        """Try once to hand the envelope to the host; retries are the caller's job."""
        ...

    async def notify_status(self, update: StatusUpdate) -> DeliveryResult:
        """Tell the business how a message it sent is doing (its webhook, signed)."""
        ...

    async def aclose(self) -> None:
        """Release connections and other resources."""
        ...


@runtime_checkable
class AdapterFactory(Protocol):
    """**Protocol:** what an entry point in ``hostgate.adapters`` names."""

    @property
    def settings_model(self) -> type[BaseModel]:
        """The pydantic model that validates ``[hosting.settings]``."""
        ...

    def create(self, context: AdapterContext, settings: BaseModel) -> HostingAdapter:
        """Build the adapter for one business from its validated settings."""
        ...
