"""The business file format: one ``businesses/<id>.toml`` per tenant."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from adapters.base import DisplayText
from gateway.config.fields import ApiKeyHash, HttpsUrl, Locale, WebhookSecret
from gateway.disclosure.catalog import FALLBACK_LOCALE, supported_locales

BUSINESS_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
ADAPTER_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HostingSection(_Section):
    """Which adapter hosts this business's chats, and its own settings (validated by it)."""

    adapter: str = Field(pattern=ADAPTER_NAME_PATTERN)
    settings: dict[str, Any] = Field(default_factory=dict)


class WebhookSection(_Section):
    """The business's endpoint for events, and the secrets that sign them (several to rotate)."""

    url: HttpsUrl
    secrets: list[WebhookSecret] = Field(min_length=1, max_length=5)


class ApiSection(_Section):
    """Hashes of the business's API keys; several at once so keys can be rotated."""

    key_hashes: list[ApiKeyHash] = Field(min_length=1, max_length=10)

    @model_validator(mode="after")
    def _unique(self) -> ApiSection:
        if len(set(self.key_hashes)) != len(self.key_hashes):
            raise ValueError("key_hashes lists the same hash twice")
        return self


class RateLimitSection(_Section):
    """Token bucket for the business's API calls."""

    per_second: float = Field(gt=0, le=100_000)
    burst: int = Field(ge=1, le=1_000_000)


DEFAULT_RETRY_SECONDS: list[float] = [0, 5, 300, 1800, 7200, 18000, 36000, 36000]


class DeliverySection(_Section):
    """How deliveries to the business's host are retried, and when its endpoint is given up on."""

    # Delay before each attempt after a failure: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    retry_seconds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SECONDS), min_length=1, max_length=20
    )
    jitter: float = Field(default=0.2, ge=0, le=1)
    disable_after_hours: float = Field(default=72, gt=0, le=24 * 30)
    timeout_seconds: float = Field(default=15, gt=0, le=120)
    # Attempts under way at once to this business's host, per process (a bulkhead): well below the
    # inbound prefetch window (250), so a hung host holds a small share of it, never all of it.
    max_in_flight: int = Field(default=16, ge=1, le=64)

    @field_validator("retry_seconds")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(step < 0 or step > 7 * 86_400 for step in value):
            raise ValueError("each delay must be between 0 and 7 days")
        return value


class BusinessFile(_Section):
    """One business: who it is, where it hosts chats, and how it talks to hostgate."""

    id: str = Field(pattern=BUSINESS_ID_PATTERN)
    # Signed into every disclosure and shown in notices: printable text only, like the operator.
    display_name: DisplayText = Field(max_length=100)
    learn_more_url: HttpsUrl
    hosting: HostingSection
    webhook: WebhookSection
    api: ApiSection
    rate_limit: RateLimitSection
    delivery: DeliverySection = DeliverySection()
    locales: list[Locale] = Field(default_factory=lambda: sorted(supported_locales()), min_length=1)
    default_locale: Locale = FALLBACK_LOCALE

    @field_validator("default_locale")
    @classmethod
    def _default_in_locales(cls, value: str, info: ValidationInfo) -> str:
        locales = info.data.get("locales")
        if locales is not None and value not in locales:
            raise ValueError(f"{value!r} is not listed in locales")
        return value
