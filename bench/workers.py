"""Ingest and delivery with 1 and 2 workers on PostgreSQL, each beside a raw baseline of as many processes.

``python -m bench.workers``: hostgate as ``serve --workers N`` (on a private
PostgreSQL schema), for N = 1 and 2, against raw baselines of N processes:

* ingest: ``bench.raw_ingest`` started N times on one port with ``SO_REUSEPORT``
  (the kernel spreads connections alike);
* delivery: N ``bench.raw_delivery`` consumers competing for one queue, as
  hostgate's N workers compete for ``hostgate.inbound``; both drain the same
  number of sealed messages already queued, to the same receiver.

Nothing is pinned: with two workers the servers need both cores, and the load
generator (or receiver), RabbitMQ and PostgreSQL share them, on both sides alike.
Rounds alternate; medians count. Each line reports the rate and CPU microseconds
per message of the server's processes (parent and workers; for hostgate not
PostgreSQL's or RabbitMQ's, reported beside as the capacity model's other inputs).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

from bench.common import Result, bench_vhost, process_cpu_seconds, purge, round_order
from bench.delivery import RAW_QUEUE, Tally, _fill, _receipts_published, _receiver, delivery_config
from bench.engines import store_url
from bench.ingest import (
    REPO,
    WARUNG_KEY,
    _raw_server,
    bench_config,
    free_port,
    gateway_server,
    offer_load,
)
from gateway.broker import topology
from gateway.config.envfile import read_env_file

SERVICES = ("postgres", "beam.smp")  # PostgreSQL's backends and RabbitMQ: what each message costs them


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


def _result(
    scenario: str,
    unit: str,
    target: float,
    rates: dict[str, list[float]],
    cpu: dict[str, list[float]],
    shared: dict[str, list[float]],
    workers: int,
    sizes: Mapping[str, object],
) -> Result:
    """One scenario line: medians of both sides, CPU per message of each and of the shared services."""
    return Result(
        scenario,
        unit,
        statistics.median(rates["hostgate"]),
        statistics.median(rates["raw"]),
        target,
        {
            **sizes,
            "rounds_per_s": [round(r, 1) for r in rates["hostgate"]],
            "baseline_rounds_per_s": [round(r, 1) for r in rates["raw"]],
            "cpu_us_per_msg": round(statistics.median(cpu["hostgate"]), 1),
            "baseline_cpu_us_per_msg": round(statistics.median(cpu["raw"]), 1),
            "baseline_processes": workers,
            "postgres_cpu_us_per_msg": round(statistics.median(shared["postgres"]), 1),
            "rabbitmq_cpu_us_per_msg": round(statistics.median(shared["beam.smp"]), 1),
        },
        engine="postgresql",
        workers=workers,
    )


def run(requests: int = 8000, connections: int = 64, rounds: int = 3, messages: int = 5000) -> list[Result]:
    """Ingest, then delivery, with 1 and 2 workers against as many raw processes."""
    return run_ingest(requests, connections, rounds) + asyncio.run(run_delivery(messages, rounds))


def run_ingest(requests: int = 8000, connections: int = 64, rounds: int = 3) -> list[Result]:
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
                    shared: dict[str, list[float]] = {name: [] for name in SERVICES}
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
                # 0.8: the ingest target of the performance issue (there: one worker, one core).
                sizes = {"requests": requests, "connections": connections, "rounds": rounds}
                results.append(_result("ingest_workers", "req/s", 0.8, rps, cpu, shared, workers, sizes))
    return results


async def _drain(
    commands: list[list[str]],
    env: dict[str, str],
    tally: Tally,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> tuple[float, float, dict[str, float]]:
    """Start ``commands`` and time them until the receiver has every message (and ``settle`` returns).

    Returns the seconds from the first delivery to the last, the CPU seconds of the processes and
    their children from the first delivery on, and what PostgreSQL and RabbitMQ spent meanwhile.
    """
    processes = [
        await asyncio.create_subprocess_exec(
            *command, cwd=REPO, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        for command in commands
    ]
    try:
        await asyncio.wait_for(tally.started.wait(), 600)
        pids = [pid for process in processes for pid in _tree(process.pid)]
        services = {name: _named(name) for name in SERVICES}
        before, services_before = _cpu(pids), {name: _cpu(p) for name, p in services.items()}
        await asyncio.wait_for(tally.done.wait(), 600)
        if settle is not None:
            await asyncio.wait_for(settle(), 600)
        spent = {name: _cpu(p) - services_before[name] for name, p in services.items()}
        return tally.seconds, _cpu(pids) - before, spent
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), 60)


async def run_delivery(messages: int = 5000, rounds: int = 3) -> list[Result]:
    """Drain ``messages`` with 1 and 2 workers and as many raw consumers; medians of alternating rounds."""
    tally = Tally()
    runner, port = await _receiver(tally)
    results: list[Result] = []
    try:
        with bench_vhost() as amqp, tempfile.TemporaryDirectory() as tmp:
            for workers in (1, 2):
                with store_url("postgresql") as store:
                    config = delivery_config(Path(tmp) / f"d{workers}", port, store)
                    secret = read_env_file(config / "demo.env")["WARUNG_SARI_WEBHOOK_SECRET"]
                    hostgate = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
                    hostgate += ["--demo", "--port", str(free_port()), "--workers", str(workers)]
                    raw = [sys.executable, "-m", "bench.raw_delivery", "--amqp", amqp, "--queue", RAW_QUEUE]
                    raw += ["--target", f"http://127.0.0.1:{port}/hook", "--secret", secret]
                    env = {**os.environ, "HOSTGATE_AMQP_URL": amqp}
                    rates: dict[str, list[float]] = {"hostgate": [], "raw": []}
                    cpu: dict[str, list[float]] = {"hostgate": [], "raw": []}
                    shared: dict[str, list[float]] = {name: [] for name in SERVICES}
                    for number in range(rounds):
                        for name in round_order(list(rates), number):
                            await _fill(amqp, None if name == "hostgate" else RAW_QUEUE, messages)
                            tally.reset(messages)
                            if name == "hostgate":
                                seconds, used, spent = await _drain(
                                    [hostgate], env, tally, lambda: _receipts_published(amqp, messages)
                                )
                                for service, value in spent.items():
                                    shared[service].append(value / messages * 1e6)
                            else:
                                seconds, used, _ = await _drain([raw] * workers, env, tally)
                            rates[name].append(messages / seconds)
                            cpu[name].append(used / messages * 1e6)
                            await purge(amqp, topology.OUTBOUND.queue)
                    # 0.7: the delivery target of the performance issue (there: one worker, one core).
                    sizes = {"messages": messages, "rounds": rounds}
                    results.append(
                        _result("delivery_workers", "del/s", 0.7, rates, cpu, shared, workers, sizes)
                    )
    finally:
        await runner.cleanup()
    return results


def main() -> None:
    """``python -m bench.workers [--only ingest|delivery]``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=("ingest", "delivery"))
    args = parser.parse_args()
    results: list[Result] = []
    if args.only != "delivery":
        results += run_ingest(args.requests, rounds=args.rounds)
    if args.only != "ingest":
        results += asyncio.run(run_delivery(args.messages, args.rounds))
    for result in results:
        result.report()


if __name__ == "__main__":
    main()
