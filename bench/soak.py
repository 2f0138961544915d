"""Soak: hostgate under a steady ingest load for minutes, to see whether its memory keeps growing.

The gateway (audit on) takes ``rate`` req/s from the load generator in 30-second
slices; its RSS is sampled after each slice. The baseline is the RSS after the
first minute (warm: caches, pools and allocator arenas filled); the target is no
more than 5 % growth from there to the end. The network's queue is emptied as
the soak goes, so the broker's memory is not what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result, bench_vhost, purge
from bench.ingest import WARUNG_KEY, bench_config, free_port, gateway_server, memory_mb, offer_load, pin

SLICE_SECONDS = 30
WARM_SECONDS = 60
GROWTH_LIMIT = 0.05  # the performance issue: soak growth <= 5 %


def run(minutes: float = 10.0, rate: float = 500.0, connections: int = 64) -> Result:
    """Soak for ``minutes`` at ``rate`` req/s; RSS growth after warm-up against a 5 % ceiling."""
    samples: list[tuple[float, float]] = []
    with bench_vhost() as amqp, tempfile.TemporaryDirectory() as tmp:
        config = bench_config(Path(tmp), audit=True)
        port = free_port()
        command = [
            *pin(0),
            sys.executable,
            "-m",
            "gateway.cli.main",
            "serve",
            "--config",
            str(config),
            "--demo",
        ]
        command += ["--port", str(port)]
        env = {**os.environ, "HOSTGATE_AMQP_URL": amqp}
        url = f"http://127.0.0.1:{port}/v1/messages"
        with gateway_server(command, f"http://127.0.0.1:{port}/readyz", env) as pid:
            started = time.monotonic()
            errors = 0
            while time.monotonic() - started < minutes * 60:
                figures = offer_load(
                    url,
                    int(rate * SLICE_SECONDS),
                    connections,
                    [f"Authorization:Bearer {WARUNG_KEY}"],
                    rate=rate,
                )
                errors += int(figures["errors"])
                samples.append((time.monotonic() - started, memory_mb(pid, "VmRSS")))
                print(f"  {samples[-1][0]:6.0f} s  RSS {samples[-1][1]:6.1f} MB  p99 {figures['p99_ms']} ms")
                asyncio.run(purge(amqp, "network.outbound"))
    warm = next((rss for at, rss in samples if at >= WARM_SECONDS), samples[0][1])
    end = samples[-1][1]
    return Result(
        "soak",
        "MB RSS",
        end,
        warm,
        0.0,
        {
            "minutes": minutes,
            "offered_rps": rate,
            "growth_pct": round((end - warm) / warm * 100, 1),
            "samples_mb": [rss for _, rss in samples],
            "errors": errors,
            "baseline_is": f"RSS after {WARM_SECONDS} s of the same load",
        },
        ceiling=round(warm * (1 + GROWTH_LIMIT), 1),
    )


def main() -> None:
    """``python -m bench.soak [--minutes M] [--rate R]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    run(args.minutes, args.rate).report()


if __name__ == "__main__":
    main()
