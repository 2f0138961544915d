"""What the HTTP-based adapters share: one guarded session, opened lazily, and status webhooks."""

from __future__ import annotations

import aiohttp

from adapters import http_delivery
from adapters.base import AdapterContext, DeliveryResult, StatusUpdate
from adapters.webhooks import post_webhook, status_body

REPLACED = DeliveryResult("retry", "adapter replaced by a config reload")


class HttpAdapterBase:
    """Session lifecycle and ``notify_status`` for adapters that speak HTTP."""

    def __init__(self, context: AdapterContext) -> None:
        self._context = context
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _open_session(self) -> aiohttp.ClientSession | None:
        """The session, or None once closed (a reload replaced this adapter: the caller retries)."""
        if self._closed:
            return None
        if self._session is None:
            self._session = http_delivery.new_session(self._context.egress, self._context.timeout_seconds)
        return self._session

    async def notify_status(self, update: StatusUpdate) -> DeliveryResult:
        """POST a signed ``message.status`` webhook to the business's own endpoint."""
        session = self._open_session()
        if session is None:
            return REPLACED
        return await post_webhook(
            session, self._context.webhook, update.update_id, status_body(update), self._context.egress
        )

    async def aclose(self) -> None:
        """Close the HTTP session; later deliveries answer retry."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
