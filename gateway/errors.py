"""Errors raised by hostgate.

Every error hostgate raises on purpose derives from :class:`HostgateError`.
Lower-level errors (tomllib, pydantic, aiormq, aiohttp client, sqlite3, asyncpg)
are caught where they enter and re-raised as one of these ``from exc``; one HTTP
middleware (``gateway/http/errors.py``) maps them to status codes and JSON bodies.

* HostgateError
  + ConfigError            bad settings or business files; carries every problem found
  + EnvFileError           the env file is missing or malformed
  + AdapterError           a hosting adapter failed to load or to run
  + AuthError              unknown or revoked credential
  + DisclosureError        a disclosure cannot be built, signed or verified
    - StaleDisclosure      envelope sealed to a key that is no longer current
    - SignatureInvalid     a JWS is malformed, names an unknown key, or does not match
    - DisclosurePending    the business has no published disclosure yet
  + BrokerError            RabbitMQ unreachable or misbehaving
    - PublishNotConfirmed  the broker did not confirm (nack, return or timeout)
  + CloudEventError        a message lacks a CloudEvents attribute or has a malformed one
  + PoisonMessageError     a message from the network that can never be processed
  + StoreError             the store cannot be opened, read or written
    - StoreConflict        a write clashed with a unique key (someone else wrote it first)
    - StoreUnavailable     the store's server cannot be reached now (down, restarting): try again
  + CheckpointError        a checkpoint (audit trail or transparency log) is malformed or unsigned
    - LogForked            two checkpoints of one log that cannot both be true (fork or rollback)
    - NotInLog             a disclosure or audit record with no valid inclusion proof in a trusted checkpoint
  + TrailLocked            another writer holds the audit trail
  + WebhookRejected        a webhook is unsigned, forged, stale, replayed or not ours
  + SendRefused            a message a business may not send as asked
    - IdempotencyKeyReused the Idempotency-Key was used with a different body
    - RecipientBlocked     the recipient has blocked the business
  + RequestError           a business's HTTP request is wrong (status and code say how)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class HostgateError(Exception):
    """Root of every error hostgate raises on purpose."""

    code = "hostgate_error"


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong in one config file, at one field."""

    file: Path
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else str(self.file)
        return f"{where}: {self.message}"


class ConfigError(HostgateError):
    """The config directory is invalid; ``problems`` lists everything found, not just the first."""

    code = "config_invalid"

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class AdapterError(HostgateError):
    """A hosting adapter could not be loaded or failed while running."""

    code = "adapter_error"


class AuthError(HostgateError):
    """The caller's credential is missing, unknown or revoked."""

    code = "unauthorized"


class DisclosureError(HostgateError):
    """A disclosure could not be built, signed or verified."""

    code = "disclosure_error"


class StaleDisclosure(DisclosureError):  # noqa: N818 -- the name reads as the condition, like httpx's
    """An envelope was sealed to a key that is no longer the business's current one."""

    code = "disclosure_stale"


class BrokerError(HostgateError):
    """RabbitMQ is unreachable or answered in a way we cannot work with."""

    code = "broker_error"


class PublishNotConfirmed(BrokerError):  # noqa: N818 -- reads as the condition it reports
    """The broker nacked, returned or did not confirm a publish in time."""

    code = "publish_not_confirmed"


class SignatureInvalid(DisclosureError):  # noqa: N818 -- reads as the condition it reports
    """A JWS is malformed, names an unknown key, or does not match the payload."""

    code = "signature_invalid"


class DisclosurePending(DisclosureError):  # noqa: N818 -- reads as the condition it reports
    """The business has no published disclosure yet: nothing may be sent under it."""

    code = "disclosure_pending"

    def __init__(self, message: str = "the business has no published disclosure yet") -> None:
        super().__init__(message)


class SendRefused(HostgateError):  # noqa: N818 -- reads as what happened to the message
    """A business's message cannot be accepted as asked."""

    code = "send_refused"


class IdempotencyKeyReused(SendRefused):
    """The Idempotency-Key was used before with a different body."""

    code = "idempotency_key_reused"

    def __init__(self, message: str = "this Idempotency-Key was used with a different body") -> None:
        super().__init__(message)


class RecipientBlocked(SendRefused):
    """The recipient has blocked this business."""

    code = "user_blocked"

    def __init__(self, message: str = "the recipient has blocked this business; nothing was sent") -> None:
        super().__init__(message)


class EnvFileError(HostgateError):
    """The env file is missing or has a line that is not ``NAME=value``."""

    code = "config_invalid"


class CloudEventError(HostgateError):
    """A message lacks a required CloudEvents attribute or has a malformed one."""

    code = "cloudevent_invalid"


class StoreError(HostgateError):
    """The store could not be opened, read or written (the message may name a file: log it, never serve)."""

    code = "store_error"


class StoreConflict(StoreError):  # noqa: N818 -- reads as the condition it reports
    """A write clashed with a unique key: another unit wrote the same row first."""

    code = "store_conflict"


class StoreUnavailable(StoreError):  # noqa: N818 -- reads as the condition it reports
    """The store's server cannot be reached now (refused, restarting, connection lost): transient.

    Nothing about the work at hand is wrong; the same work succeeds once the server is back,
    so whoever holds a message waits and tries again rather than counting it as a failure.
    """

    code = "store_unavailable"


class CheckpointError(HostgateError):
    """A checkpoint note is malformed or its signature does not verify."""

    code = "checkpoint_invalid"


class LogForked(CheckpointError):  # noqa: N818 -- reads as the condition it reports
    """Two checkpoints of one log that cannot both be true; both notes are kept to show anyone."""

    code = "log_forked"

    def __init__(self, message: str, seen: str, offered: str) -> None:
        super().__init__(
            f"{message}\n--- checkpoint seen before ---\n{seen}--- checkpoint offered ---\n{offered}"
        )
        self.seen = seen
        self.offered = offered


class NotInLog(CheckpointError):  # noqa: N818 -- reads as the condition it reports
    """A disclosure or audit record without a valid inclusion proof in a checkpoint the client trusts."""

    code = "not_in_log"


class TrailLocked(HostgateError):  # noqa: N818 -- reads as the state of the trail
    """Another writer (most likely a running gateway) holds the trail."""

    code = "trail_locked"


class WebhookRejected(HostgateError):  # noqa: N818 -- reads as what happened to the webhook
    """The webhook is unsigned, forged, outside the time window, a replay, or not for this key."""

    code = "webhook_rejected"


class PoisonMessageError(HostgateError):
    """A message from the network that can never be processed: it is dead-lettered."""

    code = "poison_message"


class RequestError(HostgateError):
    """A request the caller must change: carries its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.headers = headers or {}
