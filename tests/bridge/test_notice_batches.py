"""``notice_form = "batch"``: a hosting change reaches every chat in batches, and each chat's notice stands alone.

The real gateway and RabbitMQ: users open chats, the business changes hosts, and
the network receives one ``com.hostgate.notice.batch`` per window. The simulated
network shows each user their notice; what a single user's client gets (split by
the SDK) verifies on its own. Disclosure before delivery still holds: a user who
was shown the change seals to the new key and is delivered.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.broker.topology import NOTICES
from gateway.client.batches import split_batch, verify_batched_notice
from gateway.events import NOTICE_BATCH
from tests.bridge.conftest import Bridge
from tests.broker_capture import capture
from tests.conftest import edit
from tests.support import until, wait_for_trail

pytestmark = pytest.mark.broker

BUSINESS = "warung-sari"
USERS = [f"batch-user-{n}" for n in range(7)]
WINDOW = 3  # seven chats: windows of 3, 3 and 1


@pytest.fixture
def config_dir(config_dir: Path) -> Path:
    """The example config with fan-out notices sent in batches of three chats."""
    edit(
        config_dir / "gateway.toml",
        lambda t: t.replace('notice_form = "per_chat"', 'notice_form = "batch"').replace(
            "notice_window = 500", f"notice_window = {WINDOW}"
        ),
    )
    return config_dir


async def test_a_hosting_change_goes_out_in_batches_each_notice_provable_alone(
    bridge: Bridge, request: pytest.FixtureRequest
) -> None:
    """Seven chats, windows of three: three batch messages; every user shown their notice; parts verify alone."""
    for user in USERS:
        await bridge.network.send(user, BUSINESS, "hello")
    await bridge.network.wait_all_delivered()
    async with capture([NOTICES.exchange], request.node.name) as captured:
        edit(
            bridge.config_dir / "businesses" / f"{BUSINESS}.toml",
            lambda t: t.replace('region = "id-jakarta"', 'region = "id-surabaya"'),
        )
        await bridge.reload()
        await until(
            lambda: (
                {n.user_id for n in bridge.network.notices if n.reason == "hosting_changed"} >= set(USERS)
            ),
            "every user shown the hosting change",
        )
        batches = await captured.collect(3, 10)
    assert [h["cloudEvents_type"] for h, _ in batches] == [NOTICE_BATCH] * 3
    keys = bridge.network.verifier.keys()
    parts = [part for headers, body in batches for part in split_batch(headers, body, keys)[1]]
    assert sorted(p.user_id for p in parts) == sorted(USERS), "each chat once, across the windows"
    shown = {n.user_id: n.notice_id for n in bridge.network.notices if n.reason == "hosting_changed"}
    for part in parts:
        verified = verify_batched_notice(part.body, keys)  # what that user's client does, alone
        assert verified.document.user_id == part.user_id
        assert verified.document.notice_id == shown[part.user_id]
        assert verified.document.business_id == BUSINESS
        assert not any(other.encode() in part.body for other in USERS if other != part.user_id)

    # Audited per window as in the per-chat form: each user's notice is named (pseudonymised).
    trail = await wait_for_trail(bridge.config_dir.parent / "var", '"event":"notices.published"')
    windows = [r for r in map(json.loads, trail.splitlines()) if r["event"] == "notices.published"]
    assert sorted(len(r["recipients"]) for r in windows) == [1, WINDOW, WINDOW]
    assert sorted(n for r in windows for _, n in r["recipients"]) == sorted(shown.values())

    # Disclosure before delivery: a user shown the change seals to the new key and is delivered.
    await bridge.network.send(USERS[0], BUSINESS, "after the change")
    await bridge.network.wait_all_delivered()
