"""Delivery: inbound queue → self_hosted adapter → signed webhook → a local receiver.

hostgate runs as ``hostgate serve`` and drains N sealed messages already
waiting in ``hostgate.inbound``. The baseline (``bench.raw_delivery``) is a raw
loop: consume the same number of messages from a queue of the same kind with
aio-pika (prefetch 500), POST each as a Standard Webhooks-signed request to the
same receiver, ack after the answer. Each consumer runs in its own process,
pinned to core 0 where ``taskset`` exists; the receiver runs in this process.
The two alternate over a few rounds and the medians count; the local RabbitMQ
is kept on the other core for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import uvloop
from aiohttp import web

from bench.common import (
    Result,
    bench_vhost,
    broker_on_core,
    driver_on_core,
    floor_figures,
    process_cpu_seconds,
    purge,
    round_order,
)
from bench.engines import store_url, use_store
from bench.ingest import REPO, free_port, pin
from gateway.bridge.models import InboundMessage
from gateway.broker import topology
from gateway.broker.cloudevents import CloudEvent, amqp_message
from gateway.config.envfile import read_env_file
from gateway.events import INBOUND_MESSAGE
from gateway.sealing import EndpointPrivateKey, seal

RAW_QUEUE = "bench.raw.inbound"


class Tally:
    """What the receiver saw: how many deliveries, the first and the last one's time."""

    def __init__(self) -> None:
        self.reset(0)

    def reset(self, target: int) -> None:
        """Start counting towards ``target``."""
        self.n, self.target = 0, target
        self.first = self.last = 0.0
        self.done = asyncio.Event()
        self.started = asyncio.Event()

    def seen(self) -> None:
        """One delivery arrived."""
        now = time.perf_counter()
        self.first = self.first or now
        self.n, self.last = self.n + 1, now
        self.started.set()
        if self.n >= self.target:
            self.done.set()

    @property
    def seconds(self) -> float:
        """From the first delivery to the last: start-up costs are not counted."""
        return self.last - self.first


async def _receiver(tally: Tally) -> tuple[web.AppRunner, int]:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        tally.seen()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def _fill(url: str, queue: str | None, count: int) -> None:
    """Publish ``count`` sealed messages for warung-sari (to the inbound exchange, or to ``queue``)."""
    key = EndpointPrivateKey.from_text(
        (REPO / "examples" / "endpoint-keys" / "warung-sari.x25519.key").read_text()
    )
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    await topology.declare(channel)
    if queue is not None:
        # The same kind of queue hostgate consumes (quorum, same arguments): only the consumer differs.
        await channel.declare_queue(queue, durable=True, arguments=topology.queue_arguments())
    exchange = channel.default_exchange if queue else await channel.get_exchange(topology.INBOUND.exchange)
    sealed = seal(b"benchmark message", "warung-sari", key.public)
    for start in range(0, count, 500):
        batch = []
        for _ in range(start, min(start + 500, count)):
            body = InboundMessage(
                message_id="m-" + uuid.uuid4().hex,
                sender="bench-user",
                business_id="warung-sari",
                key_id=key.public.kid,
                sealed=sealed,
                sent_at=datetime.now(UTC),
            )
            event = CloudEvent(
                id=str(uuid.uuid4()),
                type=INBOUND_MESSAGE,
                subject="warung-sari",
                time=datetime.now(UTC),
                source="urn:bench",
                data=body.model_dump_json().encode(),
            )
            batch.append(exchange.publish(amqp_message(event), routing_key=queue or "warung-sari"))
        await asyncio.gather(*batch)
    await connection.close()


@dataclass(frozen=True)
class Drain:
    """One consumer's drain: wall seconds to the last delivery and to settled, CPU seconds to settled."""

    seconds: float
    settled_seconds: float
    cpu: float


