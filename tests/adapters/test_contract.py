"""Every built-in adapter passes the adapter contract."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from adapters.base import AdapterContext, DeliveryResult, HostingAdapter, WebhookTarget
from adapters.cloud import ProviderSettings, cloud_factory, partner_factory
from adapters.egress import EgressPolicy, networks
from adapters.http_delivery import classify
from adapters.memory import MemoryAdapter, MemorySettings
from adapters.self_hosted import SelfHostedAdapter, SelfHostedSettings
from tests.adapters.contract import AdapterContract, Harness, bodies_by_type
from tests.adapters.receivers import receiver

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
KEY = {"suite": "x25519", "public_key": "gxvBqcZa-g6FgSHuGuN-S6x9YSL5Atu_3v0p29UH-HM"}
LOOPBACK = EgressPolicy(networks(["127.0.0.0/8"]))


def _context(webhook_url: str) -> AdapterContext:
    return AdapterContext("acme", "Acme", WebhookTarget(webhook_url, (SecretStr(SECRET),)), LOOPBACK)


class TestSelfHosted(AdapterContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[Harness]:
        async with receiver() as host:
            settings = SelfHostedSettings.model_validate(
                {"region": "id-1", "retention_days": 1, "endpoint_key": KEY}
            )
            adapter = SelfHostedAdapter(_context(host.url + "/hook"), settings)
            yield Harness(
                adapter,
                lambda: [str(b["message_id"]) for b in bodies_by_type(host.requests, "message.received")],
                lambda: [str(b["status"]) for b in bodies_by_type(host.requests, "message.status")],
                lambda status: host.answers.append((status, {})),
            )
            await adapter.aclose()


class _ProviderContract(AdapterContract):
    factory = cloud_factory

    @pytest.fixture
    async def harness(self) -> AsyncIterator[Harness]:
        async with receiver() as host:
            settings = ProviderSettings.model_validate(
                {
                    "operator": "Provider",
                    "region": "eu-1",
                    "retention_days": 7,
                    "endpoint_key": KEY,
                    "ingest_url": host.url + "/ingest",
                    "auth": {"token": "env:T"},
                },
                context={"env": {"T": "token"}},
            )
            adapter: HostingAdapter = self.factory.create(_context(host.url + "/business-hook"), settings)
            yield Harness(
                adapter,
                lambda: [
                    str(b["message_id"])
                    for b in bodies_by_type(
                        [r for r in host.requests if r.path == "/ingest"], "message.received"
                    )
                ],
                lambda: [str(b["status"]) for b in bodies_by_type(host.requests, "message.status")],
                lambda status: host.answers.append((status, {})),
            )
            await adapter.aclose()


class TestCloud(_ProviderContract):
    factory = cloud_factory


class TestPartner(_ProviderContract):
    factory = partner_factory


class TestMemory(AdapterContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[Harness]:
        adapter = MemoryAdapter(
            _context("http://127.0.0.1/"),
            MemorySettings.model_validate({"region": "local", "retention_days": 1, "endpoint_key": KEY}),
        )

        def answer_next(status: int) -> None:
            adapter.fail_next.append(classify(status, None))

        yield Harness(
            adapter,
            lambda: [e.message_id for e in adapter.delivered],
            lambda: [u.status for u in adapter.statuses],
            answer_next,
        )
        await adapter.aclose()


def test_memory_failure_injection_uses_http_semantics() -> None:
    """The memory adapter's injected failures mean what an HTTP host's statuses mean."""
    assert classify(410, None) == DeliveryResult("gone", "http 410: endpoint asked to stop deliveries")
