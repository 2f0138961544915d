"""A load generator in its own process: N requests over C keep-alive connections; prints one JSON line.

Closed loop by default (each connection sends its next request when the last is
answered: measures throughput). With ``--rate`` it is open loop: request i is due
at start + i/rate whatever happened before, and its latency counts from when it
was due, so a server that falls behind shows it (no coordinated omission).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time

import aiohttp
import uvloop


class _Tally:
    """Latencies and non-202 answers of one run."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0

    async def post(self, session: aiohttp.ClientSession, url: str, body: bytes, since: float) -> None:
        """One POST; its latency counts from ``since``."""
        async with session.post(url, data=body) as response:
            await response.read()
            if response.status != 202:
                self.errors += 1
        self.latencies.append(time.perf_counter() - since)

    def figures(self, requests: int, elapsed: float) -> dict[str, float]:
        """Rate and latency percentiles in milliseconds."""
        latencies = sorted(self.latencies)
        return {
            "requests": requests,
            "seconds": round(elapsed, 3),
            "rps": round(requests / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
            "max_ms": round(latencies[-1] * 1000, 2),
            "errors": self.errors,
        }


async def run(
    url: str, requests: int, connections: int, headers: dict[str, str], body: bytes
) -> dict[str, float]:
    """Send ``requests`` POSTs from ``connections`` workers; latency percentiles in milliseconds."""
    tally = _Tally()
    next_index = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal next_index
            while next_index < requests:
                next_index += 1
                await tally.post(session, url, body, time.perf_counter())

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return tally.figures(requests, elapsed)


async def run_at_rate(
    url: str, requests: int, connections: int, headers: dict[str, str], body: bytes, rate: float
) -> dict[str, float]:
    """Offer ``rate`` requests per second; latency from each request's due time."""
    tally = _Tally()
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        tasks = []
        for i in range(requests):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(tally.post(session, url, body, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return {**tally.figures(requests, elapsed), "offered_rps": rate}


def main() -> None:
    """``python -m bench.loadgen URL --requests N --connections C [--header K:V]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--rate", type=float, default=None, help="offered requests/s (open loop)")
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers["Content-Type"] = "application/json"
    body = json.dumps({"recipient": "bench-user", "payload": "c2VhbGVk" * 25}).encode()
    # The generator's own collector pauses (20-35 ms full collections over the run's tasks and
    # responses, seen with gc.callbacks) would count as the server's latency: none during a run.
    # A run is short, and what it leaves is collected when the process ends.
    gc.collect()
    gc.freeze()
    gc.disable()
    if args.rate:
        figures = uvloop.run(run_at_rate(args.url, args.requests, args.connections, headers, body, args.rate))
    else:
        figures = uvloop.run(run(args.url, args.requests, args.connections, headers, body))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
