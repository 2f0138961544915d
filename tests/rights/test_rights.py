"""Users' rights end to end: blocking a business, retention, data export."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any

import jsonschema
import pytest

from gateway.events import CONSENT_DECISION
from gateway.http.keys import STORE
from gateway.rights.export import SCHEMA_ID
from tests.bridge.conftest import Bridge
from tests.conftest import REPO, edit
from tests.support import wait_for_trail

pytestmark = pytest.mark.broker

NETWORK_TOKEN = "hgn_a7EwhxZqgMbNRTigiNi-YQfCLXZYhp1MTYGnfcpMg80"
CANARY = "CANARY-RIGHTS-only-the-user-may-read-this"


async def _send(bridge: Bridge, business: str, recipient: str) -> tuple[int, dict[str, Any]]:
    response = await bridge.client.post(
        "/v1/messages",
        json={"recipient": recipient, "payload": base64.b64encode(b"sealed").decode()},
        headers=bridge.auth(business),
    )
    return response.status, await response.json()


async def _decision(bridge: Bridge, user: str, decision: str) -> bool:
    """Whether the user's recorded decision (as the export shows it) is ``decision``."""
    response = await bridge.client.get(
        f"/v1/network/users/{user}/export", headers={"Authorization": f"Bearer {NETWORK_TOKEN}"}
    )
    return [c["decision"] for c in (await response.json())["consents"]] == [decision]


async def _eventually(check: Any, what: str, within: float = 15) -> Any:
    for _ in range(int(within * 10)):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class TestConsent:
    async def test_a_decision_dated_far_ahead_is_refused(self, bridge: Bridge) -> None:
        """A block dated 9999-12-31 is dead-lettered, not stored; the user's later allow still takes effect."""
        network = bridge.network
        assert network._consents is not None
        far = {
            "user_id": "user-eka",
            "business_id": "warung-sari",
            "decision": "block",
            "at": "9999-12-31T00:00:00Z",
        }
        await network._publish_event(network._consents, CONSENT_DECISION, "warung-sari", far)
        await network.consent("user-eka", "warung-sari", "allow")
        await _eventually(lambda: _decision(bridge, "user-eka", "allow"), "the allow to be recorded")
        await asyncio.sleep(0.3)
        assert await _decision(bridge, "user-eka", "allow"), "the far-future block must not win"
        status, _ = await _send(bridge, "warung-sari", "user-eka")
        assert status == 202

    async def test_block_then_unblock(self, bridge: Bridge) -> None:
        """A blocked business gets 403 user_blocked and the network receives nothing; unblocking restores delivery."""
        await bridge.network.consent("user-dewi", "warung-sari", "block")
        await _eventually(lambda: _decision(bridge, "user-dewi", "block"), "the block to be recorded")
        status, body = await _send(bridge, "warung-sari", "user-dewi")
        assert (status, body["error"]["code"]) == (403, "user_blocked")
        await asyncio.sleep(0.5)
        assert not [m for m in bridge.network.outbound if m.recipient == "user-dewi"], (
            "nothing may reach the network"
        )

        await bridge.network.consent("user-dewi", "warung-sari", "allow")
        await _eventually(lambda: _decision(bridge, "user-dewi", "allow"), "the unblock to be recorded")
        status, accepted = await _send(bridge, "warung-sari", "user-dewi")
        assert status == 202

        async def arrived() -> bool:
            return any(m.message_id == accepted["message_id"] for m in bridge.network.outbound)

        await _eventually(arrived, "the message to reach the network")


