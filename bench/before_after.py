"""This checkout against an earlier commit: ``python -m bench.before_after --ref REF [--scenario S]``.

``delivery`` (default): three consumers drain the same number of sealed messages
to the same receiver, in alternating rounds, one process at a time pinned to one
core: hostgate from this checkout, hostgate from a git worktree of REF (each with
its own copy of its own example config, SQLite), and the raw aio-pika loop.
Reported: each side's median rate (to its last POST, and to its last receipt
published: "settled"), its CPU microseconds per delivery (to settled), and the
before/after quotients, which is what a "no slower than before" target is judged
on. The settled rate and the CPU are the fair ones: a drain that ends with its
receipts still to publish has not finished its work, and code that lets receipts
lag behind its POSTs looks faster by the first rate alone.
``--engine postgresql`` gives each side a PostgreSQL schema of its own instead.
``--now REF2`` puts a worktree of REF2 in this checkout's place: two commits of the
past compared (what one change cost, without what later ones added).

``ingest``: three servers up at once, each pinned to core 0 and idle while another
is measured: hostgate from this checkout, hostgate from REF (each on its own copy
of its own example config, audit on, SQLite) and the raw handler; closed-loop
runs from the same load generator in alternating rounds; reported: medians of
requests per second and of the server's CPU microseconds per request, and the
before/after quotients of the ratios to the raw handler.

``fanout``: ``python -m bench.fanout`` from each checkout in turn (its own code,
its own raw publish loop measured in the same run), alternating; reported: each
run's ratio to its raw loop, the medians, and their quotient.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import uvloop

from bench.common import bench_vhost, broker_on_core, driver_on_core, purge, round_order
from bench.delivery import Tally, _hostgate, _raw, _receiver, delivery_config
from bench.engines import store_url
from bench.ingest import REPO, bench_config, hostgate_server, raw_server, throughput_rounds
from bench.tracing_cost import worktree
from gateway.broker import topology
from gateway.config.envfile import read_env_file


async def run(
    ref: str, count: int = 5000, rounds: int = 5, now_ref: str | None = None, engine: str = "sqlite"
) -> dict[str, object]:
    """Alternating rounds of now (this checkout, or ``now_ref``), before and raw; medians and ratios."""
    tally = Tally()
    runner, port = await _receiver(tally)
    rates: dict[str, list[float]] = {"now": [], "before": [], "raw": []}
    settled: dict[str, list[float]] = {name: [] for name in rates}
    cpu: dict[str, list[float]] = {name: [] for name in rates}
    try:
        with (
            broker_on_core(1),
            driver_on_core(1),
            bench_vhost() as url,
            tempfile.TemporaryDirectory() as tmp,
            worktree(ref) as old,
            contextlib.ExitStack() as stack,
            store_url(engine) as now_store,
            store_url(engine) as old_store,
        ):
            here = stack.enter_context(worktree(now_ref)) if now_ref else REPO
            now_config = delivery_config(Path(tmp) / "now", port, now_store, source=here / "config")
            old_config = delivery_config(Path(tmp) / "before", port, old_store, source=old / "config")
            secret = read_env_file(now_config / "demo.env")["WARUNG_SARI_WEBHOOK_SECRET"]
            target = f"http://127.0.0.1:{port}/hook"
            drain = {
                "now": lambda: _hostgate(url, now_config, count, tally, checkout=here),
                "before": lambda: _hostgate(url, old_config, count, tally, checkout=old),
                "raw": lambda: _raw(url, count, target, secret, tally),
            }
            for number in range(rounds):
                for who in round_order(list(drain), number):
                    done = await drain[who]()
                    rates[who].append(count / done.seconds)
                    settled[who].append(count / done.settled_seconds)
                    cpu[who].append(done.cpu / count * 1e6)
                    await purge(url, topology.OUTBOUND.queue)
    finally:
        await runner.cleanup()
    rate = {k: statistics.median(v) for k, v in rates.items()}
    whole = {k: statistics.median(v) for k, v in settled.items()}
    cpu_us = {k: statistics.median(v) for k, v in cpu.items()}
    ratio_now, ratio_before = rate["now"] / rate["raw"], rate["before"] / rate["raw"]
    cpu_now, cpu_before = cpu_us["raw"] / cpu_us["now"], cpu_us["raw"] / cpu_us["before"]
    return {
        "scenario": "delivery_before_after",
        "ref": ref,
        "now": now_ref or "this checkout",
        "messages": count,
        "rounds": rounds,
        "engine": engine,
        "del_per_s": {k: round(v, 1) for k, v in rate.items()},
        "rounds_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "settled_per_s": {k: round(v, 1) for k, v in whole.items()},
        "settled_rounds_per_s": {k: [round(x, 1) for x in v] for k, v in settled.items()},
        "cpu_us_per_msg": {k: round(v, 1) for k, v in cpu_us.items()},
        "ratio_to_raw": {"now": round(ratio_now, 3), "before": round(ratio_before, 3)},
        "now_over_before_by_rate": round(ratio_now / ratio_before, 3),
        # Deliveries with their receipts published, per second: what a steady flow can sustain.
        "now_over_before_by_settled_rate": round(whole["now"] / whole["before"], 3),
        "now_over_before_by_cpu": round(cpu_now / cpu_before, 3),
    }


def run_ingest(ref: str, requests: int = 10_000, connections: int = 64, rounds: int = 5) -> dict[str, object]:
    """Alternating closed-loop rounds of now, before and raw (all three up at once); medians and ratios."""
    with (
        broker_on_core(1),
        bench_vhost() as amqp,
        tempfile.TemporaryDirectory() as tmp,
        worktree(ref) as old,
        contextlib.ExitStack() as stack,
    ):
        # This checkout first: it declares the topology the others publish into.
        now_config = bench_config(Path(tmp) / "now", audit=True, source=REPO / "config")
        old_config = bench_config(Path(tmp) / "before", audit=True, source=old / "config")
        servers = {
            "now": hostgate_server(stack, now_config, amqp),
            "before": hostgate_server(stack, old_config, amqp, checkout=old),
            "raw": raw_server(stack, amqp),
        }
        runs, cpu = throughput_rounds(servers, requests, connections, rounds, amqp)
    rates = {k: [float(r["rps"]) for r in v] for k, v in runs.items()}
    rate = {k: statistics.median(v) for k, v in rates.items()}
    cpu_us = {k: statistics.median(v) for k, v in cpu.items()}
    errors = {k: sum(int(r["errors"]) for r in v) for k, v in runs.items()}
    ratio_now, ratio_before = rate["now"] / rate["raw"], rate["before"] / rate["raw"]
    return {
        "scenario": "ingest_before_after",
        "ref": ref,
        "requests": requests,
        "connections": connections,
        "rounds": rounds,
        "req_per_s": {k: round(v, 1) for k, v in rate.items()},
        "rounds_rps": {k: [round(x, 1) for x in v] for k, v in rates.items()},
        "cpu_us_per_msg": {k: round(v, 1) for k, v in cpu_us.items()},
        "errors": errors,
        "ratio_to_raw": {"now": round(ratio_now, 3), "before": round(ratio_before, 3)},
        "now_over_before_by_rate": round(ratio_now / ratio_before, 3),
        "now_over_before_by_cpu": round(cpu_us["before"] / cpu_us["now"], 3),
    }


def _fanout_ratio(checkout: Path, chats: int) -> float:
    """One ``bench.fanout`` run from ``checkout`` (SQLite): hostgate's notices/s over its raw loop's."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.fanout", "--chats", str(chats)],
        cwd=checkout,
        env={**os.environ, "PYTHONPATH": str(checkout)},
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith("{"))
    return float(json.loads(line)["ratio"])


