"""What every benchmark shares: a private RabbitMQ vhost, and one way to report figures."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika

BENCH_VHOST_PREFIX = "hostgate-bench-"


@contextmanager
def bench_vhost() -> Iterator[str]:
    """A fresh vhost of this run's own on the local broker (deleted after); yields its AMQP URL."""
    if shutil.which("rabbitmqctl") is None:
        sys.exit("benchmarks need a local RabbitMQ with rabbitmqctl (see README)")
    # Named per process: two runs at once must not delete each other's vhost.
    vhost = f"{BENCH_VHOST_PREFIX}{os.getpid()}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, capture_output=True)


@contextmanager
def broker_on_core(core: int) -> Iterator[str]:
    """Keep the local RabbitMQ on ``core`` for the block (then as it was); yields what was done.

    The server under test and each baseline run pinned to core 0. Left to the
    scheduler, the broker sometimes lands on that core too and the baselines,
    which wait on it more, swung between two speeds from one run to the next;
    on the load generator's core it costs every server the same.
    """
    if (os.cpu_count() or 1) <= core:
        yield "left as is: one core"
        return
    found = subprocess.run(["pgrep", "-x", "beam.smp"], capture_output=True, text=True, check=False)
    threads = [int(task.name) for pid in found.stdout.split() for task in Path(f"/proc/{pid}/task").iterdir()]
    if not threads:
        yield "left as is: no local beam.smp"
        return
    before: dict[int, set[int]] = {}
    try:
        for tid in threads:
            before[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, {core})
    except (PermissionError, ProcessLookupError) as exc:
        _restore(before)
        yield f"left as is: {type(exc).__name__}"
        return
    try:
        yield f"pinned to core {core}"
    finally:
        _restore(before)


@contextmanager
def driver_on_core(core: int) -> Iterator[str]:
    """Keep this process (the bench's driver and its receiver) on ``core`` for the block.

    The receiver answers every delivery's POST: left to the scheduler it sometimes shared
    core 0 with the consumer under test, and a whole run then measured 30-50 % more CPU per
    delivery than the next. Threads started inside the block inherit the core.
    """
    if (os.cpu_count() or 1) <= core:
        yield "left as is: one core"
        return
    threads = [int(task.name) for task in Path("/proc/self/task").iterdir()]
    before = {tid: os.sched_getaffinity(tid) for tid in threads}
    try:
        for tid in threads:
            os.sched_setaffinity(tid, {core})
        yield f"pinned to core {core}"
    finally:
        _restore(before)


def _restore(affinity: dict[int, set[int]]) -> None:
    for tid, cores in affinity.items():
        with contextlib.suppress(OSError):
            os.sched_setaffinity(tid, cores)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process (all its threads) has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the ")" closing the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def round_order(names: list[str], round_number: int) -> list[str]:
    """The order of one round: each starts with the next side, so none always runs first or last."""
    # Drift on a shared machine then hits every side alike.
    shift = round_number % len(names)
    return names[shift:] + names[:shift]


def floor_figures(rates: dict[str, list[float]], cpu_us: dict[str, list[float]]) -> dict[str, Any]:
    """Medians of a raw / floor / hostgate run, each side's rounds, and the quotients between them."""
    rate = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    cpu = {k: round(statistics.median(v), 1) for k, v in cpu_us.items()}
    return {
        "rate": rate,
        "rounds": {k: [round(r, 1) for r in v] for k, v in rates.items()},
        "cpu_us_per_msg": cpu,
        "floor_over_raw_by_rate": round(rate["floor"] / rate["raw"], 3),
        "floor_over_raw_by_cpu": round(cpu["raw"] / cpu["floor"], 3),
        "hostgate_over_raw_by_rate": round(rate["hostgate"] / rate["raw"], 3),
        "hostgate_over_floor_by_rate": round(rate["hostgate"] / rate["floor"], 3),
    }


async def purge(url: str, queue: str) -> None:
    """Empty a queue so one scenario's backlog does not slow the next."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        await (await channel.get_queue(queue, ensure=False)).purge()
    finally:
        await connection.close()


@dataclass
class Result:
    """One scenario's figures: hostgate's rate, the raw baseline's, and anything else worth printing."""

    scenario: str
    unit: str
    hostgate: float
    baseline: float
    target_ratio: float
    extra: dict[str, Any] = field(default_factory=dict)
    # For figures where lower is better (latency, memory): the target is this absolute ceiling.
    ceiling: float | None = None
    engine: str = "sqlite"
    workers: int = 1

    @property
    def ratio(self) -> float:
        """How hostgate compares: its rate / the baseline's; for a ceilinged figure, baseline / hostgate."""
        if self.ceiling is not None:
            return self.baseline / self.hostgate if self.hostgate else 0.0
        return self.hostgate / self.baseline if self.baseline else 0.0

    @property
    def meets_target(self) -> bool:
        """At or under the ceiling, or at or over the target ratio."""
        if self.ceiling is not None:
            return self.hostgate <= self.ceiling
        return self.ratio >= self.target_ratio

    @property
    def target(self) -> str:
        """The target, as people read it."""
        return f"<= {self.ceiling:g} {self.unit}" if self.ceiling is not None else f">= {self.target_ratio}x"

    def report(self) -> None:
        """Print one JSON line, then a readable row."""
        record = {
            "scenario": self.scenario,
            "unit": self.unit,
            "hostgate": round(self.hostgate, 1),
            "baseline": round(self.baseline, 1),
            "ratio": round(self.ratio, 3),
            "target": self.target,
            "meets_target": self.meets_target,
            "engine": self.engine,
            "workers": self.workers,
            "python": platform.python_version(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self.extra,
        }
        print(json.dumps(record))
        verdict = "meets" if self.meets_target else "MISSES"
        print(
            f"{self.scenario:<10} {self.engine:<10} hostgate {self.hostgate:>10,.1f} {self.unit:<10} "
            f"baseline {self.baseline:>10,.1f}  ratio {self.ratio:.2f} ({verdict} target {self.target})"
        )