class TestRetention:
    @pytest.fixture
    def short_retention(self, config_dir: Any) -> None:
        """nimbus-shop keeps data for about three seconds; the sweep runs every half second."""
        edit(
            config_dir / "businesses" / "nimbus-shop.toml",
            lambda t: t.replace("retention_days = 30", "retention_days = 0.000035"),
        )
        edit(config_dir / "gateway.toml", lambda t: re.sub(r"sweep_seconds = \d+", "sweep_seconds = 0.5", t))

    async def test_data_gone_after_retention(self, short_retention: None, bridge: Bridge) -> None:
        """After the retention: status, idempotency and delivery records are gone, GET is 404, the purge is audited."""
        response = await bridge.client.post(
            "/v1/messages",
            json={"recipient": "user-eka", "payload": base64.b64encode(b"sealed").decode()},
            headers={**bridge.auth("nimbus-shop"), "Idempotency-Key": "retention-1"},
        )
        message_id = (await response.json())["message_id"]
        await bridge.network.receipt(message_id, "nimbus-shop", "delivered")
        assert (
            await bridge.client.get(f"/v1/messages/{message_id}", headers=bridge.auth("nimbus-shop"))
        ).status == 200
        await asyncio.sleep(4.5)
        gone = await bridge.client.get(f"/v1/messages/{message_id}", headers=bridge.auth("nimbus-shop"))
        assert gone.status == 404

        var = bridge.config_dir.parent / "var"
        async with bridge.client.app[STORE].read() as tx:
            assert await tx.messages.get("nimbus-shop", message_id, direction="outbound") is None
            assert await tx.messages.idempotent_response("nimbus-shop", "retention-1") is None
        trail = await wait_for_trail(var, '"event":"data.purged"')
        purged = [json.loads(line) for line in trail.splitlines() if '"data.purged"' in line]
        assert any(r["business"] == "nimbus-shop" and r["records"] >= 3 for r in purged), purged


class TestExport:
    async def test_export_lists_both_chats_notices_and_consent(self, bridge: Bridge) -> None:
        """The export covers two businesses, the notices shown and the consent; it validates and holds no content."""
        user = "user-fajar"
        await bridge.network.send(user, "warung-sari", CANARY)
        await bridge.network.send(user, "kirana-travel", CANARY)
        await bridge.network.wait_all_delivered(within=20)
        await bridge.network.consent(user, "kirana-travel", "block")
        # A hosting change: the user's open chat with warung-sari gets a notice.
        path = bridge.config_dir / "businesses" / "warung-sari.toml"
        path.write_text(path.read_text().replace('region = "id-jakarta"', 'region = "id-bali"'))
        await bridge.reload()

        async def exported() -> dict[str, Any] | None:
            response = await bridge.client.get(
                f"/v1/network/users/{user}/export", headers={"Authorization": f"Bearer {NETWORK_TOKEN}"}
            )
            document = await response.json()
            ready = document["consents"] and document["notices"]
            return document if response.status == 200 and ready else None

        document = await _eventually(exported, "the export to show the consent and the notice")
        schema = json.loads((REPO / "docs" / "export.schema.json").read_text())
        jsonschema.validate(document, schema)
        assert document["$schema"] == SCHEMA_ID
        assert {c["business_id"] for c in document["chats"]} == {"warung-sari", "kirana-travel"}
        assert [(c["business_id"], c["decision"]) for c in document["consents"]] == [
            ("kirana-travel", "block")
        ]
        assert {(n["business_id"], n["reason"], n["revision"]) for n in document["notices"]} == {
            ("warung-sari", "hosting_changed", 2)
        }
        assert {m["business_id"] for m in document["messages"]} == {"warung-sari", "kirana-travel"}
        assert {m["host"] for m in document["messages"]} == {"Warung Sari", "Chatwise Solutions"}
        assert CANARY not in json.dumps(document)

    async def test_credentials_do_not_cross(self, bridge: Bridge) -> None:
        """A business key cannot export (403); the network credential cannot call business endpoints (403)."""
        export = "/v1/network/users/user-x/export"
        response = await bridge.client.get(export, headers=bridge.auth("warung-sari"))
        assert (response.status, (await response.json())["error"]["code"]) == (403, "forbidden_credential")
        assert (await bridge.client.get(export)).status == 401
        network = {"Authorization": f"Bearer {NETWORK_TOKEN}"}
        for method, path in (("POST", "/v1/messages"), ("GET", "/v1/messages/m1"), ("GET", "/v1/disclosure")):
            response = await bridge.client.request(
                method, path, headers=network, json={} if method == "POST" else None
            )
            assert (response.status, (await response.json())["error"]["code"]) == (
                403,
                "forbidden_credential",
            )
        # The export itself is in the audit trail.
        await bridge.client.get(export, headers=network)
        trail = await wait_for_trail(bridge.config_dir.parent / "var", '"event":"export.served"')
        assert '"event":"export.served"' in trail
