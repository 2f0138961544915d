"""Self-hosted: deliver to the business's own endpoint as Standard Webhooks-signed POSTs."""

from __future__ import annotations

import aiohttp

from adapters import http_delivery
from adapters.base import (
    AdapterContext,
    DeliveryResult,
    Envelope,
    HostingClass,
    HostingFacts,
    StatusUpdate,
)
from adapters.envelope_json import envelope_body
from adapters.settings import DeclaredFacts
from adapters.webhooks import post_webhook, status_body


class SelfHostedSettings(DeclaredFacts):
    """``[hosting.settings]`` for ``adapter = "self_hosted"``; the business is its own operator."""


class SelfHostedAdapter:
    """Posts sealed envelopes to the business's webhook URL; only the business can open them."""

    def __init__(self, context: AdapterContext, settings: SelfHostedSettings) -> None:
        self._context = context
        self._facts = settings.to_facts(HostingClass.SELF_HOSTED, context.display_name)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def facts(self) -> HostingFacts:
        """The business hosts its own chats, end-to-end."""
        return self._facts

    async def deliver(self, envelope: Envelope) -> DeliveryResult:
        """POST the envelope once, signed with every current secret."""
        if self._closed:
            # Replaced by a reload: the caller retries against the config now in force.
            return DeliveryResult("retry", "adapter replaced by a config reload")
        if self._session is None:
            self._session = http_delivery.new_session(self._context.egress)
        # The message id is the webhook id, so every retry of one message carries the same id.
        return await post_webhook(
            self._session,
            self._context.webhook,
            envelope.message_id,
            envelope_body(envelope),
            self._context.egress,
        )

    async def notify_status(self, update: StatusUpdate) -> DeliveryResult:
        """POST a signed ``message.status`` webhook to the business's endpoint."""
        if self._closed:
            return DeliveryResult("retry", "adapter replaced by a config reload")
        if self._session is None:
            self._session = http_delivery.new_session(self._context.egress)
        return await post_webhook(
            self._session, self._context.webhook, update.update_id, status_body(update), self._context.egress
        )

    async def aclose(self) -> None:
        """Close the HTTP session; later deliveries answer retry."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


class SelfHostedFactory:
    """Entry point ``self_hosted``."""

    settings_model = SelfHostedSettings

    def create(self, context: AdapterContext, settings: object) -> SelfHostedAdapter:
        """Build the adapter from validated settings."""
        assert isinstance(settings, SelfHostedSettings)  # noqa: S101 -- the loader validated with settings_model
        return SelfHostedAdapter(context, settings)


factory = SelfHostedFactory()
