"""Helpers for tests that drive real servers: waiting, closed ports, the real broker."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.error import HTTPError

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

REPO = Path(__file__).resolve().parent.parent


async def wait_until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


async def until(check: Callable[[], object], what: str, within: float = 20) -> None:
    """Poll a plain (not async) ``check`` until it is truthy; fail naming ``what`` after ``within`` s."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    """A loopback port free at the moment of asking (for servers that cannot take port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl, failing the test with its output when it fails."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is not installed; broker restart tests need a local RabbitMQ")
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {result.stderr or result.stdout}")


@contextmanager
def broker_stopped() -> Iterator[None]:
    """Stop the RabbitMQ application for the block, and always start it again."""
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")


def _read_json_lines(stream: IO[str], until_event: str, timeout: float) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        record = json.loads(line)  # every line the gateway prints is one JSON object
        lines.append(record)
        if record["event"] == until_event:
            return lines
    raise AssertionError(f"no {until_event} in {lines}")


@contextmanager
def serving(
    config: Path, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> Iterator[tuple[subprocess.Popen[str], int, list[dict[str, Any]]]]:
    """Run `hostgate serve --port 0`; yield the process, its port and its log lines (kept growing).

    A thread keeps reading the log so the gateway never blocks on a full pipe; the
    list holds every JSON line it printed, and is complete once the process exits.
    """
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli.main",
            "serve",
            "--config",
            str(config),
            "--port",
            "0",
            "--demo",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        lines = _read_json_lines(process.stdout, "gateway.started", 30)
        port = int(lines[-1]["port"])
        reader = threading.Thread(target=_keep_reading, args=(process.stdout, lines), daemon=True)
        reader.start()
        yield process, port, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _keep_reading(stream: IO[str], lines: list[dict[str, Any]]) -> None:
    with contextlib.suppress(ValueError, OSError):  # the pipe closes under us at the end
        for line in stream:
            lines.append(json.loads(line))  # noqa: PERF401 -- one at a time, so waiters see each line as it comes


def wait_for_event(lines: list[dict[str, Any]], event: str, timeout: float = 15) -> dict[str, Any]:
    """The first log record named ``event``, waiting for it to be printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in list(lines):
            if record.get("event") == event:
                return record
        time.sleep(0.05)
    raise AssertionError(f"no {event} logged")


def get_json(port: int, path: str) -> tuple[int, dict[str, Any]]:
    """GET a JSON document from the gateway on 127.0.0.1."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_status(port: int, path: str, status: int, timeout: float) -> dict[str, Any]:
    """Poll until ``path`` answers ``status``; return its body."""
    deadline = time.monotonic() + timeout
    while True:
        got, body = get_json(port, path)
        if got == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} answered {got} {body}, wanted {status}")
        time.sleep(0.2)


async def rabbitmqctl_async(*args: str) -> None:
    """Run rabbitmqctl without blocking the event loop (the gateway under test shares it)."""
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is not installed; broker restart tests need a local RabbitMQ")
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    if process.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {output.decode(errors='replace')}")


@asynccontextmanager
async def broker_stopping() -> AsyncIterator[asyncio.Task[None]]:
    """Begin stopping RabbitMQ now (the block runs while it goes down); always start it again."""
    stopping = asyncio.create_task(rabbitmqctl_async("stop_app"))
    try:
        yield stopping
        await stopping
    finally:
        if not stopping.done():
            await asyncio.gather(stopping, return_exceptions=True)
        await rabbitmqctl_async("start_app")
        await rabbitmqctl_async("await_startup")


NETWORK_QUEUES = (
    "network.disclosures",
    "network.notices",
    "network.outbound",
    "hostgate.dead-letter",
    *(f"hostgate.deliveries.dead.{b}" for b in ("warung-sari", "nimbus-shop", "kirana-travel")),
)


def _work_queues() -> tuple[str, ...]:
    """Hostgate's own work queues and every retry delay queue on the local broker."""
    if shutil.which("rabbitmqctl") is None:
        return ()
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True, text=True, timeout=60, check=False
    )
    delays = [
        name
        for name in listed.stdout.split()
        if name.startswith(
            ("hostgate.retry.", "hostgate.statuses.retry.", "hostgate.parked.", "hostgate.statuses.parked.")
        )
    ]
    return ("hostgate.inbound", "hostgate.receipts", "hostgate.consents", "hostgate.statuses", *delays)


async def purge_work_queues() -> None:
    """Empty hostgate's own work and delay queues: what a test left parked must not reach the next one."""
    await purge_network_queues(_work_queues())


async def purge_network_queues(names: tuple[str, ...] = NETWORK_QUEUES) -> None:
    """Empty the queues only the (absent) network consumes, so test runs do not pile messages up."""
    import aio_pika  # noqa: PLC0415 -- keeps this module light for tests without a broker

    try:
        connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/", timeout=5)
    except (OSError, aio_pika.exceptions.AMQPError, TimeoutError):
        return  # no broker: the broker tests say so themselves
    try:
        for name in names:
            channel = await connection.channel()
            try:
                await (await channel.get_queue(name, ensure=True)).purge()
            except aio_pika.exceptions.ChannelClosed:
                continue  # not declared yet on this broker
    finally:
        await connection.close()


