"""Built-in adapters deliver one attempt to a real local endpoint and classify its answer."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import standardwebhooks
from pydantic import SecretStr

from adapters.base import AdapterContext, Envelope, HostingAdapter, WebhookTarget
from adapters.cloud import ProviderAdapter, ProviderSettings, cloud_factory
from adapters.egress import EgressPolicy, networks
from adapters.http_delivery import classify
from adapters.memory import MemoryAdapter, MemorySettings
from adapters.self_hosted import SelfHostedAdapter, SelfHostedSettings
from tests.adapters.receivers import receiver

SECRET_A = "whsec_" + base64.b64encode(b"a" * 32).decode()
SECRET_B = "whsec_" + base64.b64encode(b"b" * 32).decode()
KEY = {"suite": "x25519", "public_key": "gxvBqcZa-g6FgSHuGuN-S6x9YSL5Atu_3v0p29UH-HM"}


def envelope(message_id: str = "msg_1") -> Envelope:
    return Envelope(
        message_id=message_id,
        business_id="acme",
        sender="u_pseudo",
        key_id="ek_x",
        suite="x25519",
        sealed=b"\x01sealed",
        sent_at=datetime(2026, 11, 29, tzinfo=UTC),
        disclosure_revision=3,
        chat_sequence=7,
    )


LOOPBACK = EgressPolicy(networks(["127.0.0.0/8"]))


def context(url: str, *secrets: str) -> AdapterContext:
    return AdapterContext("acme", "Acme", WebhookTarget(url, tuple(SecretStr(s) for s in secrets)), LOOPBACK)


class TestSelfHosted:
    async def test_signed_webhook_verifies_with_standardwebhooks(self) -> None:
        """A delivered webhook verifies with the independent standardwebhooks package, under each of two rotating secrets."""
        async with receiver() as endpoint:
            settings = SelfHostedSettings.model_validate(
                {"region": "id-1", "retention_days": 0, "endpoint_key": KEY}
            )
            adapter = SelfHostedAdapter(context(endpoint.url + "/hook", SECRET_A, SECRET_B), settings)
            try:
                result = await adapter.deliver(envelope())
            finally:
                await adapter.aclose()
        assert result.outcome == "delivered"
        [request] = endpoint.requests
        assert request.headers["webhook-id"] == "msg_1"
        for secret in (SECRET_A, SECRET_B):
            payload = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
            assert payload["message_id"] == "msg_1"
            assert payload["disclosure_revision"] == 3
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            standardwebhooks.Webhook("whsec_" + base64.b64encode(b"c" * 32).decode()).verify(
                request.body, request.headers
            )

    async def test_retry_keeps_webhook_id(self) -> None:
        """Two attempts at one message carry the same webhook-id, so receivers can dedupe."""
        async with receiver() as endpoint:
            endpoint.answers.append((503, {}))
            settings = SelfHostedSettings.model_validate(
                {"region": "id-1", "retention_days": 0, "endpoint_key": KEY}
            )
            adapter = SelfHostedAdapter(context(endpoint.url, SECRET_A), settings)
            try:
                first = await adapter.deliver(envelope("msg_9"))
                second = await adapter.deliver(envelope("msg_9"))
            finally:
                await adapter.aclose()
        assert (first.outcome, second.outcome) == ("retry", "delivered")
        assert {r.headers["webhook-id"] for r in endpoint.requests} == {"msg_9"}


class TestProvider:
    async def test_cloud_posts_with_bearer_and_region(self, config_dir: Path) -> None:
        """The cloud adapter posts to the ingest API with the provider's token, region and retention."""
        async with receiver() as provider:
            settings = ProviderSettings.model_validate(
                {
                    "operator": "Meta",
                    "region": "sg-1",
                    "retention_days": 30,
                    "endpoint_key": KEY,
                    "ingest_url": provider.url + "/v1/ingest",
                    "auth": {"token": "env:TOKEN"},
                },
                context={"env": {"TOKEN": "tkn-123"}},
            )
            adapter = cloud_factory.create(context("http://127.0.0.1:1/", SECRET_A), settings)
            assert isinstance(adapter, ProviderAdapter)
            try:
                result = await adapter.deliver(envelope())
            finally:
                await adapter.aclose()
        assert result.outcome == "delivered"
        [request] = provider.requests
        assert request.path == "/v1/ingest"
        assert request.headers["Authorization"] == "Bearer tkn-123"
        assert request.headers["x-hostgate-region"] == "sg-1"
        assert request.headers["x-hostgate-retention-days"] == "30"
        assert (
            json.loads(request.body)["sealed"]
            == base64.urlsafe_b64encode(b"\x01sealed").rstrip(b"=").decode()
        )

    async def test_unreachable_provider_is_a_retry(self) -> None:
        """A provider that refuses connections yields a retry, not an exception."""
        settings = ProviderSettings.model_validate(
            {
                "operator": "X",
                "region": "r",
                "retention_days": 1,
                "endpoint_key": KEY,
                "ingest_url": "http://127.0.0.1:1/ingest",
                "auth": {"token": "env:T"},
            },
            context={"env": {"T": "t"}},
        )
        adapter = cloud_factory.create(context("http://127.0.0.1:1/", SECRET_A), settings)
        try:
            result = await adapter.deliver(envelope())
        finally:
            await adapter.aclose()
        assert result.outcome == "retry"
        assert "connection failed" in result.detail


class TestClassify:
    @pytest.mark.parametrize(
        ("status", "outcome"),
        [
            (200, "delivered"),
            (204, "delivered"),
            (301, "retry"),
            (400, "retry"),
            (401, "retry"),
            (403, "retry"),
            (404, "retry"),
            (422, "retry"),
            (408, "retry"),
            (410, "gone"),
            (429, "retry"),
            (500, "retry"),
            (503, "retry"),
        ],
    )
    def test_status_outcomes(self, status: int, outcome: str) -> None:
        """Each HTTP status maps to the documented outcome."""
        assert classify(status, None).outcome == outcome

    def test_retry_after_seconds(self) -> None:
        """429 with Retry-After in seconds is honoured."""
        assert classify(429, "120").retry_after == timedelta(seconds=120)

    def test_retry_after_http_date(self) -> None:
        """429 with Retry-After as an HTTP date becomes the time left until then."""
        when = datetime.now(UTC) + timedelta(minutes=5)
        delay = classify(429, when.strftime("%a, %d %b %Y %H:%M:%S GMT")).retry_after
        assert delay is not None
        assert timedelta(minutes=4) < delay <= timedelta(minutes=5)


class TestMemory:
    async def test_keeps_envelopes_and_conforms(self) -> None:
        """The in-memory adapter keeps what it delivers and satisfies the HostingAdapter protocol."""
        adapter = MemoryAdapter(
            context("http://127.0.0.1/", SECRET_A),
            MemorySettings.model_validate({"region": "local", "retention_days": 1, "endpoint_key": KEY}),
        )
        assert isinstance(adapter, HostingAdapter)
        assert (await adapter.deliver(envelope())).outcome == "delivered"
        assert [e.message_id for e in adapter.delivered] == ["msg_1"]
