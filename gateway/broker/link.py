"""The gateway's connection to RabbitMQ, kept up in the background.

The gateway must start and serve while the broker is down, so connecting never
blocks start-up: a task retries until the first connection succeeds, after which
aio-pika's robust connection reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractConnection, AbstractRobustConnection
from aio_pika.connection import make_url

from gateway.config.settings import BrokerSettings
from gateway.errors import BrokerError

log = structlog.get_logger("hostgate.broker")

_CONNECT_ERRORS = (OSError, TimeoutError, aiormq.exceptions.AMQPError, ConnectionError)


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """Whether the broker is reachable now, and why not when it is not."""

    connected: bool
    url: str
    reason: str


class BrokerLink:
    """Owns the robust AMQP connection; ``status()`` is what readiness reports."""

    def __init__(
        self,
        settings: BrokerSettings,
        name: str = "hostgate",
        on_connect: Callable[[AbstractRobustConnection], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        self._name = name
        self._on_connect = on_connect
        self._set_up = False
        self._closing: set[asyncio.Task[None]] = set()
        self._connection: AbstractRobustConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._node = 0  # the next node to try, counting on (modulo the nodes)
        self._node_url = ""
        self._last_error = "not connected yet"

    async def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        self._task = asyncio.create_task(self._connect_forever(), name="broker-connect")

    async def _connect_forever(self) -> None:
        redacted = self._settings.redacted_url()
        nodes = self._settings.node_urls()
        attempt = 0
        while True:
            attempt += 1
            # Several nodes: each attempt tries the next one, starting after the node last lost.
            node = nodes[self._node % len(nodes)]
            self._node += 1
            # Hold the connection object before awaiting connect(): if we are cancelled
            # mid-connect, close() must still reach it, or aio-pika's reconnect task
            # keeps running after shutdown.
            connection = aio_pika.RobustConnection(
                make_url(node, reconnect_interval=self._settings.reconnect_interval_seconds),
                client_properties={"connection_name": self._name},
            )
            self._connection = connection
            try:
                await connection.connect(timeout=self._settings.publish_timeout_seconds)
                await self._set_up_after_connect(connection)
            except _CONNECT_ERRORS as exc:
                self._connection = None
                await connection.close()
                self._last_error = f"{type(exc).__name__}: {exc}"
                if attempt == 1 or attempt % 30 == 0:
                    log.warning("broker.unreachable", url=redacted, error=self._last_error, attempt=attempt)
                await asyncio.sleep(self._settings.reconnect_interval_seconds)
                continue
            connection.reconnect_callbacks.add(self._on_reconnect)
            self._node_url = node
            log.info("broker.connected", url=redacted, node=_host_of(node), attempt=attempt)
            if len(nodes) > 1 and (self._watch is None or self._watch.done()):
                self._watch = asyncio.create_task(self._fail_over_when_lost(), name="broker-failover")
            return

    async def _fail_over_when_lost(self) -> None:
        """With several nodes: a connection down longer than one reconnect interval moves to the next node.

        aio-pika's robust connection would keep knocking on the node it lost; in a cluster
        another node serves the same (quorum) queues at once.
        """
        down_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.25)
            conn = self._connection
            if conn is None or (self._task is not None and not self._task.done()):
                down_since = None
                continue
            if conn.connected.is_set():
                down_since = None
                continue
            down_since = down_since or loop.time()
            if loop.time() - down_since >= self._settings.reconnect_interval_seconds:
                down_since = None
                await self.restart(f"lost node {_host_of(self._node_url)}")

    async def _set_up_after_connect(self, connection: AbstractRobustConnection) -> None:
        self._set_up = False
        if self._on_connect is not None:
            await self._on_connect(connection)
        self._set_up = True

    async def _on_reconnect(self, connection: object) -> None:
        log.info("broker.reconnected", url=self._settings.redacted_url())
        assert self._connection is not None  # noqa: S101 -- only registered on a live connection
        try:
            await self._set_up_after_connect(self._connection)
        except _CONNECT_ERRORS as exc:
            self._last_error = f"set-up after reconnect failed: {type(exc).__name__}: {exc}"
            log.warning("broker.setup_failed", error=self._last_error)

    async def restart(self, reason: str) -> None:
        """Throw the connection away and connect afresh.

        aio-pika's robust connection can come back from a broker crash in a state
        where every new channel times out; a publisher that sees that asks for a
        clean connection rather than waiting on one that will not recover.
        """
        if self._task is not None and not self._task.done():
            return  # already connecting
        log.warning("broker.link_restarted", url=self._settings.redacted_url(), reason=reason)
        old, self._connection, self._set_up = self._connection, None, False
        self._last_error = f"restarting: {reason}"
        if old is not None:
            closing = asyncio.create_task(self._close_quietly(old))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        self._task = asyncio.create_task(self._connect_forever(), name="broker-connect")

    async def _close_quietly(self, connection: AbstractRobustConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), self._settings.publish_timeout_seconds)

    @property
    def connection(self) -> AbstractRobustConnection | None:
        """The connection once made (it may be reconnecting)."""
        return self._connection

    def status(self) -> BrokerStatus:
        """Connected now, or the reason it is not."""
        redacted = self._settings.redacted_url()
        conn = self._connection
        if conn is not None and not conn.is_closed and conn.connected.is_set() and self._set_up:
            return BrokerStatus(connected=True, url=redacted, reason="")
        connecting = self._task is not None and not self._task.done()
        reason = self._last_error if connecting else "connection lost; reconnecting"
        return BrokerStatus(connected=False, url=redacted, reason=reason)

    async def close(self) -> None:
        """Stop connecting and close the connection."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            await self._connection.close()
            self._connection = None


def _host_of(url: str) -> str:
    """host:port of a node URL (no credentials), for logs."""
    return url.split("@", 1)[-1].split("/", 1)[0]


async def connect_any(settings: BrokerSettings, name: str) -> AbstractConnection:
    """A plain connection to the first node that answers (the CLI's one-off jobs)."""
    failure: Exception | None = None
    for node in settings.node_urls():
        try:
            return await aio_pika.connect(node, client_properties={"connection_name": name})
        except _CONNECT_ERRORS as exc:
            failure = exc
    raise BrokerError(f"no broker node answers at {settings.redacted_url()}: {type(failure).__name__}")
