"""Settings every built-in adapter shares: the storage facts it declares."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import EndpointKey, HostingClass, HostingFacts, Region


class DeclaredFacts(BaseModel):
    """Region, retention and decrypting key, from a business file's ``[hosting.settings]``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    region: Region
    retention_days: float = Field(ge=0, le=3650)
    endpoint_key: EndpointKey

    def to_facts(self, hosting_class: HostingClass, operator: str) -> HostingFacts:
        """Combine these settings with the adapter's class and operator."""
        return HostingFacts(
            hosting_class=hosting_class,
            operator=operator,
            region=self.region,
            retention=timedelta(days=self.retention_days),
            endpoint_key=self.endpoint_key,
        )
