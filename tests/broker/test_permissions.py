"""An account with exactly the rights `hostgate broker permissions` prints can do its job and nothing more."""

from __future__ import annotations

import secrets
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from gateway.broker import topology
from tests.conftest import run_cli
from tests.support import rabbitmqctl

pytestmark = pytest.mark.broker


@contextmanager
def account(role: str) -> Iterator[str]:
    """A broker user holding exactly ``role``'s rights, as the CLI says to grant them; removed after."""
    # Hex: a password starting with "-" would read as an option to rabbitmqctl.
    user, password = f"test-{role}-{secrets.token_hex(4)}", secrets.token_hex(16)
    rabbitmqctl("add_user", user, password)
    try:
        printed = run_cli("broker", "permissions", "--role", role, "--user", user)
        assert printed.returncode == 0, printed.stderr
        command = shlex.split(printed.stdout.splitlines()[-1])
        assert command[:2] == ["rabbitmqctl", "set_permissions"]
        rabbitmqctl(*command[1:])
        yield f"amqp://{user}:{password}@127.0.0.1:5672/"
    finally:
        rabbitmqctl("delete_user", user)


@asynccontextmanager
async def connected(url: str, name: str) -> AsyncIterator[AbstractRobustConnection]:
    """A connection named after the test, closed after."""
    connection = await aio_pika.connect_robust(url, client_properties={"connection_name": name})
    try:
        yield connection
    finally:
        await connection.close()


async def _outcome(
    connection: AbstractRobustConnection, act: Callable[[AbstractChannel], Awaitable[object]]
) -> str:
    """Do ``act`` on a fresh channel: 'ok', or the broker's refusal."""
    channel = await connection.channel(publisher_confirms=True)
    try:
        await act(channel)
    except aio_pika.exceptions.ChannelClosed as exc:
        return str(exc.args[0]) if exc.args else "closed"
    finally:
        if not channel.is_closed:
            await channel.close()
    return "ok"


async def _publish(connection: AbstractRobustConnection, exchange: str, routing_key: str) -> str:
    """Publish with confirms: 'ok', or the broker's refusal."""

    async def act(channel: AbstractChannel) -> object:
        target = (
            channel.default_exchange if exchange == "" else await channel.get_exchange(exchange, ensure=False)
        )
        return await target.publish(aio_pika.Message(b"{}"), routing_key=routing_key, timeout=10)

    return await _outcome(connection, act)


async def _ignore(_message: AbstractIncomingMessage) -> None:
    """Hold whatever arrives unacked: closing the channel gives it back to the queue."""


async def _consume(connection: AbstractRobustConnection, queue: str) -> str:
    """Start consuming: 'ok', or the broker's refusal."""

    async def act(channel: AbstractChannel) -> object:
        return await (await channel.get_queue(queue, ensure=False)).consume(_ignore, timeout=10)

    return await _outcome(connection, act)


ACCESS_REFUSED = "ACCESS_REFUSED"


async def test_network_account_publishes_and_reads_only_its_own() -> None:
    """The network may publish inbound events and read its queues; it may not forge, bypass or declare."""
    async with connected("amqp://guest:guest@127.0.0.1:5672/", "test:permissions:setup") as admin:
        await topology.declare(await admin.channel())
    with account("network") as url:
        async with connected(url, "test:permissions:network") as network:
            allowed = {
                exchange: await _publish(network, exchange, "warung-sari")
                for exchange in (
                    topology.INBOUND.exchange,
                    topology.RECEIPTS.exchange,
                    topology.CONSENTS.exchange,
                )
            }
            forged = {
                exchange: await _publish(network, exchange, "warung-sari")
                for exchange in (
                    topology.DISCLOSURES.exchange,
                    topology.NOTICES.exchange,
                    topology.OUTBOUND.exchange,
                    topology.STATUSES.exchange,
                    topology.AUDIT.exchange,
                    topology.DEAD_LETTER_EXCHANGE,
                    "",  # the default exchange: straight into a delay or dead-delivery queue
                )
            }
            reads = {q: await _consume(network, q) for q in (topology.NOTICES.queue, topology.OUTBOUND.queue)}
            stolen = {
                q: await _consume(network, q) for q in (topology.INBOUND.queue, topology.STATUSES.queue)
            }
            channel = await network.channel()
            with pytest.raises(aio_pika.exceptions.ChannelClosed) as declared:
                await channel.declare_queue("network.sneaky", durable=True)
    print(f"\nnetwork account: allowed {allowed}, refused {forged}, reads {reads}, refused reads {stolen}")
    assert set(allowed.values()) == {"ok"}
    assert all(ACCESS_REFUSED in outcome for outcome in forged.values()), forged
    assert set(reads.values()) == {"ok"}
    assert all(ACCESS_REFUSED in outcome for outcome in stolen.values()), stolen
    assert ACCESS_REFUSED in str(declared.value)
    async with connected("amqp://guest:guest@127.0.0.1:5672/", "test:permissions:cleanup") as admin:
        channel = await admin.channel()
        for queue in (topology.INBOUND, topology.RECEIPTS, topology.CONSENTS):
            await (await channel.get_queue(queue.queue)).purge()


async def test_witness_account_only_reads_checkpoints() -> None:
    """The witness reads the checkpoint queue and can publish nowhere."""
    with account("witness") as url:
        async with connected(url, "test:permissions:witness") as witness:
            read = await _consume(witness, topology.AUDIT.queue)
            published = await _publish(witness, topology.AUDIT.exchange, "checkpoint")
            other = await _consume(witness, topology.INBOUND.queue)
    assert read == "ok"
    assert ACCESS_REFUSED in published
    assert ACCESS_REFUSED in other


async def test_gateway_account_declares_and_parks() -> None:
    """The gateway's own rights cover its topology, a delay queue published to by the default exchange, and consuming."""
    with account("gateway") as url:
        async with connected(url, "test:permissions:gateway") as gateway:
            channel = await gateway.channel(publisher_confirms=True)
            await topology.declare(channel)
            name = "hostgate.retry.3600000ms"
            arguments = dict(topology.queue_arguments())
            arguments.pop("x-delivery-limit")
            arguments.update(
                {"x-message-ttl": 3_600_000, "x-dead-letter-exchange": topology.INBOUND.exchange}
            )
            await channel.declare_queue(name, durable=True, arguments=arguments)
            parked = await _publish(gateway, "", name)
            consumed = await _consume(gateway, topology.INBOUND.queue)
            await channel.queue_delete(name)
    assert (parked, consumed) == ("ok", "ok")
