"""A business's rate limit holds for the gateway as a whole, driven through three processes at once."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from pathlib import Path

import aiohttp

from gateway.http.business_limits import BATCH_FRACTION
from tests.bridge.conftest import API_KEYS
from tests.conftest import edit
from tests.support import serving

PER_SECOND = 20
BURST = 40
SECONDS = 3.0
PROCESSES = 3


async def test_three_processes_admit_no_more_than_one_bucket(config_dir: Path) -> None:
    """Clients hammer three gateways on one store: admitted <= burst + rate * time, and not far below it."""
    edit(
        config_dir / "businesses" / "warung-sari.toml",
        lambda t: re.sub(
            r"burst = \d+", f"burst = {BURST}", re.sub(r"per_second = \d+", f"per_second = {PER_SECOND}", t)
        ),
    )
    auth = {"Authorization": f"Bearer {API_KEYS['warung-sari']}"}
    body = {"recipient": "user-1", "payload": base64.b64encode(b"sealed").decode()}
    statuses: list[list[int]] = [[] for _ in range(PROCESSES)]
    with (
        serving(config_dir) as (_, p1, _),
        serving(config_dir) as (_, p2, _),
        serving(config_dir) as (_, p3, _),
    ):
        ports = [p1, p2, p3]
        async with aiohttp.ClientSession() as session:

            async def drive(i: int, until: float) -> None:
                while time.monotonic() < until:
                    url = f"http://127.0.0.1:{ports[i]}/v1/messages"
                    async with session.post(url, json=body, headers=auth) as response:
                        statuses[i].append(response.status)

            started = time.monotonic()
            await asyncio.gather(*(drive(i, started + SECONDS) for i in range(PROCESSES) for _ in range(4)))
            elapsed = time.monotonic() - started
    admitted = [s.count(202) for s in statuses]
    limited = [s.count(429) for s in statuses]
    bound = BURST + PER_SECOND * elapsed
    precision = (PROCESSES - 1) * max(1, int(BURST * BATCH_FRACTION)) + PER_SECOND  # stranded batches, 1 s
    print(
        f"{PROCESSES} processes, {elapsed:.1f} s: admitted {sum(admitted)} {admitted}, 429s {sum(limited)},"
        f" bucket allows {bound:.0f}, stated precision -{precision}"
    )
    assert set().union(*map(set, statuses)) <= {202, 429}
    assert sum(admitted) <= bound + 1, "never more than one bucket's worth, however many processes"
    assert sum(admitted) >= bound - precision, "and not much less"
    assert all(a > 0 for a in admitted), "every process admits its part"
