"""``python -m bench``: run every scenario, one JSON line and one readable row each."""

from __future__ import annotations

import uvloop

from bench import delivery, fanout, ingest


def main() -> None:
    """Run the scenarios in turn with their default sizes."""
    uvloop.run(fanout.run(count=100_000, window=500)).report()
    uvloop.run(delivery.run()).report()
    for result in ingest.run():
        result.report()


if __name__ == "__main__":
    main()
