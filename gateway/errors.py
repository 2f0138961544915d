"""Errors raised by hostgate.

Every error hostgate raises on purpose derives from :class:`HostgateError`.
Lower-level errors (tomllib, pydantic, aiormq, aiohttp client, sqlite3) are
caught where they enter and re-raised as one of these ``from exc``; one HTTP
middleware maps them to status codes and JSON bodies.

* HostgateError
  + ConfigError            bad settings or business files; carries every problem found
  + AdapterError           a hosting adapter failed to load or to run
  + AuthError              unknown or revoked credential
  + DisclosureError        a disclosure cannot be built, signed or verified
    - StaleDisclosure      envelope sealed to a key that is no longer current
  + BrokerError            RabbitMQ unreachable or misbehaving
    - PublishNotConfirmed  the broker did not confirm (nack, return or timeout)
  + PoisonMessageError     a message from the network that can never be processed
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
