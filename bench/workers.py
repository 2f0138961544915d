"""Ingest with 1 and 2 worker processes on PostgreSQL, each beside a raw baseline of as many processes.

``python -m bench.workers``: hostgate as ``serve --workers N`` (on a private
PostgreSQL schema) and ``bench.raw_ingest`` started N times on one port with
``SO_REUSEPORT`` (the kernel spreads connections alike), for N = 1 and 2. Nothing
is pinned: with two workers the servers need both cores, and the load generator,
RabbitMQ and PostgreSQL share them, on both sides alike. Rounds alternate; medians
count. Each line reports requests per second and CPU microseconds per request of
the server's processes (parent and workers; for hostgate not PostgreSQL's, which
``docs/scaling.md`` counts separately).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench.common import Result, bench_vhost, process_cpu_seconds, purge, round_order
from bench.engines import store_url
from bench.ingest import WARUNG_KEY, _raw_server, bench_config, free_port, gateway_server, offer_load
from gateway.broker import topology


def _tree(pid: int) -> list[int]:
    """``pid`` and its child processes (the workers of a supervisor)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children += [int(c) for c in text]
    return [pid, *children]


def _named(name: str) -> list[int]:
    """Pids of every process called ``name`` (PostgreSQL's backends, RabbitMQ's beam.smp)."""
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split()]


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu_seconds(pid)
        except FileNotFoundError:
            continue
    return total


def run(requests: int = 8000, connections: int = 64, rounds: int = 3) -> list[Result]:
    """1 and 2 workers against 1 and 2 raw processes; medians of ``rounds`` alternating runs."""
    results: list[Result] = []
    with bench_vhost() as amqp, tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            with store_url("postgresql") as store:
                config = bench_config(Path(tmp) / f"w{workers}", audit=True, store=store)
                port, raw_port = free_port(), free_port()
                hostgate = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
                hostgate += ["--demo", "--port", str(port), "--workers", str(workers)]
                raw = [sys.executable, "-m", "bench.raw_ingest", "--amqp", amqp, "--port", str(raw_port)]
                env = {**os.environ, "HOSTGATE_AMQP_URL": amqp}  # inherited by the gateway's workers
                with ExitStack() as stack:
                    gate_pid = stack.enter_context(
                        gateway_server(hostgate, f"http://127.0.0.1:{port}/readyz", env)
                    )
                    raw_pids = [
                        stack.enter_context(_raw_server([*raw, "--reuse-port"], raw_port))
                        for _ in range(workers)
                    ]
                    time.sleep(2)  # the workers bind after the parent answers
                    auth = [f"Authorization:Bearer {WARUNG_KEY}"]
                    sides = {
                        "hostgate": (f"http://127.0.0.1:{port}/v1/messages", auth, _tree(gate_pid)),
                        "raw": (f"http://127.0.0.1:{raw_port}/v1/messages", [], raw_pids),
                    }
                    for url, headers, _ in sides.values():
                        offer_load(url, 500, connections, headers, pinned=False)  # warm-up
                    rps: dict[str, list[float]] = {name: [] for name in sides}
                    cpu: dict[str, list[float]] = {name: [] for name in sides}
                    # What one request costs the shared services: the capacity model's other inputs.
                    shared: dict[str, list[float]] = {"postgres": [], "beam.smp": []}
                    for number in range(rounds):
                        for name in round_order(list(sides), number):
                            asyncio.run(purge(amqp, topology.OUTBOUND.queue))
                            url, headers, pids = sides[name]
                            services = {s: _named(s) for s in shared}
                            before = _cpu(pids)
                            services_before = {s: _cpu(p) for s, p in services.items()}
                            figures = offer_load(url, requests, connections, headers, pinned=False)
                            used = _cpu(pids) - before
                            rps[name].append(float(figures["rps"]))
                            cpu[name].append(used / requests * 1e6)
                            if name == "hostgate":
                                for service, service_pids in services.items():
                                    spent = _cpu(service_pids) - services_before[service]
                                    shared[service].append(spent / requests * 1e6)
                results.append(
                    Result(
                        "ingest_workers",
                        "req/s",
                        statistics.median(rps["hostgate"]),
                        statistics.median(rps["raw"]),
                        0.8,  # the ingest target of the performance issue (there: one worker, one core)
                        {
                            "requests": requests,
                            "connections": connections,
                            "rounds": rounds,
                            "rounds_per_s": [round(r, 1) for r in rps["hostgate"]],
                            "baseline_rounds_per_s": [round(r, 1) for r in rps["raw"]],
                            "cpu_us_per_msg": round(statistics.median(cpu["hostgate"]), 1),
                            "baseline_cpu_us_per_msg": round(statistics.median(cpu["raw"]), 1),
                            "baseline_processes": workers,
                            "postgres_cpu_us_per_msg": round(statistics.median(shared["postgres"]), 1),
                            "rabbitmq_cpu_us_per_msg": round(statistics.median(shared["beam.smp"]), 1),
                        },
                        engine="postgresql",
                        workers=workers,
                    )
                )
    return results


def main() -> None:
    """``python -m bench.workers``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for result in run(args.requests, rounds=args.rounds):
        result.report()


if __name__ == "__main__":
    main()
