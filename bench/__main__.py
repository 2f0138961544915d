"""``python -m bench [--soak-minutes M]``: run every scenario, one JSON line and one readable row each."""

from __future__ import annotations

import argparse

import uvloop

from bench import delivery, fanout, ingest, soak, workers
from bench.engines import ENGINES


def main() -> None:
    """Run the scenarios in turn with their default sizes; the soak last (10 minutes unless told)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--soak-minutes", type=float, default=10.0, help="0 skips the soak")
    parser.add_argument(
        "--engines",
        default=",".join(ENGINES),
        help="store engines, comma-separated (default: both)",
    )
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"--engines: unknown {', '.join(sorted(unknown))}; choose from {', '.join(ENGINES)}")
    for engine in engines:
        uvloop.run(fanout.run(count=100_000, window=500, engine=engine)).report()
        # The batch form: a million chats, against what one message per chat allows.
        uvloop.run(fanout.run_batch(engine=engine)).report()
        uvloop.run(delivery.run(engine=engine)).report()
        for result in ingest.run(engine=engine):
            result.report()
    if "postgresql" in engines:
        # 1 and 2 worker processes on PostgreSQL, each beside as many raw processes.
        for result in workers.run():
            result.report()
    # Not bench.tracing_cost: its baseline is the commit before tracing existed, which lacks every
    # later change too, so its ratio stopped measuring tracing once anything else got faster.
    if args.soak_minutes > 0:
        soak.run(minutes=args.soak_minutes).report()


if __name__ == "__main__":
    main()
