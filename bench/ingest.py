"""Ingest: ``POST /v1/messages`` through hostgate (auth, idempotency, rate limit, audit, outbox, publish).

Three servers, each run in turn in its own process on the same private vhost,
loaded by the same generator in another process (pinned to another core when
``taskset`` exists), with the same connections and requests:

- raw: a bare aiohttp handler validating with pydantic and awaiting a confirm per request;
- hostgate with its audit trail on (the product);
- hostgate with the audit trail off (to measure what the trail costs).

Each server gets a warm-up, a closed-loop run (throughput), then an open-loop
run at a fixed offered rate (latency); its peak RSS (VmHWM) is read at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import Result, bench_vhost

REPO = Path(__file__).resolve().parent.parent
WARUNG_KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"


def pin(core: int) -> list[str]:
    """A taskset prefix pinning a command to ``core`` (nothing on one core or without taskset)."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 -- loopback URL built here
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    sys.exit(f"server at {url} never became ready")


@contextmanager
def gateway_server(command: list[str], ready_url: str, env: dict[str, str]) -> Iterator[int]:
    """Run a server until the block ends, once ``ready_url`` answers 200; yields its pid."""
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_ready(ready_url)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def bench_config(base: Path, *, audit: bool) -> Path:
    """A copy of the example config: private state, a rate limit out of the way, audit on or off."""
    target = base / ("audit-on" if audit else "audit-off") / "config"
    shutil.copytree(REPO / "config", target)
    business = target / "businesses" / "warung-sari.toml"
    business.write_text(
        business.read_text()
        .replace("per_second = 50", "per_second = 100000")
        .replace("burst = 100", "burst = 1000000")
    )
    gateway = target / "gateway.toml"
    text = re.sub(
        r"\[audit\]\n", "[audit]\nenabled = " + ("true" if audit else "false") + "\n", gateway.read_text()
    )
    gateway.write_text(text)
    return target


def offer_load(
    url: str, requests: int, connections: int, headers: list[str], rate: float | None = None
) -> dict[str, Any]:
    """Run the load generator on the other core; its figures."""
    command = [*pin(1), sys.executable, "-m", "bench.loadgen", url, "--requests", str(requests)]
    command += ["--connections", str(connections), *[f"--header={h}" for h in headers]]
    if rate:
        command += ["--rate", str(rate)]
    output = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True, timeout=600).stdout
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return figures


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """A memory figure of a process from /proc (VmHWM: peak resident set; VmRSS: now), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith(f"{field}:")))
    return round(kib / 1024, 1)


@dataclass(frozen=True)
class Plan:
    """What each server is put through."""

    requests: int
    connections: int
    rate: float


@dataclass(frozen=True)
class Figures:
    """A server's throughput run, latency run and peak memory."""

    throughput: dict[str, Any]
    latency: dict[str, Any]
    # The same open-loop run at half of this server's own measured throughput: latency when not saturated.
    latency_half: dict[str, Any]
    peak_rss_mb: float


def _exercise(url: str, pid: int, plan: Plan, headers: list[str]) -> Figures:
    offer_load(url, min(plan.requests // 10, 500), plan.connections, headers)
    throughput = offer_load(url, plan.requests, plan.connections, headers)
    latency = offer_load(url, int(plan.rate * 10), plan.connections, headers, rate=plan.rate)
    half = round(float(throughput["rps"]) / 2)
    latency_half = offer_load(url, half * 5, plan.connections, headers, rate=half)
    return Figures(throughput, latency, latency_half, memory_mb(pid))


def _hostgate(config: Path, amqp: str, plan: Plan) -> Figures:
    port = free_port()
    env = {**os.environ, "HOSTGATE_AMQP_URL": amqp}
    command = [
        *pin(0),
        sys.executable,
        "-m",
        "gateway.cli.main",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
    ]
    with gateway_server(command, f"http://127.0.0.1:{port}/readyz", env) as pid:
        return _exercise(
            f"http://127.0.0.1:{port}/v1/messages", pid, plan, [f"Authorization:Bearer {WARUNG_KEY}"]
        )


def _raw(amqp: str, plan: Plan) -> Figures:
    port = free_port()
    command = [*pin(0), sys.executable, "-m", "bench.raw_ingest", "--amqp", amqp, "--port", str(port)]
    with _raw_server(command, port) as pid:
        return _exercise(f"http://127.0.0.1:{port}/v1/messages", pid, plan, [])


@contextmanager
def _raw_server(command: list[str], port: int) -> Iterator[int]:
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)


def run(requests: int = 10_000, connections: int = 64, rate: float = 1000.0) -> list[Result]:
    """Raw, audit on, audit off: throughput, latency at ``rate`` req/s, peak memory; ratios and targets."""
    plan = Plan(requests, connections, rate)
    with bench_vhost() as amqp, tempfile.TemporaryDirectory() as tmp:
        # hostgate declares the topology the raw server publishes into: run it first.
        on = _hostgate(bench_config(Path(tmp), audit=True), amqp, plan)
        off = _hostgate(bench_config(Path(tmp), audit=False), amqp, plan)
        raw = _raw(amqp, plan)
    extra = {
        "requests": requests,
        "connections": connections,
        "load_generator": "bench.loadgen (aiohttp, own process)",
    }
    return [
        Result(
            "ingest",
            "req/s",
            on.throughput["rps"],
            raw.throughput["rps"],
            1.0,
            {
                **extra,
                "p50_ms": on.throughput["p50_ms"],
                "p99_ms": on.throughput["p99_ms"],
                "raw_p99_ms": raw.throughput["p99_ms"],
                "errors": on.throughput["errors"],
            },
        ),
        Result(
            "audit",
            "req/s",
            on.throughput["rps"],
            off.throughput["rps"],
            0.9,
            {**extra, "audit_off_p99_ms": off.throughput["p99_ms"], "errors": off.throughput["errors"]},
        ),
        Result(
            "latency",
            "ms p99",
            on.latency["p99_ms"],
            raw.latency["p99_ms"],
            0.0,
            {
                "offered_rps": rate,
                "achieved_rps": on.latency["rps"],
                "p50_ms": on.latency["p50_ms"],
                "max_ms": on.latency["max_ms"],
                "raw_p50_ms": raw.latency["p50_ms"],
                "errors": on.latency["errors"],
                "half_capacity_rps": on.latency_half["offered_rps"],
                "half_capacity_p50_ms": on.latency_half["p50_ms"],
                "half_capacity_p99_ms": on.latency_half["p99_ms"],
                "raw_half_capacity_rps": raw.latency_half["offered_rps"],
                "raw_half_capacity_p99_ms": raw.latency_half["p99_ms"],
            },
            ceiling=100.0,
        ),
        Result(
            "memory",
            "MB peak",
            on.peak_rss_mb,
            raw.peak_rss_mb,
            0.0,
            {"audit_off_peak_rss_mb": off.peak_rss_mb, "measured": "VmHWM after all ingest runs"},
            ceiling=150.0,
        ),
    ]


def main() -> None:
    """``python -m bench.ingest``."""
    for result in run():
        result.report()


if __name__ == "__main__":
    main()
