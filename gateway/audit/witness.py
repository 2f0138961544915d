"""Hand each signed checkpoint to RabbitMQ (``hostgate.audit``), so a witness outside keeps it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from pydantic import BaseModel, ConfigDict, Field

from gateway.audit.checkpoint import root_text
from gateway.broker.cloudevents import CloudEvent
from gateway.broker.topology import AUDIT
from gateway.disclosure.document import canonical_json
from gateway.events import AUDIT_CHECKPOINT
from gateway.ids import new_id
from gateway.relay.rows import outbox_row
from gateway.store import Store
from gateway.transparency.note import Checkpoint

log = structlog.get_logger("hostgate.audit")


class CheckpointAnnouncement(BaseModel):
    """The body of a ``com.hostgate.audit.checkpoint`` event (AsyncAPI ``auditCheckpoint``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    origin: str
    size: int = Field(ge=1)
    root: str
    note: str


class CheckpointForwarder:
    """Called on the writer's thread; queues the checkpoint in the outbox on the event loop."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._wake: Callable[[], None] = lambda: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, loop: asyncio.AbstractEventLoop, wake_relay: Callable[[], None]) -> None:
        """Bind to the running loop and the relay to wake (from the app's start-up)."""
        self._loop, self._wake = loop, wake_relay

    def __call__(self, note: str, checkpoint: Checkpoint) -> None:
        """Writer thread: schedule the outbox insert."""
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._schedule, note, checkpoint)

    def _schedule(self, note: str, checkpoint: Checkpoint) -> None:
        task = asyncio.create_task(self._queue(note, checkpoint))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _queue(self, note: str, checkpoint: Checkpoint) -> None:
        event = CloudEvent(
            id=new_id(),
            type=AUDIT_CHECKPOINT,
            subject=checkpoint.origin,
            time=datetime.now(UTC),
            data=canonical_json(
                {
                    "origin": checkpoint.origin,
                    "size": checkpoint.size,
                    "root": root_text(checkpoint),
                    "note": note,
                }
            ),
        )
        try:
            async with self._store.unit() as tx:
                await tx.outbox.append(outbox_row("", AUDIT.exchange, "checkpoint", event))
        except Exception as exc:  # noqa: BLE001 -- the local checkpoint file already holds it
            log.warning("audit.checkpoint_not_queued", error=type(exc).__name__)
            return
        self._wake()

    async def drain(self) -> None:
        """Wait for checkpoints still being queued (at shutdown)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
