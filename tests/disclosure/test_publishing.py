"""`hostgate serve` publishes signed disclosures: once per change, verifiable by any JOSE library."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet

from gateway.broker.topology import DISCLOSURES
from gateway.client.jwks import keys_from_jwks
from gateway.client.verifier import Accepted, EventVerifier
from gateway.disclosure.document import DisclosureDocument
from gateway.events import DISCLOSURE_PUBLISHED
from tests.broker_capture import Captured, capture
from tests.conftest import edit, run_cli
from tests.support import get_json, serving, wait_for_event, wait_status

pytestmark = pytest.mark.broker

BUSINESSES = {"warung-sari", "nimbus-shop", "kirana-travel"}


def _joserfc_verify(jwks: dict[str, Any], headers: dict[str, Any], body: bytes) -> dict[str, Any]:
    """Verify the detached JWS with joserfc, an independent JOSE implementation."""
    token = headers["cloudEvents_jws"]
    keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # a JWKS parsed from JSON
    # joserfc warns that RFC 9864 prefers the fully specified "Ed25519" alg; the contract says
    # "EdDSA" because every JOSE library in use today knows it. The signature check is the same.
    with pytest.warns(SecurityWarning, match="EdDSA is deprecated"):
        result = jws.deserialize_compact(token, keys, algorithms=["EdDSA"], payload=body)
    assert result.payload == body
    return dict(result.protected)


async def _disclosures(captured: Captured, count: int) -> list[tuple[dict[str, Any], bytes]]:
    messages = await captured.collect(count, 20)
    assert len(messages) >= count, f"wanted {count} disclosures, got {len(messages)}"
    return list(messages)


def _documents(messages: list[tuple[dict[str, Any], bytes]]) -> list[DisclosureDocument]:
    return [DisclosureDocument.model_validate_json(body) for _, body in messages]


class TestStartup:
    async def test_one_signed_disclosure_per_business_then_none_on_restart(
        self, config_dir: Path, request: pytest.FixtureRequest
    ) -> None:
        """First start publishes one verifiable disclosure per business; a restart with unchanged config publishes nothing."""
        async with capture([DISCLOSURES.exchange], request.node.name) as captured:
            with serving(config_dir) as (process, port, _):
                messages = await _disclosures(captured, 3)
                status, jwks = get_json(port, "/.well-known/jwks.json")
                assert status == 200
                process.send_signal(signal.SIGTERM)
                assert process.wait(15) == 0
            for headers, body in messages:
                assert headers["cloudEvents_specversion"] == "1.0"
                assert headers["cloudEvents_type"] == DISCLOSURE_PUBLISHED
                assert headers["cloudEvents_source"]
                assert headers["cloudEvents_id"]
                protected = _joserfc_verify(jwks, headers, body)
                assert protected["alg"] == "EdDSA"
                assert protected["kid"] == jwks["keys"][0]["kid"]
            documents = _documents(messages)
            assert {d.business_id for d in documents} == BUSINESSES
            assert {d.revision for d in documents} == {1}
            nimbus = next(d for d in documents if d.business_id == "nimbus-shop")
            assert nimbus.operator == "Meta"
            assert nimbus.notices["fr"].text.startswith(
                "Cette entreprise utilise un service sécurisé de Meta"
            )
            assert nimbus.endpoint_key.public_key

            with serving(config_dir) as (process, port, _):
                await asyncio.sleep(1.5)
                ready = wait_status(port, "/readyz", 200, 15)
                assert ready["checks"]["outbox"]["rows"] == 0
                process.send_signal(signal.SIGTERM)
                assert process.wait(15) == 0
            assert await captured.settle(quiet=1.0) == messages, (
                "a restart with unchanged config published again"
            )


class TestKeyRotation:
    async def test_rotated_key_signs_new_and_old_still_verify(
        self, config_dir: Path, request: pytest.FixtureRequest
    ) -> None:
        """After `hostgate keys rotate`, new disclosures use the new key and old ones still verify against the JWKS."""
        async with capture([DISCLOSURES.exchange], request.node.name) as captured:
            with serving(config_dir) as (process, port, _):
                first = await _disclosures(captured, 3)
                rotated = run_cli("keys", "rotate", "--config", str(config_dir))
                assert rotated.returncode == 0, rotated.stderr
                new_kid = rotated.stdout.split("active signing key: ")[1].split()[0]
                edit(
                    config_dir / "businesses" / "nimbus-shop.toml",
                    lambda t: t.replace('operator = "Meta"', 'operator = "Nimbus Cloud"'),
                )
                process.send_signal(signal.SIGHUP)
                second = await _disclosures(captured, 4)
                _, jwks = get_json(port, "/.well-known/jwks.json")
                process.send_signal(signal.SIGTERM)
                assert process.wait(15) == 0
        assert len(jwks["keys"]) == 2
        assert jwks["keys"][0]["kid"] == new_kid
        headers, body = second[3]
        assert _joserfc_verify(jwks, headers, body)["kid"] == new_kid
        assert DisclosureDocument.model_validate_json(body).operator == "Nimbus Cloud"
        assert len(first) == 3
        for old_headers, old_body in first:
            assert _joserfc_verify(jwks, old_headers, old_body)["kid"] != new_kid


class TestReload:
    async def test_sighup_publishes_next_revision_for_the_changed_business_only(
        self, config_dir: Path, request: pytest.FixtureRequest
    ) -> None:
        """A hosting change plus SIGHUP publishes revision 2 for that business and nothing for the others."""
        async with capture([DISCLOSURES.exchange], request.node.name) as captured:
            with serving(config_dir) as (process, port, _):
                await _disclosures(captured, 3)
                edit(
                    config_dir / "businesses" / "kirana-travel.toml",
                    lambda t: t.replace('region = "eu-frankfurt"', 'region = "eu-paris"'),
                )
                process.send_signal(signal.SIGHUP)
                messages = await _disclosures(captured, 4)
                assert await captured.settle(quiet=1.0) == messages
                _, jwks = get_json(port, "/.well-known/jwks.json")
                process.send_signal(signal.SIGTERM)
                assert process.wait(15) == 0
        verifier = EventVerifier(keys_from_jwks(jwks))
        accepted = [verifier.check(h, b) for h, b in messages]
        assert all(isinstance(a, Accepted) for a in accepted)
        last = _documents(messages)[3]
        assert (last.business_id, last.revision, last.previous_revision, last.region) == (
            "kirana-travel",
            2,
            1,
            "eu-paris",
        )

    async def test_broken_file_on_reload_changes_nothing(
        self, config_dir: Path, request: pytest.FixtureRequest
    ) -> None:
        """A broken business file on SIGHUP is reported, the gateway keeps serving the last good config, nothing is published."""
        async with capture([DISCLOSURES.exchange], request.node.name) as captured:
            with serving(config_dir) as (process, port, lines):
                messages = await _disclosures(captured, 3)
                edit(
                    config_dir / "businesses" / "kirana-travel.toml",
                    lambda t: t.replace('region = "eu-frankfurt"', "region = 12"),
                )
                edit(
                    config_dir / "businesses" / "nimbus-shop.toml",
                    lambda t: t.replace('operator = "Meta"', 'operator = "Other"'),
                )
                process.send_signal(signal.SIGHUP)
                failure = wait_for_event(lines, "config.reload_failed")
                assert any("kirana-travel.toml: hosting.settings.region" in p for p in failure["problems"])
                body = wait_status(port, "/readyz", 200, 5)
                assert body["checks"]["config"]["generation"] == 1
                assert await captured.settle(quiet=1.5) == messages
                process.send_signal(signal.SIGTERM)
                assert process.wait(15) == 0


class TestAuditOfRotation:
    async def test_rotation_is_recorded(self, config_dir: Path, request: pytest.FixtureRequest) -> None:
        """When the gateway signs with a rotated key, keys.rotated is in the audit trail."""
        async with capture([DISCLOSURES.exchange], request.node.name) as captured:
            with serving(config_dir) as (process, _port, _):
                await _disclosures(captured, 3)
                assert run_cli("keys", "rotate", "--config", str(config_dir)).returncode == 0
                edit(
                    config_dir / "businesses" / "warung-sari.toml",
                    lambda t: t.replace('region = "id-jakarta"', 'region = "id-bali"'),
                )
                process.send_signal(signal.SIGHUP)
                await _disclosures(captured, 4)
                process.send_signal(signal.SIGTERM)
                assert process.wait(15) == 0
        shown = run_cli("audit", "export", "--config", str(config_dir), "--event", "keys.rotated")
        [record] = [json.loads(line) for line in shown.stdout.splitlines()]
        assert record["kid"] != record["previous_kid"]
