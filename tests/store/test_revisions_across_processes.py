"""Three processes reloading the same hosting change at once make exactly one revision (issue 16, point 2).

Each "process" is a store of its own (its own SQLite connections, or its own
PostgreSQL pool) on the same database, with a DisclosureService of its own; the
three sync the same changed config concurrently, twenty times over. (The chaos
suite does it once more with three real replicas and SIGHUP.)
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from gateway.adapter_registry import AdapterRegistry
from gateway.audit.setup import make_trail
from gateway.config import load_config
from gateway.disclosure.keys import KeyRing
from gateway.disclosure.service import DisclosureService, StoredDisclosure
from gateway.store import Store
from tests.conftest import EXAMPLE_CONFIG, edit
from tests.engines import make_store

ROUNDS = 20
REPLICAS = 3
BUSINESS = "warung-sari"


def _replace(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new)


async def test_concurrent_reloads_make_one_revision_each_time(
    engine: str, tmp_path: Path, schema: str | None
) -> None:
    """All sync every change at the same instant: one new revision per change, no gap, no error."""
    config_dir = tmp_path / "config"
    shutil.copytree(EXAMPLE_CONFIG, config_dir)
    stores = [make_store(engine, tmp_path, schema) for _ in range(REPLICAS)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        config = load_config(config_dir, {}, AdapterRegistry())
        keys = KeyRing.open(config.path(config.settings.signing_key_dir))
        services = [DisclosureService(s, keys, make_trail(config, keys)) for s in stores]
        first = await asyncio.gather(*(svc.sync(config.businesses) for svc in services))
        assert sorted(r.business_id for created in first for r in created) == sorted(config.businesses)
        region = "id-jakarta"
        for n in range(ROUNDS):
            new_region = f"id-region-{n}"
            edit(config_dir / "businesses" / f"{BUSINESS}.toml", _replace(region, new_region))
            region = new_region
            changed = load_config(config_dir, {}, AdapterRegistry()).businesses
            created = await asyncio.gather(*(svc.sync(changed) for svc in services))
            made = [r for per_process in created for r in per_process]
            assert [(r.business_id, r.revision) for r in made] == [(BUSINESS, n + 2)], made
        async with stores[0].read() as tx:
            history = await tx.disclosures.history(BUSINESS)
            log_size = await tx.log.size()
        assert [row.revision for row in history] == list(range(ROUNDS + 1, 0, -1)), "no gap, no duplicate"
        assert log_size == len(config.businesses) + ROUNDS, "each revision is one leaf of the log"
        print(
            f"{engine}: {ROUNDS} concurrent reloads by {REPLICAS} processes, revisions 1..{ROUNDS + 1}, log {log_size}"
        )
    finally:
        await asyncio.gather(*(s.aclose() for s in stores))


async def test_a_delivery_decision_sees_a_revision_another_process_made(
    engine: str, tmp_path: Path, schema: str | None
) -> None:
    """Process B never reloaded: its cache is behind, but what decides a delivery reads the store."""
    config_dir = tmp_path / "config"
    shutil.copytree(EXAMPLE_CONFIG, config_dir)
    stores = [make_store(engine, tmp_path, schema) for _ in range(2)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        config = load_config(config_dir, {}, AdapterRegistry())
        keys = KeyRing.open(config.path(config.settings.signing_key_dir))
        first, second = (DisclosureService(s, keys, make_trail(config, keys)) for s in stores)
        await first.sync(config.businesses)
        before = await _as_a_delivery_decides(stores[1], second)
        assert before is not None
        assert before.revision == 1
        edit(config_dir / "businesses" / f"{BUSINESS}.toml", _replace("id-jakarta", "sg-singapore"))
        await first.sync(load_config(config_dir, {}, AdapterRegistry()).businesses)
        cached = await second.latest(BUSINESS)
        assert cached is not None
        assert cached.revision == 1, "the bare cache is stale: exactly what must not decide"
        now = await _as_a_delivery_decides(stores[1], second)
        assert now is not None
        assert (now.revision, now.document.region) == (2, "sg-singapore")
        async with stores[1].read() as tx:
            assert await tx.disclosures.latest_revision(BUSINESS) == 2
            assert await tx.disclosures.latest_revision("nobody") is None
    finally:
        await asyncio.gather(*(s.aclose() for s in stores))


async def _as_a_delivery_decides(store: Store, service: DisclosureService) -> StoredDisclosure | None:
    """What the inbound handler does: the newest revision read from the store, then its document."""
    async with store.read() as tx:
        revision = await tx.disclosures.latest_revision(BUSINESS)
    return await service.at_revision(BUSINESS, revision)
