"""Sealed messages both ways, against the real broker and real HTTP servers."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.bridge.conftest import BUSINESSES, Bridge

pytestmark = pytest.mark.broker


async def _outbound(bridge: Bridge, message_id: str) -> None:
    for _ in range(100):
        if any(m.message_id == message_id for m in bridge.network.outbound):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{message_id} never reached the network")


class TestEndToEnd:
    async def test_users_reach_each_business_and_a_business_answers(self, bridge: Bridge) -> None:
        """Sealed messages reach each example business, which opens them; a reply reaches the network with the revision."""
        sent = {
            b: await bridge.network.send("user-aisyah", b, f"halo {b}, canary-plaintext-e2e")
            for b in BUSINESSES
        }
        await bridge.network.wait_all_delivered(within=30)
        for business, message_id in sent.items():
            assert bridge.hosts.opened[business] == [
                (message_id, "user-aisyah", f"halo {business}, canary-plaintext-e2e".encode())
            ]
        assert bridge.hosts.unopenable == []
        assert bridge.hosts.forged == 0

        payload = base64.b64encode(b"sealed-for-the-user").decode()
        response = await bridge.client.post(
            "/v1/messages",
            json={"recipient": "user-aisyah", "payload": payload},
            headers=bridge.auth("warung-sari"),
        )
        assert response.status == 202, await response.text()
        accepted = await response.json()
        assert accepted["revision"] == 1
        await _outbound(bridge, accepted["message_id"])
        [out] = [m for m in bridge.network.outbound if m.message_id == accepted["message_id"]]
        assert (out.business_id, out.recipient, out.payload, out.revision) == (
            "warung-sari",
            "user-aisyah",
            payload,
            1,
        )

    async def test_status_follows_receipts_and_never_goes_back(self, bridge: Bridge) -> None:
        """Delivered then read then a late delivered: the status stays read, and the history keeps all."""
        response = await bridge.client.post(
            "/v1/messages",
            json={"recipient": "user-budi", "payload": base64.b64encode(b"x").decode()},
            headers=bridge.auth("nimbus-shop"),
        )
        message_id = (await response.json())["message_id"]
        # One receipt at a time, so "late" means late: concurrent receipts may apply in any order.
        for applied, status in enumerate(("delivered", "read", "delivered"), start=2):
            await bridge.network.receipt(message_id, "nimbus-shop", status)
            for _ in range(100):
                body = await (
                    await bridge.client.get(f"/v1/messages/{message_id}", headers=bridge.auth("nimbus-shop"))
                ).json()
                if len(body["history"]) == applied:
                    break
                await asyncio.sleep(0.05)
        assert body["status"] == "read"
        assert [h["status"] for h in body["history"]] == ["accepted", "delivered", "read", "delivered"]
        # The business is told too, through its signed webhook; the late receipt does not step back.
        for _ in range(100):
            if len(bridge.hosts.statuses["nimbus-shop-webhook"]) == 3:
                break
            await asyncio.sleep(0.1)
        statuses = bridge.hosts.statuses["nimbus-shop-webhook"]
        assert sorted((s["reported"], s["status"]) for s in statuses) == sorted(
            [("delivered", "delivered"), ("read", "read"), ("delivered", "read")]
        )

    async def test_own_disclosure(self, bridge: Bridge) -> None:
        """GET /v1/disclosure returns the caller's own signed disclosure."""
        body = await (await bridge.client.get("/v1/disclosure", headers=bridge.auth("kirana-travel"))).json()
        assert body["document"]["business_id"] == "kirana-travel"
        assert body["jws"].count(".") == 2
        assert body["jws"].split(".")[1] == ""
