"""kill -9 in the middle of a batched fan-out: after a restart every chat has its notice, none lost.

A real ``hostgate serve`` with ``notice_form = "batch"`` and 60,000 open chats of
one business; its hosting changes (SIGHUP) and the gateway is killed with SIGKILL
as soon as the first batch reaches the network's queue. Started again, it resumes
from the saved cursor. The network's view (split with the SDK, duplicates dropped
by notice id) must hold every chat exactly once; windows re-sent after the crash
only show up as duplicates.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import aio_pika
import pytest

from gateway.adapter_registry import AdapterRegistry
from gateway.broker.topology import NOTICES
from gateway.client.verifier import Accepted, EventVerifier
from gateway.config import load_config
from gateway.disclosure.document import NoticeDocument
from gateway.disclosure.keys import KeyRing
from gateway.events import NOTICE_BATCH
from gateway.store import open_store_at
from tests.bridge.conftest import BROKER_URL
from tests.conftest import edit
from tests.support import serving, until, wait_status

pytestmark = [pytest.mark.broker, pytest.mark.reliability, pytest.mark.timeout(300)]

BUSINESS = "nimbus-shop"
CHATS = 60_000
WINDOW = 500


async def _open_chats(config_dir: Path) -> None:
    config = load_config(config_dir, {}, AdapterRegistry())
    store = open_store_at(config.settings.store.url, config.path(config.settings.state_dir))
    await store.open()
    try:
        users = [f"crash-user-{i:06d}" for i in range(CHATS)]
        for start in range(0, CHATS, 10_000):
            async with store.unit() as tx:
                await tx.chats.open_many(BUSINESS, users[start : start + 10_000])
    finally:
        await store.aclose()


async def _batches_seen(queue: aio_pika.abc.AbstractQueue) -> int:
    declared = await queue.channel.declare_queue(queue.name, passive=True)
    return declared.declaration_result.message_count or 0


async def _kill_mid_fan_out(config_dir: Path, queue: aio_pika.abc.AbstractQueue) -> int:
    """Change the business's hosting, SIGKILL the gateway once a batch is out; the batches out by then."""
    with serving(config_dir) as (process, port, _):
        wait_status(port, "/readyz", 200, 30)
        edit(
            config_dir / "businesses" / f"{BUSINESS}.toml",
            lambda t: t.replace('operator = "Meta"', 'operator = "Nimbus Cloud"'),
        )
        process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while await _batches_seen(queue) == 0 and time.monotonic() < deadline:  # noqa: ASYNC110 -- polls the broker
            await asyncio.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    return await _batches_seen(queue)


async def _network_view(
    queue: aio_pika.abc.AbstractQueue, verifier: EventVerifier
) -> tuple[Counter[str], Counter[str], int]:
    """Every batch in the queue through the SDK: notices per user, verdicts by outcome, batches."""
    shown: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    batches = 0
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        headers = dict(message.headers)
        if headers.get("cloudEvents_type") != NOTICE_BATCH:
            continue
        batches += 1
        for verdict in verifier.check_batch(headers, message.body):
            if isinstance(verdict, Accepted) and isinstance(verdict.document, NoticeDocument):
                shown[verdict.document.user_id] += 1
                outcomes["delivered"] += 1
            else:
                outcomes[getattr(verdict, "reason", "other")] += 1
    return shown, outcomes, batches


async def test_kill_9_mid_batch_fan_out_loses_no_chat(config_dir: Path) -> None:
    """60,000 chats, windows of 500, SIGKILL after the first batch: every chat notified once after a restart."""
    edit(
        config_dir / "gateway.toml",
        lambda t: t.replace('notice_form = "per_chat"', 'notice_form = "batch"').replace(
            "notice_window = 500", f"notice_window = {WINDOW}"
        ),
    )
    connection = await aio_pika.connect(BROKER_URL)
    try:
        queue = await (await connection.channel()).declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(NOTICES.exchange, routing_key=f"{BUSINESS}.#")
        with serving(config_dir) as (process, port, _):  # first start: the store, revision 1
            wait_status(port, "/readyz", 200, 30)
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        await _open_chats(config_dir)
        before_restart = await _kill_mid_fan_out(config_dir, queue)
        with serving(config_dir) as (process, _, lines):
            await until(
                lambda: any(x.get("event") == "notices.fanned_out" for x in lines), "the fan-out", 120
            )
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        keys = KeyRing.open(config_dir.parent / "var" / "keys").public_keys()
        shown, outcomes, batches = await _network_view(queue, EventVerifier(keys))
    finally:
        await connection.close()
    lost = CHATS - len(shown)
    print(
        f"\n  chats {CHATS}: batches {batches} ({before_restart} before the kill), notified {len(shown)},"
        f" lost {lost}, shown twice {sum(1 for n in shown.values() if n > 1)},"
        f" copies dropped {outcomes['duplicate']}, refused otherwise"
        f" {sum(v for k, v in outcomes.items() if k not in ('delivered', 'duplicate'))}"
    )
    assert before_restart < CHATS // WINDOW, "the kill came after the fan-out finished: nothing was tested"
    assert lost == 0
    assert set(shown.values()) == {1}
    assert set(outcomes) <= {"delivered", "duplicate"}
