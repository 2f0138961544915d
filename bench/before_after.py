"""Delivery now against the same path at an earlier commit: ``python -m bench.before_after --ref REF``.

Three consumers drain the same number of sealed messages to the same receiver,
in alternating rounds, one process at a time pinned to one core: hostgate from
this checkout, hostgate from a git worktree of REF (each with its own copy of
its own example config, SQLite), and the raw aio-pika loop. Reported: each
side's median rate and CPU microseconds per delivery, and the before/after
quotient of the ratios to the raw loop, which is what a "no slower than before"
target is judged on (CPU per message is the steadier of the two here).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import uvloop

from bench.common import bench_vhost, broker_on_core, driver_on_core, purge, round_order
from bench.delivery import Tally, _hostgate, _raw, _receiver, delivery_config
from bench.tracing_cost import worktree
from gateway.broker import topology
from gateway.config.envfile import read_env_file


async def run(ref: str, count: int = 5000, rounds: int = 5) -> dict[str, object]:
    """Alternating rounds of now, before and raw; medians and ratios."""
    tally = Tally()
    runner, port = await _receiver(tally)
    rates: dict[str, list[float]] = {"now": [], "before": [], "raw": []}
    cpu: dict[str, list[float]] = {name: [] for name in rates}
    try:
        with (
            broker_on_core(1),
            driver_on_core(1),
            bench_vhost() as url,
            tempfile.TemporaryDirectory() as tmp,
            worktree(ref) as old,
        ):
            now_config = delivery_config(Path(tmp) / "now", port, None)
            old_config = delivery_config(Path(tmp) / "before", port, None, source=old / "config")
            secret = read_env_file(now_config / "demo.env")["WARUNG_SARI_WEBHOOK_SECRET"]
            target = f"http://127.0.0.1:{port}/hook"
            drain = {
                "now": lambda: _hostgate(url, now_config, count, tally),
                "before": lambda: _hostgate(url, old_config, count, tally, checkout=old),
                "raw": lambda: _raw(url, count, target, secret, tally),
            }
            for number in range(rounds):
                for who in round_order(list(drain), number):
                    seconds, used = await drain[who]()
                    rates[who].append(count / seconds)
                    cpu[who].append(used / count * 1e6)
                    await purge(url, topology.OUTBOUND.queue)
    finally:
        await runner.cleanup()
    rate = {k: statistics.median(v) for k, v in rates.items()}
    cpu_us = {k: statistics.median(v) for k, v in cpu.items()}
    ratio_now, ratio_before = rate["now"] / rate["raw"], rate["before"] / rate["raw"]
    cpu_now, cpu_before = cpu_us["raw"] / cpu_us["now"], cpu_us["raw"] / cpu_us["before"]
    return {
        "scenario": "delivery_before_after",
        "ref": ref,
        "messages": count,
        "rounds": rounds,
        "del_per_s": {k: round(v, 1) for k, v in rate.items()},
        "rounds_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "cpu_us_per_msg": {k: round(v, 1) for k, v in cpu_us.items()},
        "ratio_to_raw": {"now": round(ratio_now, 3), "before": round(ratio_before, 3)},
        "now_over_before_by_rate": round(ratio_now / ratio_before, 3),
        "now_over_before_by_cpu": round(cpu_now / cpu_before, 3),
    }


def main() -> None:
    """``python -m bench.before_after --ref REF``."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--ref", required=True, help="the commit to compare with (e.g. the parent of a change)"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=5000)
    args = parser.parse_args()
    print(json.dumps(uvloop.run(run(args.ref, args.messages, args.rounds))))


if __name__ == "__main__":
    main()