async def _timed(
    command: list[str],
    env: dict[str, str],
    tally: Tally,
    cwd: Path = REPO,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> Drain:
    """Run a consumer process (pinned to core 0) until the receiver has seen every message.

    Measured from the first delivery (start-up is in nothing): the seconds to the last delivery,
    the seconds until ``settle`` returns (by default: the last delivery), and the process's CPU
    seconds until then. hostgate settles once its receipts are all published: a delivery is not
    done before the network has its receipt, and work deferred past the last POST is still work
    per message (a consumer that lets receipts lag looks faster by the first figure alone).
    """
    process = await asyncio.create_subprocess_exec(
        *pin(0),
        *command,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        started = asyncio.ensure_future(tally.started.wait())
        exited = asyncio.ensure_future(process.wait())
        await asyncio.wait({started, exited}, timeout=600, return_when=asyncio.FIRST_COMPLETED)
        if not started.done():
            started.cancel()
            exited.cancel()
            raise SystemExit(f"{command[2:5]} never delivered (exit status {process.returncode})")
        exited.cancel()
        cpu_before = process_cpu_seconds(process.pid)
        await asyncio.wait_for(tally.done.wait(), 600)
        if settle is not None:
            await asyncio.wait_for(settle(), 600)
        settled = max(time.perf_counter() - tally.first, tally.seconds) if settle else tally.seconds
        return Drain(tally.seconds, settled, process_cpu_seconds(process.pid) - cpu_before)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), 30)


async def _hostgate(url: str, config: Path, count: int, tally: Tally, checkout: Path = REPO) -> Drain:
    """Drain ``count`` messages with hostgate from ``checkout`` (its own code first on the path)."""
    await _fill(url, None, count)
    tally.reset(count)
    command = [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config)]
    command += ["--port", str(free_port())]
    # The environment, not --demo: a checkout from before that flag ignores the variable.
    env = {**os.environ, "HOSTGATE_AMQP_URL": url, "PYTHONPATH": str(checkout), "HOSTGATE_DEMO": "1"}
    return await _timed(command, env, tally, cwd=checkout, settle=lambda: _receipts_published(url, count))


async def _receipts_published(url: str, count: int) -> None:
    """Wait until the network's outbound queue holds a receipt for every delivery."""
    await _receipts_in(url, topology.OUTBOUND.queue, count)


def delivery_config(base: Path, port: int, store: str | None, source: Path = REPO / "config") -> Path:
    """A copy of ``source`` whose warung-sari delivers to the bench's receiver on ``port``."""
    config = base / "config"
    shutil.copytree(source, config)
    use_store(config, store)
    business = config / "businesses" / "warung-sari.toml"
    business.write_text(
        business.read_text().replace("http://127.0.0.1:9101/hostgate", f"http://127.0.0.1:{port}/hook")
    )
    return config


async def _raw(url: str, count: int, target: str, secret: str, tally: Tally) -> Drain:
    await _fill(url, RAW_QUEUE, count)
    tally.reset(count)
    command = [sys.executable, "-m", "bench.raw_delivery", "--amqp", url, "--queue", RAW_QUEUE]
    command += ["--target", target, "--secret", secret]
    return await _timed(command, dict(os.environ), tally)


async def run(count: int = 5000, rounds: int = 3, engine: str = "sqlite") -> Result:
    """Hostgate's delivery path and the raw loop in alternating rounds, to the same receiver; medians."""
    tally = Tally()
    runner, port = await _receiver(tally)
    runs: dict[str, list[float]] = {"hostgate": [], "raw": []}
    cpu_us: dict[str, list[float]] = {"hostgate": [], "raw": []}
    try:
        with (
            broker_on_core(1) as broker,
            driver_on_core(1),
            bench_vhost() as url,
            tempfile.TemporaryDirectory() as tmp,
            store_url(engine) as store,
        ):
            config = delivery_config(Path(tmp), port, store)
            secret = read_env_file(config / "demo.env")["WARUNG_SARI_WEBHOOK_SECRET"]
            target = f"http://127.0.0.1:{port}/hook"
            drain = {
                "hostgate": lambda: _hostgate(url, config, count, tally),
                "raw": lambda: _raw(url, count, target, secret, tally),
            }
            for round_number in range(rounds):
                for who in round_order(list(drain), round_number):
                    done = await drain[who]()
                    runs[who].append(count / done.seconds)
                    cpu_us[who].append(done.cpu / count * 1e6)
                    # hostgate's receipts pile up in the outbound queue: start each run without them.
                    await purge(url, topology.OUTBOUND.queue)
    finally:
        await runner.cleanup()
    return Result(
        "delivery",
        "del/s",
        statistics.median(runs["hostgate"]),
        statistics.median(runs["raw"]),
        0.7,
        {
            "messages": count,
            "rounds": rounds,
            "broker": broker,
            "rounds_per_s": [round(r, 1) for r in runs["hostgate"]],
            "baseline_rounds_per_s": [round(r, 1) for r in runs["raw"]],
            "cpu_us_per_msg": round(statistics.median(cpu_us["hostgate"]), 1),
            "baseline_cpu_us_per_msg": round(statistics.median(cpu_us["raw"]), 1),
        },
        engine=engine,
    )


