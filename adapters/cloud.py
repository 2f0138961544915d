"""Cloud and partner providers: deliver to the provider's ingest API; the provider holds the key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from adapters import http_delivery
from adapters.base import (
    AdapterContext,
    DeliveryResult,
    DisplayText,
    Envelope,
    HostingClass,
    HostingFacts,
)
from adapters.envelope_json import envelope_body
from adapters.http_adapter import REPLACED, HttpAdapterBase
from adapters.settings import DeclaredFacts
from gateway.config.fields import EnvSecret, HttpsUrl


class BearerAuth(BaseModel):
    """A static bearer token issued by the provider, given as ``env:NAME``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: EnvSecret


class ProviderSettings(DeclaredFacts):
    """``[hosting.settings]`` for ``cloud`` and ``partner``: the operator and how to reach it."""

    operator: DisplayText
    ingest_url: HttpsUrl
    auth: BearerAuth


class ProviderAdapter(HttpAdapterBase):
    """Posts sealed envelopes to a provider's ingest API with the provider's credential."""

    def __init__(
        self, context: AdapterContext, settings: ProviderSettings, hosting_class: HostingClass
    ) -> None:
        super().__init__(context)
        self._settings = settings
        self._facts = settings.to_facts(hosting_class, settings.operator)

    def facts(self) -> HostingFacts:
        """The provider operates the endpoint and holds its decryption key."""
        return self._facts

    async def deliver(self, envelope: Envelope) -> DeliveryResult:
        """POST the envelope once to the ingest API."""
        session = self._open_session()
        if session is None:
            return REPLACED
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {self._settings.auth.token.get_secret_value()}",
            "idempotency-key": envelope.message_id,
            "x-hostgate-business": self._context.business_id,
            "x-hostgate-region": self._settings.region,
            "x-hostgate-retention-days": f"{self._settings.retention_days:g}",
        }
        return await http_delivery.post(
            session,
            str(self._settings.ingest_url),
            envelope_body(envelope),
            headers,
            self._context.egress,
        )


class ProviderFactory:
    """Entry points ``cloud`` and ``partner``: the same shape, a different hosting class."""

    settings_model = ProviderSettings

    def __init__(self, hosting_class: HostingClass) -> None:
        self._hosting_class = hosting_class

    def create(self, context: AdapterContext, settings: object) -> ProviderAdapter:
        """Build the adapter from validated settings."""
        assert isinstance(settings, ProviderSettings)  # noqa: S101 -- the loader validated with settings_model
        return ProviderAdapter(context, settings, self._hosting_class)


cloud_factory = ProviderFactory(HostingClass.CLOUD)
partner_factory = ProviderFactory(HostingClass.PARTNER)
