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
from aio_pika.abc import AbstractRobustConnection
from aio_pika.connection import make_url

from gateway.config.settings import BrokerSettings

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
        self._last_error = "not connected yet"

    async def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        self._task = asyncio.create_task(self._connect_forever(), name="broker-connect")

    async def _connect_forever(self) -> None:
        redacted = self._settings.redacted_url()
        attempt = 0
        while True:
            attempt += 1
            # Hold the connection object before awaiting connect(): if we are cancelled
            # mid-connect, close() must still reach it, or aio-pika's reconnect task
            # keeps running after shutdown.
            connection = aio_pika.RobustConnection(
                make_url(
                    str(self._settings.url),
                    reconnect_interval=self._settings.reconnect_interval_seconds,
                ),
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
            log.info("broker.connected", url=redacted, attempt=attempt)
            return

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
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
