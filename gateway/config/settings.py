"""The gateway settings file, ``gateway.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, unquote

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    IPvAnyNetwork,
    field_validator,
)
from pydantic_core import MultiHostHost, MultiHostUrl

from gateway.config.fields import ApiKeyHash, Locale
from gateway.errors import CheckpointError
from gateway.telemetry.tracing import tracing_installed
from gateway.transparency.note import COSIGNATURE_V1, Verifier

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
AMQP_URL_ENV = "HOSTGATE_AMQP_URL"
STORE_URL_ENV = "HOSTGATE_STORE_URL"


def _check_amqp(url: MultiHostUrl) -> MultiHostUrl:
    if url.scheme not in {"amqp", "amqps"}:
        raise ValueError("must be an amqp:// or amqps:// URL")
    if any(not host["host"] for host in url.hosts()):
        raise ValueError("every host of the URL needs a name")
    return url


# One host, or several separated by commas (the nodes of a cluster, tried in turn):
# amqp://user:pass@rabbit-1:5672,rabbit-2:5672,rabbit-3:5672/vhost
AmqpUrl = Annotated[MultiHostUrl, AfterValidator(_check_amqp)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class HttpSettings(_Section):
    """Where the HTTP API listens and what it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # A client must finish its request headers, and its body, within these (slowloris).
    header_timeout_seconds: float = Field(default=10, gt=0, le=300)
    body_timeout_seconds: float = Field(default=30, gt=0, le=600)
    # Past this many open connections a new one gets a 503 and is closed (bounded memory).
    max_connections: int = Field(default=1024, ge=1, le=100_000)
    # Reverse proxies whose X-Forwarded-Proto is believed (the console's cookie is Secure behind them).
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list, max_length=50)


class BrokerSettings(_Section):
    """How hostgate reaches RabbitMQ."""

    url: AmqpUrl = MultiHostUrl(DEFAULT_AMQP_URL)
    publish_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    reconnect_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # Readiness probes through each consumed queue: one every interval at most, and a queue is
    # stuck when its probe is older than the deadline and nothing else came from it meanwhile.
    probe_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    probe_deadline_seconds: float = Field(default=60.0, gt=0, le=3600)
    # Helper processes that sign fan-out notices on other cores (0: sign on the event loop).
    signing_processes: int = Field(default=1, ge=0, le=16)
    # How a hosting change's notices travel: "per_chat" (one signed message per chat) or
    # "batch" (one message per window, one signature over a Merkle root; the network splits
    # it with gateway.client.batches). Batch needs network consumers that split batches.
    notice_form: Literal["per_chat", "batch"] = "per_chat"
    # Chats per fan-out window: per window one confirm round (and in batch form one message).
    notice_window: int = Field(default=500, ge=1, le=10_000)

    def node_urls(self) -> list[str]:
        """One URL per host, in the order given; the first host's credentials serve for all."""
        hosts = self.url.hosts()
        first = hosts[0]
        credentials = ""
        if first["username"]:
            credentials = quote(unquote(first["username"]), safe="")
            if first["password"]:
                credentials += ":" + quote(unquote(first["password"]), safe="")
            credentials += "@"
        tail = (self.url.path or "/") + (f"?{self.url.query}" if self.url.query else "")
        return [f"{self.url.scheme}://{credentials}{_host_port(h)}{tail}" for h in hosts]

    def redacted_url(self) -> str:
        """The URL without its password, for logs and readiness answers (every host)."""
        first = self.url.hosts()[0]
        user = f"{first['username']}@" if first["username"] else ""
        hosts = ",".join(_host_port(h) for h in self.url.hosts())
        return f"{self.url.scheme}://{user}{hosts}{self.url.path or '/'}"


def _host_port(host: MultiHostHost) -> str:
    name = host["host"] or ""
    return f"{name}:{host['port']}" if host["port"] else name


def _check_store_url(url: str | None) -> str | None:
    if url is None:
        return None
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in {"sqlite", "postgresql", "postgres"}:
        raise ValueError(
            "must be sqlite:///path/to/file or postgresql://user@host:port/database"
            " (set here or by HOSTGATE_STORE_URL)"
        )
    return url


