"""Auth and tenancy: every business endpoint, with no key, a bad key, a revoked key and another business's key."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.bridge.conftest import API_KEYS, Bridge
from tests.conftest import edit

pytestmark = pytest.mark.broker

ENDPOINTS = [
    ("POST", "/v1/messages"),
    ("GET", "/v1/messages/{id}"),
    ("GET", "/v1/disclosure"),
]


async def _call(
    bridge: Bridge, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    body = {"recipient": "user-x", "payload": base64.b64encode(b"p").decode()} if method == "POST" else None
    response = await bridge.client.request(method, path, json=body, headers=headers)
    return response.status, await response.json()


class TestAuthMatrix:
    async def test_matrix(self, bridge: Bridge) -> None:
        """No key, bad key and revoked key answer 401; another business's message id answers 404; no tenant's data leaks."""
        sent = await (
            await bridge.client.post(
                "/v1/messages",
                json={"recipient": "user-x", "payload": "cA=="},
                headers=bridge.auth("warung-sari"),
            )
        ).json()
        warung_message = f"/v1/messages/{sent['message_id']}"

        # Revoke kirana-travel's key: remove its hash from the file and reload.
        edit(
            bridge.config_dir / "businesses" / "kirana-travel.toml",
            lambda t: t.replace(
                '"sha256:9ff30ca26a3f04f8784dec07a19c2c455030833db046af18eca3aab4add77aa5"',
                '"sha256:' + "0" * 64 + '"',
            ),
        )
        await bridge.reload()

        cases = {
            "none": {},
            "not bearer": {"Authorization": f"Basic {API_KEYS['nimbus-shop']}"},
            "empty": {"Authorization": "Bearer "},
            "bad": {"Authorization": "Bearer hg_not-a-key"},
            "revoked": bridge.auth("kirana-travel"),
        }
        results = []
        for name, headers in cases.items():
            for method, template in ENDPOINTS:
                path = template.replace("/{id}", "/" + sent["message_id"])
                status, body = await _call(bridge, method, path, headers)
                results.append((name, method, template, status))
                assert status == 401, (name, method, template, status, body)
                assert body["error"]["code"] == "unauthorized"
        print(f"auth matrix: {len(results)} calls, all 401")

        status, body = await _call(bridge, "GET", warung_message, bridge.auth("nimbus-shop"))
        assert (status, body["error"]["code"]) == (404, "message_not_found")
        assert sent["message_id"] in str(
            body["error"]["message"]
        )  # the id it was asked about, nothing of warung's
        status, body = await _call(bridge, "GET", "/v1/disclosure", bridge.auth("nimbus-shop"))
        assert body["document"]["business_id"] == "nimbus-shop"
        status, body = await _call(bridge, "GET", warung_message, bridge.auth("warung-sari"))
        assert status == 200


class TestBruteForce:
    async def test_guessing_keys_hits_the_rate_limit(self, bridge: Bridge) -> None:
        """Many wrong keys from one address are answered 429 with Retry-After; the real key still works."""
        statuses = []
        for i in range(60):
            response = await bridge.client.get(
                "/v1/disclosure", headers={"Authorization": f"Bearer hg_guess_{i}"}
            )
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
        print(f"60 guesses: {statuses.count(401)} x 401, {statuses.count(429)} x 429")
        assert statuses.count(429) >= 30
        assert (await bridge.client.get("/v1/disclosure", headers=bridge.auth("warung-sari"))).status == 200
