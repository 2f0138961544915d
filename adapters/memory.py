"""An in-memory adapter, shipped for tests and demos: it keeps what it is given."""

from __future__ import annotations

from pydantic import model_validator

from adapters.base import (
    AdapterContext,
    DeliveryResult,
    DisplayText,
    Envelope,
    HostingClass,
    HostingFacts,
    StatusUpdate,
)
from adapters.settings import DeclaredFacts


class MemorySettings(DeclaredFacts):
    """``[hosting.settings]`` for ``memory``: any hosting class, declared outright."""

    hosting_class: HostingClass = HostingClass.SELF_HOSTED
    operator: DisplayText | None = None

    @model_validator(mode="after")
    def _operator_named(self) -> MemorySettings:
        if self.hosting_class is not HostingClass.SELF_HOSTED and self.operator is None:
            raise ValueError(f"operator is required for hosting_class {self.hosting_class.value}")
        return self


class MemoryAdapter:
    """Delivers into a list; a test can read ``delivered`` or make the next attempts fail."""

    def __init__(self, context: AdapterContext, settings: MemorySettings) -> None:
        operator = settings.operator or context.display_name
        self._facts = settings.to_facts(settings.hosting_class, operator)
        self.delivered: list[Envelope] = []
        self.statuses: list[StatusUpdate] = []
        self.fail_next: list[DeliveryResult] = []
        self._closed = False

    def facts(self) -> HostingFacts:
        """The facts declared in settings."""
        return self._facts

    async def deliver(self, envelope: Envelope) -> DeliveryResult:
        """Keep the envelope, unless a failure was queued for this attempt."""
        if self._closed:
            return DeliveryResult("retry", "adapter replaced by a config reload")
        if self.fail_next:
            return self.fail_next.pop(0)
        self.delivered.append(envelope)
        return DeliveryResult("delivered")

    async def notify_status(self, update: StatusUpdate) -> DeliveryResult:
        """Keep the update."""
        self.statuses.append(update)
        return DeliveryResult("delivered")

    async def aclose(self) -> None:
        """Later deliveries answer retry."""
        self._closed = True


class MemoryFactory:
    """Entry point ``memory``."""

    settings_model = MemorySettings

    def create(self, context: AdapterContext, settings: object) -> MemoryAdapter:
        """Build the adapter from validated settings."""
        assert isinstance(settings, MemorySettings)  # noqa: S101 -- the loader validated with settings_model
        return MemoryAdapter(context, settings)


factory = MemoryFactory()
