"""docs/asyncapi.yaml stays in step with the code: every event, exchange and payload field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel

from gateway.audit.witness import CheckpointAnnouncement
from gateway.bridge.models import (
    ConsentDecision,
    DeliveryReceipt,
    InboundMessage,
    InboundReceipt,
    OutboundMessage,
)
from gateway.broker.topology import DEAD_LETTER_EXCHANGE, ROUTES
from gateway.disclosure.batch import sign_batch
from gateway.disclosure.document import DisclosureDocument, NoticeDocument
from gateway.disclosure.keys import SigningKey
from gateway.events import (
    AUDIT_CHECKPOINT,
    CONSENT_DECISION,
    CONSUMED_FROM,
    DELIVERY_RECEIPT,
    DISCLOSURE_PUBLISHED,
    EXCHANGE_FOR,
    INBOUND_MESSAGE,
    INBOUND_RECEIPT,
    NOTICE_PUBLISHED,
    OUTBOUND_MESSAGE,
)
from tests.conftest import REPO

SPEC: dict[str, Any] = yaml.safe_load((REPO / "docs" / "asyncapi.yaml").read_text())
MESSAGES = {m["name"]: m for m in SPEC["components"]["messages"].values()}
MODELS: dict[str, type[DisclosureDocument] | type[NoticeDocument]] = {
    DISCLOSURE_PUBLISHED: DisclosureDocument,
    NOTICE_PUBLISHED: NoticeDocument,
}


class TestAsyncApi:
    def test_is_asyncapi_3(self) -> None:
        """The file declares AsyncAPI 3."""
        assert SPEC["asyncapi"].startswith("3.")

    @pytest.mark.parametrize("event_type", sorted(EXCHANGE_FOR))
    def test_every_event_type_documented(self, event_type: str) -> None:
        """Each event type the code publishes is a documented message on its exchange's channel."""
        assert event_type in MESSAGES, f"{event_type} missing from docs/asyncapi.yaml"
        channels = [c for c in SPEC["channels"].values() if c["address"] == EXCHANGE_FOR[event_type]]
        assert channels, f"no channel for {EXCHANGE_FOR[event_type]}"
        documented = {ref["$ref"].rsplit("/", 1)[1] for ref in channels[0].get("messages", {}).values()}
        assert any(SPEC["components"]["messages"][name]["name"] == event_type for name in documented)

    @pytest.mark.parametrize("event_type", sorted(CONSUMED_FROM))
    def test_every_consumed_event_documented(self, event_type: str) -> None:
        """Each event type hostgate consumes from the network is documented on a channel."""
        assert event_type in MESSAGES, f"{event_type} missing from docs/asyncapi.yaml"

    @pytest.mark.parametrize(
        ("event_type", "model"),
        [
            (OUTBOUND_MESSAGE, OutboundMessage),
            (INBOUND_RECEIPT, InboundReceipt),
            (INBOUND_MESSAGE, InboundMessage),
            (DELIVERY_RECEIPT, DeliveryReceipt),
            (CONSENT_DECISION, ConsentDecision),
            (AUDIT_CHECKPOINT, CheckpointAnnouncement),
        ],
    )
    def test_bridge_payloads_match_models(self, event_type: str, model: type[BaseModel]) -> None:
        """The documented bridge payloads list exactly the fields of their models."""
        assert set(MESSAGES[event_type]["payload"]["properties"]) == set(model.model_fields)

    def test_every_exchange_documented(self) -> None:
        """Every exchange the topology declares is a channel, and its queue is named."""
        addresses = {c["address"]: c for c in SPEC["channels"].values()}
        for route in ROUTES:
            assert route.exchange in addresses, route.exchange
            assert route.queue in addresses[route.exchange]["description"], route.queue
        assert DEAD_LETTER_EXCHANGE in addresses

    @pytest.mark.parametrize("event_type", sorted(MODELS))
    def test_payload_fields_match_model(self, event_type: str) -> None:
        """The documented payload lists exactly the fields of the signed document model."""
        documented = set(MESSAGES[event_type]["payload"]["properties"])
        assert documented == set(MODELS[event_type].model_json_schema()["properties"])
        assert set(MESSAGES[event_type]["payload"]["required"]) == documented


def test_the_notice_batch_payload_is_what_the_gateway_sends() -> None:
    """The documented batch body and head are exactly the keys sign_batch writes."""
    payload = MESSAGES["com.hostgate.notice.batch"]["payload"]
    key = SigningKey("k", Ed25519PrivateKey.generate())
    _, body = sign_batch("b", "shop", datetime.now(UTC), {"business_id": "shop"}, [("u", "n")], key)
    sent = yaml.safe_load(body)
    assert set(sent) == set(payload["required"]) == set(payload["properties"])
    head = payload["properties"]["head"]
    assert set(sent["head"]) == set(head["required"]) == set(head["properties"])
    assert [len(entry) for entry in sent["notices"]] == [
        payload["properties"]["notices"]["items"]["minItems"]
    ]
