"""What tracing costs when it is off: ``python -m bench.tracing_cost [--baseline REF] [--rounds N]``.

Two gateways take the ingest load of ``bench.ingest`` (audit on, SQLite, one
core, the load generator and RabbitMQ on the other): this checkout with
``[tracing]`` off, and a git worktree of the commit before tracing was added
(``--baseline``, by default the parent of the commit that created
``gateway/telemetry/tracing.py``), so "tracing code absent" is measured, not
assumed. Rounds alternate which side goes first; the medians of throughput and
of CPU microseconds per request are compared. Target: off at least 0.98x absent.

The comparison holds only while nothing else differs between the two commits: the
default baseline lacks every change made since tracing came in, so this is not part of
``make bench``. Run it with ``--baseline`` at the commit before a change to tracing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.common import Result, bench_vhost, broker_on_core, process_cpu_seconds, purge, round_order
from bench.ingest import REPO, WARUNG_KEY, bench_config, free_port, gateway_server, offer_load, pin
from gateway.broker import topology


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def default_baseline() -> str:
    """The parent of the commit that added tracing."""
    added = _git("log", "--diff-filter=A", "--format=%H", "-1", "--", "gateway/telemetry/tracing.py")
    if not added:
        sys.exit("tracing is not committed yet: give --baseline REF")
    return added + "^"


@contextmanager
def worktree(ref: str) -> Iterator[Path]:
    """A detached checkout of ``ref`` for the block."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "baseline"
        _git("worktree", "add", "--detach", str(path), ref)
        try:
            yield path
        finally:
            _git("worktree", "remove", "--force", str(path))


def _serve(stack: ExitStack, checkout: Path, config: Path, amqp: str) -> tuple[str, int]:
    """A gateway from ``checkout`` (its own code first on the path); its URL and pid."""
    port = free_port()
    env = {**os.environ, "HOSTGATE_AMQP_URL": amqp, "PYTHONPATH": str(checkout)}
    command = [*pin(0), sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
    command += ["--demo", "--port", str(port)]
    pid = stack.enter_context(gateway_server(command, f"http://127.0.0.1:{port}/readyz", env, cwd=checkout))
    return f"http://127.0.0.1:{port}/v1/messages", pid


def run(baseline: str, rounds: int = 8, requests: int = 8000, connections: int = 64) -> Result:
    """Alternating rounds of closed-loop ingest on both; medians of req/s and CPU µs per request."""
    headers = [f"Authorization:Bearer {WARUNG_KEY}"]
    with (
        broker_on_core(1),
        bench_vhost() as amqp,
        tempfile.TemporaryDirectory() as tmp,
        worktree(baseline) as absent,
        ExitStack() as stack,
    ):
        servers = {
            "off": _serve(stack, REPO, bench_config(Path(tmp) / "off", audit=True), amqp),
            "absent": _serve(
                stack, absent, bench_config(Path(tmp) / "absent", audit=True, source=absent / "config"), amqp
            ),
        }
        for url, _pid in servers.values():
            offer_load(url, 1000, connections, headers)
        rps: dict[str, list[float]] = {name: [] for name in servers}
        cpu_us: dict[str, list[float]] = {name: [] for name in servers}
        for number in range(rounds):
            for name in round_order(list(servers), number):
                asyncio.run(purge(amqp, topology.OUTBOUND.queue))
                url, pid = servers[name]
                before = process_cpu_seconds(pid)
                figures = offer_load(url, requests, connections, headers)
                cpu_us[name].append((process_cpu_seconds(pid) - before) * 1e6 / requests)
                rps[name].append(float(figures["rps"]))
    off, gone = statistics.median(rps["off"]), statistics.median(rps["absent"])
    return Result(
        "tracing_off",
        "req/s",
        off,
        gone,
        0.98,
        {
            "baseline_ref": baseline,
            "rounds": rounds,
            "requests": requests,
            "rounds_rps": [round(v, 1) for v in rps["off"]],
            "baseline_rounds_rps": [round(v, 1) for v in rps["absent"]],
            "cpu_us_per_request": round(statistics.median(cpu_us["off"]), 1),
            "baseline_cpu_us_per_request": round(statistics.median(cpu_us["absent"]), 1),
        },
    )


def main() -> None:
    """``python -m bench.tracing_cost``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", help="git ref without tracing (default: before tracing was added)")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    run(args.baseline or default_baseline(), rounds=args.rounds).report()


if __name__ == "__main__":
    main()
