"""Load and validate a config directory, reporting every problem with its file and field."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from adapters.base import AdapterContext, HostingAdapter, HostingFacts, WebhookTarget
from adapters.egress import EgressPolicy
from gateway.adapter_registry import AdapterRegistry
from gateway.config.business import BusinessFile
from gateway.config.envfile import read_env_file
from gateway.config.settings import AMQP_URL_ENV, STORE_URL_ENV, GatewaySettings
from gateway.errors import AdapterError, ConfigError, ConfigProblem, EnvFileError

SETTINGS_FILE = "gateway.toml"
BUSINESS_DIR = "businesses"

_FRIENDLY = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


@dataclass(frozen=True, slots=True)
class Business:
    """A validated business with its adapter and the facts that adapter declares."""

    file: BusinessFile
    path: Path
    adapter: HostingAdapter
    facts: HostingFacts

    @property
    def id(self) -> str:
        """The business id."""
        return self.file.id


@dataclass(frozen=True)
class GatewayConfig:
    """A whole config directory, valid as a unit."""

    directory: Path
    settings: GatewaySettings
    businesses: Mapping[str, Business]

    @cached_property
    def key_index(self) -> Mapping[str, str]:
        """Business id by API key hash: the tenant comes only from the key."""
        return {h: b.id for b in self.businesses.values() for h in b.file.api.key_hashes}

    def path(self, configured: Path) -> Path:
        """Resolve a path from the settings file against the config directory."""
        return configured if configured.is_absolute() else (self.directory / configured).resolve()


@dataclass
class _Collector:
    problems: list[ConfigProblem] = field(default_factory=list)

    def add(self, file: Path, where: str, message: str) -> None:
        self.problems.append(ConfigProblem(file, where, message))

    def add_validation(self, file: Path, exc: ValidationError, prefix: str = "") -> None:
        for error in exc.errors(include_input=False, include_url=False):
            location = _dotted(error["loc"])
            where = f"{prefix}.{location}" if prefix and location else prefix or location
            message = _FRIENDLY.get(error["type"], error["msg"])
            self.add(file, where, message.removeprefix("Value error, "))


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _read_toml(path: Path, problems: _Collector) -> dict[str, Any] | None:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        problems.add(path, "", f"not valid TOML: {exc}")
    except OSError as exc:
        problems.add(path, "", f"cannot read: {exc.strerror}")
    return None


def load_config(directory: Path, env: Mapping[str, str], registry: AdapterRegistry) -> GatewayConfig:
    """Validate ``directory``; raise ConfigError listing every problem when anything is wrong."""
    problems = _Collector()
    settings_path = directory / SETTINGS_FILE
    if not directory.is_dir():
        raise ConfigError([ConfigProblem(directory, "", "config directory does not exist")])
    raw_settings = _read_toml(settings_path, problems) if settings_path.exists() else {}
    if not settings_path.exists():
        problems.add(settings_path, "", "missing: every config directory needs a gateway.toml")

    settings = _validate_settings(settings_path, raw_settings, env, problems)
    full_env = _environment(directory, settings_path, settings, env, problems)
    egress = EgressPolicy(tuple(settings.egress.allow_networks)) if settings is not None else EgressPolicy()
    businesses = _load_businesses(directory / BUSINESS_DIR, full_env, registry, problems, egress)
    if problems.problems:
        raise ConfigError(problems.problems)
    assert settings is not None  # noqa: S101 -- no problems means the settings validated
    return GatewayConfig(directory.resolve(), settings, businesses)


def _validate_settings(
    path: Path, raw: dict[str, Any] | None, env: Mapping[str, str], problems: _Collector
) -> GatewaySettings | None:
    if raw is None:
        return None
    if env.get(AMQP_URL_ENV):
        raw = {**raw, "broker": {**raw.get("broker", {}), "url": env[AMQP_URL_ENV]}}
    if env.get(STORE_URL_ENV):
        raw = {**raw, "store": {**raw.get("store", {}), "url": env[STORE_URL_ENV]}}
    try:
        return GatewaySettings.model_validate(raw, context={"env": env})
    except ValidationError as exc:
        problems.add_validation(path, exc)
        return None


def _environment(
    directory: Path,
    settings_path: Path,
    settings: GatewaySettings | None,
    env: Mapping[str, str],
    problems: _Collector,
) -> Mapping[str, str]:
    if settings is None or settings.env_file is None:
        return env
    env_path = settings.env_file
    env_path = env_path if env_path.is_absolute() else directory / env_path
    try:
        from_file = read_env_file(env_path)
    except EnvFileError as exc:
        problems.add(settings_path, "env_file", str(exc))
        return env
    # The real environment wins, so an operator can override a demo value.
    return {**from_file, **env}


def _load_businesses(
    folder: Path,
    env: Mapping[str, str],
    registry: AdapterRegistry,
    problems: _Collector,
    egress: EgressPolicy,
) -> dict[str, Business]:
    businesses: dict[str, Business] = {}
    seen_ids: dict[str, Path] = {}
    seen_keys: dict[str, tuple[Path, str]] = {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        business = _load_business(path, env, registry, problems, egress)
        if business is None:
            continue
        if business.id in seen_ids:
            problems.add(
                path,
                "id",
                f"duplicate business id {business.id!r}, also in {seen_ids[business.id]}",
            )
            continue
        seen_ids[business.id] = path
        for i, key_hash in enumerate(business.file.api.key_hashes):
            if key_hash in seen_keys:
                other_path, other_id = seen_keys[key_hash]
                problems.add(
                    path,
                    f"api.key_hashes[{i}]",
                    f"the same API key hash is used by business {other_id!r} in {other_path}",
                )
            seen_keys[key_hash] = (path, business.id)
        businesses[business.id] = business
    return businesses


def _load_business(
    path: Path, env: Mapping[str, str], registry: AdapterRegistry, problems: _Collector, egress: EgressPolicy
) -> Business | None:
    raw = _read_toml(path, problems)
    if raw is None:
        return None
    before = len(problems.problems)
    file: BusinessFile | None = None
    try:
        file = BusinessFile.model_validate(raw, context={"env": env})
    except ValidationError as exc:
        problems.add_validation(path, exc)
    # Validate the adapter's own settings even when other fields failed, so one run shows all.
    hosting = raw.get("hosting")
    adapter_name = hosting.get("adapter") if isinstance(hosting, dict) else None
    if not isinstance(adapter_name, str):
        return None
    try:
        factory = registry.get(adapter_name)
    except AdapterError as exc:
        problems.add(path, "hosting.adapter", str(exc))
        return None
    settings = _validate_adapter_settings(path, factory.settings_model, hosting, env, problems)
    if file is None or settings is None or len(problems.problems) != before:
        return None
    context = AdapterContext(
        business_id=file.id,
        display_name=file.display_name,
        webhook=WebhookTarget(url=str(file.webhook.url), secrets=tuple(file.webhook.secrets)),
        egress=egress,
        timeout_seconds=file.delivery.timeout_seconds,
    )
    try:
        adapter = factory.create(context, settings)
        facts = adapter.facts()
    except (ValueError, AdapterError) as exc:  # pydantic's ValidationError is a ValueError
        problems.add(path, "hosting.settings", f"adapter {adapter_name!r} rejected its settings: {exc}")
        return None
    return Business(file=file, path=path, adapter=adapter, facts=facts)


def _validate_adapter_settings(
    path: Path,
    model: type[BaseModel],
    hosting: dict[str, Any] | None,
    env: Mapping[str, str],
    problems: _Collector,
) -> BaseModel | None:
    raw = hosting.get("settings", {}) if isinstance(hosting, dict) else {}
    if not isinstance(raw, dict):
        return None  # BusinessFile validation already reported the wrong type
    try:
        return model.model_validate(raw, context={"env": env})
    except ValidationError as exc:
        problems.add_validation(path, exc, prefix="hosting.settings")
        return None