def run_fanout(ref: str, chats: int = 30_000, runs: int = 3) -> dict[str, object]:
    """Alternating fan-out runs of this checkout and of REF; medians of the ratios to the raw loop."""
    here = Path(__file__).resolve().parent.parent
    ratios: dict[str, list[float]] = {"now": [], "before": []}
    with worktree(ref) as old:
        sides = {"now": here, "before": old}
        for number in range(runs):
            for who in round_order(list(sides), number):
                ratios[who].append(_fanout_ratio(sides[who], chats))
    now, before = statistics.median(ratios["now"]), statistics.median(ratios["before"])
    return {
        "scenario": "fanout_before_after",
        "ref": ref,
        "chats": chats,
        "runs": runs,
        "ratio_to_raw": {k: [round(x, 3) for x in v] for k, v in ratios.items()},
        "median_ratio": {"now": round(now, 3), "before": round(before, 3)},
        "now_over_before": round(now / before, 3),
    }


def main() -> None:
    """``python -m bench.before_after --ref REF [--scenario delivery|fanout]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--ref", required=True, help="the commit to compare with (e.g. the parent of a change)"
    )
    parser.add_argument("--now", default=None, help="delivery: a commit in this checkout's place")
    parser.add_argument(
        "--engine", choices=("sqlite", "postgresql"), default="sqlite", help="delivery: the store engine"
    )
    parser.add_argument("--scenario", choices=("delivery", "ingest", "fanout"), default="delivery")
    parser.add_argument("--rounds", type=int, default=5, help="delivery rounds, or fan-out runs per side")
    parser.add_argument("--messages", type=int, default=5000, help="delivery: messages per round")
    parser.add_argument("--requests", type=int, default=10_000, help="ingest: requests per round")
    parser.add_argument("--chats", type=int, default=30_000, help="fanout: chats per run")
    args = parser.parse_args()
    if args.scenario == "fanout":
        print(json.dumps(run_fanout(args.ref, args.chats, args.rounds)))
        return
    if args.scenario == "ingest":
        print(json.dumps(run_ingest(args.ref, args.requests, rounds=args.rounds)))
        return
    print(json.dumps(uvloop.run(run(args.ref, args.messages, args.rounds, args.now, args.engine))))


if __name__ == "__main__":
    main()
