"""A sweep deletes in bounded batches, each with its own ``data.purged`` record, and misses nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.staging import AuditDrain
from gateway.audit.trail import AuditTrail
from gateway.disclosure.keys import KeyRing
from gateway.rights.retention import purge
from gateway.rights.sweeper import purge_and_audit
from tests.audit.trails import writer_for
from tests.engines import SUITE_ENGINE, make_store

OLD = "warung-sari"  # its messages are past its retention
KEPT = "kirana-trading"  # a long retention: nothing of it goes


async def test_sweep_in_batches_removes_everything_expired_and_audits_each_batch(tmp_path: Path) -> None:
    """Five expired messages, batches of two: three units, three records, the totals of one big purge."""
    store = make_store(SUITE_ENGINE, tmp_path)
    await store.open()
    ring = KeyRing.open(tmp_path / "keys")
    trail = AuditTrail(writer_for(tmp_path / "audit", ring), Pseudonymizer(b"k" * 32))
    windows = {OLD: timedelta(seconds=0), KEPT: timedelta(days=30)}
    try:
        for business in (OLD, KEPT):
            for n in range(5):
                async with store.unit() as tx:
                    await tx.messages.insert(
                        business,
                        f"m-{n}",
                        user_id=f"user-{n}",
                        direction="outbound",
                        status="accepted",
                        revision=1,
                    )
                    await tx.chats.open(business, f"user-{n}")
        async with store.read() as tx:
            would = await purge(tx, windows, dry_run=True)
        report = await purge_and_audit(store, trail, windows, batch=2)
        async with store.read() as tx:
            after = await purge(tx, windows, dry_run=True)
            kept = [await tx.messages.get(KEPT, f"m-{n}", direction="outbound") for n in range(5)]
        trail.writer.open()
        await AuditDrain(store, trail).flush()
        trail.writer.close()
        text = "".join(p.read_text() for p in sorted((tmp_path / "audit").glob("audit-*.jsonl")))
    finally:
        trail.writer.close()
        await store.aclose()
    records = [json.loads(line) for line in text.splitlines() if '"data.purged"' in line]
    print(
        "would remove", would.removed, "removed", report.removed, "records", [r["records"] for r in records]
    )
    assert report.removed == would.removed
    assert report.removed[OLD]["messages"] == 5
    assert KEPT not in report.removed
    assert all(k is not None for k in kept)
    assert after.removed == {}
    # Batches of 2, 2 and 1 message (each with its chat; an accepted message has no history
    # row of its own: its first entry is implied by its row): one record each.
    assert [r["records"] for r in records] == [4, 4, 2]
    assert {r["business"] for r in records} == {OLD}