class StoreSettings(_Section):
    """Where durable state lives: the embedded SQLite file (default) or PostgreSQL."""

    # None: hostgate.sqlite3 in state_dir. HOSTGATE_STORE_URL overrides it.
    url: Annotated[str | None, AfterValidator(_check_store_url)] = None
    pool_size: int = Field(default=10, ge=1, le=200)

    def redacted_url(self) -> str:
        """The URL without its password, for logs."""
        if self.url is None:
            return "sqlite (state_dir)"
        scheme, _, rest = self.url.partition("://")
        credentials, at, location = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}{at}{location}" if at else self.url


class AuditSettings(_Section):
    """Where the audit trail goes and how often it is checkpointed."""

    dir: Path = Path("../var/audit")
    # Off only to measure what the trail costs: without it there is no compliance record.
    enabled: bool = True
    checkpoint_every: int = Field(default=1000, ge=1, le=10_000_000)
    checkpoint_seconds: float = Field(default=60.0, gt=0, le=86_400)
    rotate_megabytes: int = Field(default=64, ge=1, le=4096)


class NetworkSettings(_Section):
    """The network's own credential (hashes only), for the endpoints only the network may call."""

    credential_hashes: list[ApiKeyHash] = Field(default_factory=list, max_length=10)


class ConsoleSettings(_Section):
    """The web console under ``/console/``: on unless turned off; operators sign in with their own key."""

    enabled: bool = True
    # Hashes of operator keys: not business keys and not the network's credential.
    operator_key_hashes: list[ApiKeyHash] = Field(default_factory=list, max_length=20)
    session_minutes: int = Field(default=480, ge=1, le=7 * 24 * 60)


class RetentionSettings(_Section):
    """How often data past each business's declared retention is swept."""

    sweep_seconds: float = Field(default=60.0, gt=0, le=86_400)


class EgressSettings(_Section):
    """Networks deliveries may reach besides public addresses (loopback for tests and local demos)."""

    allow_networks: list[IPvAnyNetwork] = Field(default_factory=list, max_length=50)


def _cosigner_key(value: str) -> str:
    try:
        verifier = Verifier.parse(value)
    except CheckpointError as exc:
        raise ValueError(str(exc)) from exc
    if verifier.kind != COSIGNATURE_V1:
        raise ValueError("a witness key is a cosignature/v1 key (type byte 0x04)")
    return value


class WitnessSettings(_Section):
    """A witness the gateway asks to cosign each checkpoint (c2sp.org/tlog-witness)."""

    url: HttpUrl
    vkey: Annotated[str, AfterValidator(_cosigner_key)]


class TransparencySettings(_Section):
    """The transparency log of disclosures: its name (the checkpoint origin) and how often it is signed."""

    # A stable, globally unique name, by convention a host name and a path (c2sp.org/tlog-checkpoint).
    origin: str = Field(
        default="hostgate.local/disclosures", pattern=r"^[a-z0-9.-]+(/[A-Za-z0-9._/-]+)?$", max_length=200
    )
    checkpoint_seconds: float = Field(default=2.0, gt=0, le=3600)
    witnesses: list[WitnessSettings] = Field(default_factory=list, max_length=20)


class TracingSettings(_Section):
    """OpenTelemetry traces, exported over OTLP/HTTP; off by default (no OpenTelemetry code runs)."""

    enabled: bool = False
    otlp_endpoint: HttpUrl = HttpUrl("http://127.0.0.1:4318/v1/traces")
    service_name: str = Field(default="hostgate", min_length=1, max_length=100)
    # Of traces that start here (no sampled parent): the share kept. A parent's decision is followed.
    sample_ratio: float = Field(default=1.0, ge=0, le=1)

    @field_validator("enabled")
    @classmethod
    def _installed(cls, enabled: bool) -> bool:
        if enabled and not tracing_installed():
            raise ValueError("needs OpenTelemetry: pip install 'hostgate[tracing]'")
        return enabled


class GatewaySettings(_Section):
    """Everything in ``gateway.toml``; relative paths are taken from the config directory."""

    http: HttpSettings = HttpSettings()
    broker: BrokerSettings = BrokerSettings()
    store: StoreSettings = StoreSettings()
    audit: AuditSettings = AuditSettings()
    network: NetworkSettings = NetworkSettings()
    console: ConsoleSettings = ConsoleSettings()
    retention: RetentionSettings = RetentionSettings()
    egress: EgressSettings = EgressSettings()
    transparency: TransparencySettings = TransparencySettings()
    tracing: TracingSettings = TracingSettings()
    state_dir: Path = Path("../var/state")
    signing_key_dir: Path = Path("../var/keys")
    default_locale: Locale = "en"
    env_file: Path | None = None
