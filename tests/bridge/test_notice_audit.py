"""A fan-out is audited one window at a time, and a reviewer still finds the notice one user was shown."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from tests.bridge.conftest import Bridge
from tests.conftest import edit, run_cli
from tests.support import until, wait_for_trail

pytestmark = pytest.mark.broker

BUSINESS = "warung-sari"
USERS = [f"window-user-{n}" for n in range(5)]


async def test_audit_show_for_one_user_finds_their_notice_in_a_window(bridge: Bridge) -> None:
    """Five users' chats get a hosting-change notice: one notices.published record; --user narrows it to theirs."""
    for user in USERS:
        await bridge.network.send(user, BUSINESS, "hello")
    await bridge.network.wait_all_delivered()
    edit(
        bridge.config_dir / "businesses" / f"{BUSINESS}.toml",
        lambda t: t.replace('region = "id-jakarta"', 'region = "id-surabaya"'),
    )
    await bridge.reload()
    await until(
        lambda: {n.user_id for n in bridge.network.notices if n.reason == "hosting_changed"} >= set(USERS),
        "every user shown the hosting change",
    )
    shown = {n.user_id: n.notice_id for n in bridge.network.notices if n.reason == "hosting_changed"}
    trail = await wait_for_trail(bridge.config_dir.parent / "var", '"event":"notices.published"')
    windows = [r for r in map(json.loads, trail.splitlines()) if r["event"] == "notices.published"]
    named = [pair for r in windows for pair in r["recipients"]]
    assert sorted(notice for _, notice in named) == sorted(shown[u] for u in USERS)
    assert all(pseudonym.startswith("u_") for pseudonym, _ in named)
    assert not any(user in trail for user in USERS), "no raw user id in the trail"

    env = {**os.environ}
    target, other = USERS[0], USERS[1]
    query = ["--config", str(bridge.config_dir), "--user", target, "--event", "notices.published"]
    # Off the loop: the gateway under test shares it.
    shown_to_target = await asyncio.to_thread(run_cli, "audit", "show", *query, env=env)
    exported = await asyncio.to_thread(run_cli, "audit", "export", *query, "--format", "jsonl", env=env)
    print(shown_to_target.stdout)
    assert shown_to_target.returncode == 0, shown_to_target.stderr
    assert shown[target] in shown_to_target.stdout, "show names the notice the user was shown"
    assert shown[other] not in shown_to_target.stdout, "and not other users' notices"
    assert "window=5" in shown_to_target.stdout
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert len(records) == 1
    assert len(records[0]["recipients"]) == len(USERS), "an export keeps the record whole (its hash checks)"
