"""Disclosure events carry their log proof; a client and `hostgate watch` refuse a disclosure outside the log."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.app import apply_config
from gateway.broker import topology
from gateway.broker.cloudevents import amqp_message
from gateway.client import NetworkClient
from gateway.client.transparency import LogVerifier
from gateway.client.verifier import Accepted
from gateway.disclosure.document import build_disclosure
from gateway.disclosure.signed import signed_event
from gateway.events import DISCLOSURE_PUBLISHED
from gateway.http.keys import CONFIG, RELAY, SIGNING_KEYS
from gateway.ids import new_id
from gateway.transparency import note
from tests.conftest import REPO, edit
from tests.support import gateway_client, wait_until

pytestmark = pytest.mark.broker

BROKER = "amqp://guest:guest@127.0.0.1:5672/"


async def test_disclosures_carry_proofs_and_a_disclosure_outside_the_log_is_refused(config_dir: Path) -> None:
    """A hosting change arrives with a valid proof; one signed with the gateway's key but not logged is refused."""
    async with gateway_client(config_dir, "log-events") as client:
        base = str(client.make_url("")).rstrip("/")
        vkey = (await (await client.get("/log/vkey")).text()).strip()
        # The start-up revisions are out first: from here on, the only disclosures are this test's.
        await wait_until(lambda: _published(client.app, 3), 20, "the start-up disclosures")
        watcher = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli.main", "watch", "--amqp", BROKER,
            "--jwks", f"{base}/.well-known/jwks.json", "--count", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
        # A watcher that requires a witness's cosignature: this gateway has no witness, so even
        # the real revision is refused (a checkpoint the witnesses did not cosign).
        witness_vkey = note.verifier_key(
            "witness.test", Ed25519PrivateKey.generate().public_key(), note.COSIGNATURE_V1
        )
        strict = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli.main", "watch", "--amqp", BROKER,
            "--jwks", f"{base}/.well-known/jwks.json", "--count", "1",
            "--witness", witness_vkey, "--require-witnesses", "1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
        )  # fmt: skip
        network = NetworkClient(
            BROKER, f"{base}/.well-known/jwks.json", log=LogVerifier(vkey), name="test:log"
        )
        accepted = []
        async with network:
            consumer = asyncio.create_task(_first(network))
            await asyncio.sleep(1.5)  # the client's and the watcher's queues are bound

            # An attacker with the gateway's signing key publishes a disclosure that is in no log.
            app = client.app
            business = app[CONFIG].current.businesses["nimbus-shop"]
            now = datetime.now(UTC)
            forged = build_disclosure(business, 99, 1, now)
            event = signed_event(
                DISCLOSURE_PUBLISHED,
                new_id(),
                subject="nimbus-shop",
                document=forged.model_dump(mode="json", exclude={"event"}),
                key=app[SIGNING_KEYS].active,
                when=now,
            )
            connection = await aio_pika.connect(BROKER)
            channel = await connection.channel()
            exchange = await channel.get_exchange(topology.DISCLOSURES.exchange)
            await exchange.publish(amqp_message(event), routing_key="nimbus-shop")
            await connection.close()
            await wait_until(lambda: _refused(network), 10, "the client refusing the unlogged disclosure")

            # A real hosting change: revision 2, published with its proof, accepted.
            edit(
                config_dir / "businesses" / "nimbus-shop.toml",
                lambda t: t.replace('region = "', 'region = "x-', 1),
            )
            changed = time.monotonic()
            assert await app[CONFIG].reload(lambda fresh: apply_config(app, fresh))
            accepted.append(await asyncio.wait_for(consumer, 15))
            took = time.monotonic() - changed
        raw, _ = await asyncio.wait_for(watcher.communicate(), 20)
        output = raw.decode()
        strict.terminate()
        strict_raw, _ = await asyncio.wait_for(strict.communicate(), 20)
        strict_output = strict_raw.decode()
    # The relay signs a checkpoint at once for a revision none holds: no wait for the 2 s timer.
    print(f"\nhosting change to verified disclosure, log proof included: {took * 1000:.0f} ms")
    assert took < 1.0
    assert [r.reason for r in network.rejected] == ["not_in_log"]
    assert accepted[0].document.revision == 2
    print(output)
    assert "REFUSED not_in_log" in output
    assert "revision 2" in output
    print(strict_output)
    assert strict_output.count("REFUSED not_in_log") == 2, strict_output
    assert "0 of the witnesses, 1 required" in strict_output


async def _refused(network: NetworkClient) -> bool:
    return bool(network.rejected)


async def _published(app: Any, count: int) -> bool:
    return bool(app[RELAY].published >= count)


async def _first(network: NetworkClient) -> Accepted:
    async for accepted in network.events():
        return accepted
    raise AssertionError("the client stopped")
