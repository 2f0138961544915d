"""A load generator in its own process: N requests over C keep-alive connections; prints one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import aiohttp
import uvloop


async def run(
    url: str, requests: int, connections: int, headers: dict[str, str], body: bytes
) -> dict[str, float]:
    """Send ``requests`` POSTs from ``connections`` workers; latency percentiles in milliseconds."""
    latencies: list[float] = []
    errors = 0
    next_index = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal next_index, errors
            while next_index < requests:
                next_index += 1
                started = time.perf_counter()
                async with session.post(url, data=body) as response:
                    await response.read()
                    if response.status != 202:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": requests,
        "seconds": round(elapsed, 3),
        "rps": round(requests / elapsed, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "errors": errors,
    }


def main() -> None:
    """``python -m bench.loadgen URL --requests N --connections C [--header K:V]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = dict(h.split(":", 1) for h in args.header)
    headers["Content-Type"] = "application/json"
    body = json.dumps({"recipient": "bench-user", "payload": "c2VhbGVk" * 25}).encode()
    print(json.dumps(uvloop.run(run(args.url, args.requests, args.connections, headers, body))))


if __name__ == "__main__":
    main()