FLOOR_QUEUE = "bench.floor.inbound"
FLOOR_RECEIPTS = "bench.floor.receipts"


async def _floor(url: str, count: int, target: str, secret: str, tally: Tally, state: Path) -> Drain:
    await _fill(url, FLOOR_QUEUE, count)
    tally.reset(count)
    command = [sys.executable, "-m", "bench.floor_delivery", "--amqp", url, "--queue", FLOOR_QUEUE]
    command += ["--target", target, "--secret", secret, "--state", str(state), "--receipts", FLOOR_RECEIPTS]
    return await _timed(
        command, dict(os.environ), tally, settle=lambda: _receipts_batched_in(url, FLOOR_RECEIPTS, count)
    )


async def _receipts_batched_in(url: str, queue_name: str, count: int) -> None:
    """Take the floor's receipt messages (JSON arrays) off ``queue_name`` until ``count`` receipts came."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        seen = 0
        async with queue.iterator(no_ack=True) as messages:
            async for message in messages:
                seen += len(json.loads(message.body))
                if seen >= count:
                    return
    finally:
        await connection.close()


async def _receipts_in(url: str, queue_name: str, count: int) -> None:
    """Wait until ``queue_name`` holds ``count`` receipts."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        while True:
            queue = await channel.declare_queue(queue_name, passive=True)
            if (queue.declaration_result.message_count or 0) >= count:
                return
            await asyncio.sleep(0.01)
    finally:
        await connection.close()


async def run_floor(count: int = 4000, rounds: int = 5) -> dict[str, object]:
    """The raw loop, the floor (``bench.floor_delivery``) and hostgate, alternating; medians (SQLite)."""
    tally = Tally()
    runner, port = await _receiver(tally)
    rates: dict[str, list[float]] = {"raw": [], "floor": [], "hostgate": []}
    cpu: dict[str, list[float]] = {name: [] for name in rates}
    try:
        with (
            broker_on_core(1),
            driver_on_core(1),
            bench_vhost() as url,
            tempfile.TemporaryDirectory() as tmp,
        ):
            config = delivery_config(Path(tmp), port, None)
            secret = read_env_file(config / "demo.env")["WARUNG_SARI_WEBHOOK_SECRET"]
            target = f"http://127.0.0.1:{port}/hook"
            connection = await aio_pika.connect(url)
            channel = await connection.channel()
            # The receipts' queue is of the kind hostgate's outbound queue is (quorum, same arguments).
            await channel.declare_queue(FLOOR_RECEIPTS, durable=True, arguments=topology.queue_arguments())
            await connection.close()
            drain = {
                "raw": lambda: _raw(url, count, target, secret, tally),
                "floor": lambda: _floor(url, count, target, secret, tally, Path(tmp) / "floor"),
                "hostgate": lambda: _hostgate(url, config, count, tally),
            }
            for number in range(rounds):
                for who in round_order(list(drain), number):
                    done = await drain[who]()
                    rates[who].append(count / done.seconds)
                    cpu[who].append(done.cpu / count * 1e6)
                    await purge(url, topology.OUTBOUND.queue)
                    await purge(url, FLOOR_RECEIPTS)
    finally:
        await runner.cleanup()
    figures = floor_figures(rates, cpu)
    return {
        "scenario": "delivery_floor",
        "engine": "sqlite",
        "workers": 1,
        "messages": count,
        "rounds": rounds,
        "del_per_s": figures.pop("rate"),
        "rounds_per_s": figures.pop("rounds"),
        **figures,
        "target": ">= 0.7x raw",
    }


def main() -> None:
    """``python -m bench.delivery [--floor]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--floor",
        action="store_true",
        help="the raw loop, the least a delivery with hostgate's guarantees must do, and hostgate",
    )
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    if args.floor:
        print(json.dumps(uvloop.run(run_floor(args.messages or 4000, args.rounds or 5))))
        return
    uvloop.run(run(args.messages or 5000, args.rounds or 3)).report()


if __name__ == "__main__":
    main()
