"""The core guarantee, as a randomized test: nothing reaches a host whose key the message was not sealed to."""

from __future__ import annotations

import asyncio
import random

import pytest

from adapters.base import b64url
from gateway.sealing import EndpointPrivateKey
from tests.bridge.conftest import BUSINESSES, Bridge, example_key

pytestmark = [pytest.mark.broker, pytest.mark.reliability]

MESSAGES = 2_000
USERS = 25
CHANGES = 6


def _move_host(bridge: Bridge, business: str, step: int, key: EndpointPrivateKey) -> None:
    """The business moves its chats to a new host with a new key (a hosting change)."""
    path = bridge.config_dir / "businesses" / f"{business}.toml"
    text = path.read_text()
    old_key = b64url(
        (bridge.hosts.keys[f"{business}-{step - 1}"] if step > 1 else example_key(business)).public.public_key
    )
    old_url = f"{bridge.hosts.url}/{business}-{step - 1}" if step > 1 else f"{bridge.hosts.url}/{business}"
    new_url = bridge.hosts.add(f"{business}-{step}", key, bridge.hosts.secrets[business])
    assert old_key in text
    assert old_url in text
    path.write_text(text.replace(old_key, b64url(key.public.public_key)).replace(old_url, new_url))


async def test_no_message_reaches_a_host_it_was_not_sealed_for(bridge: Bridge) -> None:
    """Thousands of messages while hosting changes: 0 opened by the wrong host, every stale one answered, all delivered."""
    rng = random.Random(20261129)  # noqa: S311 -- a reproducible schedule, not a secret
    steps = dict.fromkeys(BUSINESSES, 0)

    async def traffic() -> None:
        for i in range(MESSAGES):
            business = rng.choice(BUSINESSES)
            await bridge.network.send(
                f"user-{rng.randrange(USERS):02d}", business, f"message {i} canary-plaintext-dbd"
            )
            if i % 50 == 0:
                await asyncio.sleep(0.02)

    async def hosting_changes() -> None:
        for _ in range(CHANGES):
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            business = rng.choice(BUSINESSES)
            steps[business] += 1
            _move_host(bridge, business, steps[business], EndpointPrivateKey.generate())
            await bridge.reload()

    await asyncio.gather(traffic(), hosting_changes())
    await bridge.network.wait_all_delivered(within=120)

    counts = bridge.network.stats.counts
    opened = {message_id for received in bridge.hosts.opened.values() for message_id, _, _ in received}
    stale_receipts = counts["receipt:disclosure_stale"]
    stale_notices = counts["published:disclosure_stale"]
    summary = (
        f"sent={MESSAGES} hosting_changes={CHANGES} opened={len(opened)} unopenable={len(bridge.hosts.unopenable)} "
        f"stale_receipts={stale_receipts} stale_notices={stale_notices} resealed={counts['resealed']} "
        f"hosting_notices={counts['published:hosting_changed']}"
    )
    print(summary)
    assert bridge.hosts.unopenable == [], "a host received a message not sealed to its key"
    assert opened == set(bridge.network.sent), (
        "every message is eventually delivered to a host that can open it"
    )
    assert stale_receipts > 0, "the test should have produced stale messages"
    assert stale_notices == stale_receipts, "each stale message gets a receipt and a notice"
