"""Self-hosted: deliver to the business's own endpoint as Standard Webhooks-signed POSTs."""

from __future__ import annotations

from adapters.base import (
    AdapterContext,
    DeliveryResult,
    Envelope,
    HostingClass,
    HostingFacts,
)
from adapters.envelope_json import envelope_body
from adapters.http_adapter import REPLACED, HttpAdapterBase
from adapters.settings import DeclaredFacts
from adapters.webhooks import post_webhook


class SelfHostedSettings(DeclaredFacts):
    """``[hosting.settings]`` for ``adapter = "self_hosted"``; the business is its own operator."""


class SelfHostedAdapter(HttpAdapterBase):
    """Posts sealed envelopes to the business's webhook URL; only the business can open them."""

    def __init__(self, context: AdapterContext, settings: SelfHostedSettings) -> None:
        super().__init__(context)
        self._facts = settings.to_facts(HostingClass.SELF_HOSTED, context.display_name)

    def facts(self) -> HostingFacts:
        """The business hosts its own chats, end-to-end."""
        return self._facts

    async def deliver(self, envelope: Envelope) -> DeliveryResult:
        """POST the envelope once, signed with every current secret."""
        session = self._open_session()
        if session is None:
            return REPLACED
        # The message id is the webhook id, so every retry of one message carries the same id.
        return await post_webhook(
            session, self._context.webhook, envelope.message_id, envelope_body(envelope), self._context.egress
        )


class SelfHostedFactory:
    """Entry point ``self_hosted``."""

    settings_model = SelfHostedSettings

    def create(self, context: AdapterContext, settings: object) -> SelfHostedAdapter:
        """Build the adapter from validated settings."""
        assert isinstance(settings, SelfHostedSettings)  # noqa: S101 -- the loader validated with settings_model
        return SelfHostedAdapter(context, settings)


factory = SelfHostedFactory()
