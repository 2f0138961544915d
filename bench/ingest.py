"""Ingest: ``POST /v1/messages`` through hostgate (auth, idempotency, rate limit, audit, outbox, publish).

Three servers, each run in turn in its own process on the same private vhost,
loaded by the same generator in another process (pinned to another core when
``taskset`` exists), with the same connections and requests:

- raw: a bare aiohttp handler validating with pydantic and awaiting a confirm per request;
- hostgate with its audit trail on (the product);
- hostgate with the audit trail off (to measure what the trail costs).
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
from pathlib import Path
from typing import Any

from bench.common import Result, bench_vhost

REPO = Path(__file__).resolve().parent.parent
WARUNG_KEY = "hg_OaJgRLK3o0V2k_HGoBNpsFEVC6Ha_fdaRIb3flcB36Y"


def _pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _free_port() -> int:
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
def _server(command: list[str], ready_url: str, env: dict[str, str]) -> Iterator[None]:
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_ready(ready_url)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _config(base: Path, *, audit: bool) -> Path:
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


def _load(url: str, requests: int, connections: int, headers: list[str]) -> dict[str, Any]:
    command = [*_pin(1), sys.executable, "-m", "bench.loadgen", url, "--requests", str(requests)]
    command += ["--connections", str(connections), *[f"--header={h}" for h in headers]]
    output = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True, timeout=600).stdout
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return figures


def _hostgate(config: Path, amqp: str, requests: int, connections: int) -> dict[str, Any]:
    port = _free_port()
    env = {**os.environ, "HOSTGATE_AMQP_URL": amqp}
    command = [
        *_pin(0),
        sys.executable,
        "-m",
        "gateway.cli.main",
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
    ]
    with _server(command, f"http://127.0.0.1:{port}/readyz", env):
        _load(
            f"http://127.0.0.1:{port}/v1/messages",
            min(requests // 10, 500),
            connections,
            [f"Authorization:Bearer {WARUNG_KEY}"],
        )
        return _load(
            f"http://127.0.0.1:{port}/v1/messages",
            requests,
            connections,
            [f"Authorization:Bearer {WARUNG_KEY}"],
        )


def _raw(amqp: str, requests: int, connections: int) -> dict[str, Any]:
    port = _free_port()
    command = [*_pin(0), sys.executable, "-m", "bench.raw_ingest", "--amqp", amqp, "--port", str(port)]
    with _raw_server(command, port):
        _load(f"http://127.0.0.1:{port}/v1/messages", min(requests // 10, 500), connections, [])
        return _load(f"http://127.0.0.1:{port}/v1/messages", requests, connections, [])


@contextmanager
def _raw_server(command: list[str], port: int) -> Iterator[None]:
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)


def run(requests: int = 10_000, connections: int = 64) -> list[Result]:
    """Raw, audit on, audit off; the figures and their ratios."""
    with bench_vhost() as amqp, tempfile.TemporaryDirectory() as tmp:
        # hostgate declares the topology the raw server publishes into: run it first.
        on = _hostgate(_config(Path(tmp), audit=True), amqp, requests, connections)
        off = _hostgate(_config(Path(tmp), audit=False), amqp, requests, connections)
        raw = _raw(amqp, requests, connections)
    extra = {
        "requests": requests,
        "connections": connections,
        "load_generator": "bench.loadgen (aiohttp, own process)",
    }
    return [
        Result(
            "ingest",
            "req/s",
            on["rps"],
            raw["rps"],
            1.0,
            {
                **extra,
                "p50_ms": on["p50_ms"],
                "p99_ms": on["p99_ms"],
                "raw_p99_ms": raw["p99_ms"],
                "errors": on["errors"],
            },
        ),
        Result(
            "audit",
            "req/s",
            on["rps"],
            off["rps"],
            0.9,
            {**extra, "audit_off_p99_ms": off["p99_ms"], "errors": off["errors"]},
        ),
    ]


def main() -> None:
    """``python -m bench.ingest``."""
    for result in run():
        result.report()


if __name__ == "__main__":
    main()
