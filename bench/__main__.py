"""``python -m bench [--soak-minutes M]``: run every scenario, one JSON line and one readable row each."""

from __future__ import annotations

import argparse

import uvloop

from bench import delivery, fanout, ingest, soak


def main() -> None:
    """Run the scenarios in turn with their default sizes; the soak last (10 minutes unless told)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--soak-minutes", type=float, default=10.0, help="0 skips the soak")
    args = parser.parse_args()
    uvloop.run(fanout.run(count=100_000, window=500)).report()
    uvloop.run(delivery.run()).report()
    for result in ingest.run():
        result.report()
    if args.soak_minutes > 0:
        soak.run(minutes=args.soak_minutes).report()


if __name__ == "__main__":
    main()