def trail_text(var: Path) -> str:
    """Everything in the audit trail files under ``var/audit``."""
    return "".join(p.read_text() for p in sorted((var / "audit").glob("audit-*.jsonl")))


async def wait_for_trail(var: Path, needle: str, within: float = 10, count: int = 1) -> str:
    """The trail once ``needle`` appears in it ``count`` times (records reach it just after their commit)."""
    deadline = time.monotonic() + within
    while True:
        text = trail_text(var)
        if text.count(needle) >= count:
            return text
        if time.monotonic() > deadline:
            pytest.fail(f"{needle!r} not in the audit trail {count} time(s) within {within}s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def gateway_client(
    config_dir: Path, name: str, env: dict[str, str] | None = None
) -> AsyncIterator[TestClient[Any, Any]]:
    """The gateway in-process on ``config_dir``, served on 127.0.0.1:0 for the block."""
    from gateway.adapter_registry import AdapterRegistry  # noqa: PLC0415 -- keeps this module light
    from gateway.app import build_app  # noqa: PLC0415 -- same
    from gateway.config import load_config  # noqa: PLC0415 -- same

    app = build_app(load_config(config_dir, env or {}, AdapterRegistry()), connection_name=f"test:{name}")
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=0))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def ready(client: TestClient[Any, Any]) -> bool:
    """Whether the gateway answers /readyz with 200 (broker connected, its topology declared)."""
    return (await client.get("/readyz")).status == 200


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 at a free port for the block; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def _broker_pid() -> int:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "eval",
        "os:getpid().",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return int(output.decode().strip().strip('"'))


async def _port_open(within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", 5672)
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"RabbitMQ did not come back within {within}s")
            await asyncio.sleep(0.25)
            continue
        writer.close()
        return


@asynccontextmanager
async def broker_killed() -> AsyncIterator[None]:
    """``kill -9`` the RabbitMQ node now; after the block, start it again (``rabbitmq-server -detached``)."""
    if shutil.which("rabbitmq-server") is None:
        pytest.fail("rabbitmq-server is not installed; the broker kill test needs a local RabbitMQ")
    os.kill(await _broker_pid(), 9)
    try:
        yield
    finally:
        await asyncio.sleep(1.5)  # let epmd notice the node is gone, or the new one refuses to start
        starter = await asyncio.create_subprocess_exec(
            "rabbitmq-server", "-detached", stdin=asyncio.subprocess.DEVNULL
        )
        await starter.wait()
        await _port_open(90)
        await rabbitmqctl_async("await_startup")


async def send_carefully(
    session: aiohttp.ClientSession,
    base: str | Callable[[int], str],
    api_key: str,
    n: int,
    *,
    tries: int = 50,
) -> str:
    """POST message ``n`` as a careful client does: the same Idempotency-Key until a 202; its id.

    ``base`` may be a function of the attempt number: a client of several replicas tries the next.
    """
    body = {"recipient": f"user-{n % 7}", "payload": base64.b64encode(b"sealed").decode()}
    headers = {"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"careful-{n}"}
    for attempt in range(tries):
        url = base(attempt) if callable(base) else base
        try:
            async with session.post(f"{url}/v1/messages", json=body, headers=headers) as response:
                if response.status == 202:
                    return str((await response.json())["message_id"])
        except (aiohttp.ClientError, TimeoutError):
            pass  # a dropped connection (a worker or node gone): the same key again
        await asyncio.sleep(0.2)
    raise AssertionError(f"message {n} never accepted")


async def queued_ids(url: str, queue: str, expected: int, within: float = 120) -> list[str]:
    """Message ids taken from ``queue`` until ``expected`` arrived and a second passed with no more.

    The quiet second catches a late copy (a row published twice), which fault tests count.
    """
    import aio_pika  # noqa: PLC0415 -- keeps this module light for tests without a broker

    seen: list[str] = []
    deadline = time.monotonic() + within
    quiet = 0.0
    while time.monotonic() < deadline and (len(seen) < expected or quiet < 1.0):
        connection = await aio_pika.connect(url)
        try:
            channel = await connection.channel()
            q = await channel.get_queue(queue)
            while time.monotonic() < deadline and (len(seen) < expected or quiet < 1.0):
                message = await q.get(fail=False)
                if message is None:
                    await asyncio.sleep(0.1)
                    quiet += 0.1
                    continue
                quiet = 0.0
                await message.ack()
                seen.append(str(message.message_id))
        except aio_pika.exceptions.AMQPError:
            # Just after a cluster node stops, a quorum queue may answer "noproc" while it
            # elects a leader: what was taken and acked is kept; ask again.
            await asyncio.sleep(0.5)
        finally:
            await connection.close()
    return seen
