"""Onboarding config: the examples load, and every broken file is named with its field."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.base import HostingClass
from gateway.adapter_registry import AdapterRegistry
from gateway.config import load_config
from gateway.errors import ConfigError
from tests.conftest import edit

LITERAL_SECRET = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="


def _sub(old: str, new: str) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, f"{old!r} not in file"
        return text.replace(old, new, 1)

    return change


def _append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


def _prepend(extra: str) -> Callable[[str], str]:
    # Top-level keys must come before the first [table] in TOML.
    return lambda text: extra + text


def _remove_line(prefix: str) -> Callable[[str], str]:
    return lambda text: "\n".join(line for line in text.splitlines() if not line.startswith(prefix))


@dataclass(frozen=True)
class Broken:
    name: str
    file: str
    change: Callable[[str], str]
    field: str
    says: str


WARUNG = "businesses/warung-sari.toml"
NIMBUS = "businesses/nimbus-shop.toml"
KIRANA = "businesses/kirana-travel.toml"

BROKEN = [
    Broken(
        "unknown field",
        WARUNG,
        _prepend('favourite_colour = "red"\n'),
        "favourite_colour",
        "unknown field",
    ),
    Broken("wrong type", WARUNG, _sub("burst = 100", 'burst = "lots"'), "rate_limit.burst", "integer"),
    Broken(
        "unknown adapter",
        WARUNG,
        _sub('adapter = "self_hosted"', 'adapter = "carrier_pigeon"'),
        "hosting.adapter",
        "unknown adapter 'carrier_pigeon'",
    ),
    Broken(
        "missing secret variable",
        WARUNG,
        _sub("env:WARUNG_SARI_WEBHOOK_SECRET", "env:NOT_SET_ANYWHERE"),
        "webhook.secrets[0]",
        "NOT_SET_ANYWHERE is not set",
    ),
    Broken(
        "literal secret",
        WARUNG,
        _sub('"env:WARUNG_SARI_WEBHOOK_SECRET"', f'"{LITERAL_SECRET}"'),
        "webhook.secrets[0]",
        "literal secrets are not allowed",
    ),
    Broken(
        "not a whsec secret",
        NIMBUS,
        _sub("env:NIMBUS_SHOP_WEBHOOK_SECRET", "env:NIMBUS_CLOUD_TOKEN"),
        "webhook.secrets[0]",
        "whsec_",
    ),
    Broken(
        "bad URL",
        WARUNG,
        _sub(
            'learn_more_url = "https://hostgate.example/learn-more/self-hosted"',
            'learn_more_url = "not a url"',
        ),
        "learn_more_url",
        "URL",
    ),
    Broken(
        "plain http to a remote host",
        NIMBUS,
        _sub('url = "http://127.0.0.1:9101/nimbus"', 'url = "http://nimbus.example/hook"'),
        "webhook.url",
        "must use https",
    ),
    Broken(
        "bad locale",
        KIRANA,
        _sub('locales = ["id", "en", "ar"]', 'locales = ["id", "en", "xx"]'),
        "locales[2]",
        "unsupported locale 'xx'",
    ),
    Broken(
        "default locale not offered",
        KIRANA,
        _prepend('default_locale = "fr"\n'),
        "default_locale",
        "not listed in locales",
    ),
    Broken(
        "negative rate limit",
        WARUNG,
        _sub("per_second = 50", "per_second = -5"),
        "rate_limit.per_second",
        "greater than 0",
    ),
    Broken("bad id", WARUNG, _sub('id = "warung-sari"', 'id = "Warung Sari!"'), "id", "pattern"),
    Broken(
        "missing field",
        WARUNG,
        _remove_line("display_name"),
        "display_name",
        "required field is missing",
    ),
    Broken(
        "bad API key hash",
        NIMBUS,
        _sub('"sha256:4279', '"md5:4279'),
        "api.key_hashes[0]",
        "sha256:",
    ),
    Broken(
        "short endpoint key",
        WARUNG,
        _sub('public_key = "gxvBqcZa-g6FgSHuGuN-S6x9YSL5Atu_3v0p29UH-HM"', 'public_key = "AAAA"'),
        "hosting.settings.endpoint_key",
        "must be 32 bytes",
    ),
    Broken(
        "unknown adapter setting",
        NIMBUS,
        _sub('region = "sg-1"', 'region = "sg-1"\ncolour = "blue"'),
        "hosting.settings.colour",
        "unknown field",
    ),
    Broken(
        "cloud without operator",
        NIMBUS,
        _remove_line("operator ="),
        "hosting.settings.operator",
        "required field is missing",
    ),
    Broken(
        "negative retention",
        KIRANA,
        _sub("retention_days = 7", "retention_days = -1"),
        "hosting.settings.retention_days",
        "greater than or equal to 0",
    ),
    Broken(
        "spoofing operator name",
        KIRANA,
        _sub('operator = "Chatwise Solutions"', 'operator = "Chatwise\\u202eSolutions"'),
        "hosting.settings.operator",
        "control or formatting",
    ),
    Broken(
        "display name with a bidi override",
        KIRANA,
        _sub('display_name = "Kirana Travel"', 'display_name = "Kirana\\u202eTravel"'),
        "display_name",
        "control or formatting",
    ),
    Broken(
        "display name with a terminal escape",
        KIRANA,
        _sub('display_name = "Kirana Travel"', 'display_name = "Kirana \\u001b[31mTravel"'),
        "display_name",
        "control or formatting",
    ),
    Broken(
        "adapter secret unset",
        KIRANA,
        _sub("env:KIRANA_PARTNER_TOKEN", "env:KIRANA_MISSING"),
        "hosting.settings.auth.token",
        "KIRANA_MISSING is not set",
    ),
    Broken("invalid TOML", WARUNG, _append("\nthis is = = not toml\n"), "", "not valid TOML"),
    Broken(
        "broker URL scheme",
        "gateway.toml",
        _sub('url = "amqp://guest:guest@127.0.0.1:5672/"', 'url = "http://127.0.0.1:5672/"'),
        "broker.url",
        "amqp://",
    ),
    Broken(
        "port out of range",
        "gateway.toml",
        _sub("port = 8080", "port = 70000"),
        "http.port",
        "less than or equal to 65535",
    ),
    Broken(
        "gateway default locale",
        "gateway.toml",
        _sub('default_locale = "en"', 'default_locale = "klingon"'),
        "default_locale",
        "unsupported locale",
    ),
    Broken(
        "missing env file",
        "gateway.toml",
        _sub('env_file = "demo.env"', 'env_file = "nowhere.env"'),
        "env_file",
        "cannot read env file",
    ),
]


def _load(config_dir: Path, env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir, env, AdapterRegistry())
    return caught.value


class TestExamples:
    def test_example_config_loads(self, config_dir: Path, env: dict[str, str]) -> None:
        """The shipped example config is valid and declares one business per hosting class."""
        config = load_config(config_dir, env, AdapterRegistry())
        classes = {b.id: b.facts.hosting_class for b in config.businesses.values()}
        assert classes == {
            "warung-sari": HostingClass.SELF_HOSTED,
            "nimbus-shop": HostingClass.CLOUD,
            "kirana-travel": HostingClass.PARTNER,
        }
        assert config.businesses["nimbus-shop"].facts.operator == "Meta"
        assert config.businesses["warung-sari"].facts.end_to_end is True

    def test_environment_overrides_env_file(self, config_dir: Path) -> None:
        """A variable set in the real environment wins over the demo env file."""
        env = {"NIMBUS_CLOUD_TOKEN": "from-the-environment"}
        config = load_config(config_dir, env, AdapterRegistry())
        settings = config.businesses["nimbus-shop"].adapter._settings  # type: ignore[attr-defined]
        assert settings.auth.token.get_secret_value() == "from-the-environment"

    def test_amqp_url_from_environment(self, config_dir: Path) -> None:
        """HOSTGATE_AMQP_URL replaces the broker URL of gateway.toml."""
        env = {"HOSTGATE_AMQP_URL": "amqp://u:p@127.0.0.1:5673/vh"}
        config = load_config(config_dir, env, AdapterRegistry())
        assert config.settings.broker.redacted_url() == "amqp://u@127.0.0.1:5673/vh"

    def test_store_url_from_environment(self, config_dir: Path) -> None:
        """HOSTGATE_STORE_URL chooses the store engine over gateway.toml; its password never reaches logs."""
        env = {"HOSTGATE_STORE_URL": "postgresql://hg:secret@db.internal:5432/hostgate?schema=blue"}
        config = load_config(config_dir, env, AdapterRegistry())
        assert config.settings.store.url == env["HOSTGATE_STORE_URL"]
        assert config.settings.store.redacted_url() == "postgresql://hg@db.internal:5432/hostgate?schema=blue"

    def test_bad_store_url_names_the_field(self, config_dir: Path) -> None:
        """A store URL of an unknown kind is refused at store.url, saying what is accepted."""
        error = _load(config_dir, {"HOSTGATE_STORE_URL": "mysql://root@127.0.0.1/hostgate"})
        (problem,) = [p for p in error.problems if p.field == "store.url"]
        assert "postgresql://" in problem.message


class TestBrokenConfigs:
    @pytest.mark.parametrize("case", BROKEN, ids=[c.name for c in BROKEN])
    def test_problem_names_file_and_field(self, case: Broken, config_dir: Path, env: dict[str, str]) -> None:
        """Each broken config is refused with its file, its field and what is wrong."""
        path = config_dir / case.file
        edit(path, case.change)
        error = _load(config_dir, env)
        matching = [p for p in error.problems if p.file == path and p.field == case.field]
        assert matching, f"no problem at {case.file}:{case.field}; got {[str(p) for p in error.problems]}"
        assert any(case.says in p.message for p in matching), [p.message for p in matching]

    def test_duplicate_business_id(self, config_dir: Path, env: dict[str, str]) -> None:
        """Two files with the same id are refused, naming both."""
        copy = config_dir / "businesses" / "warung-sari-copy.toml"
        shutil.copy(config_dir / WARUNG, copy)
        edit(copy, _sub("sha256:af80", "sha256:bf80"))
        error = _load(config_dir, env)
        [problem] = error.problems
        original = config_dir / WARUNG
        assert {problem.file, Path(problem.message.rsplit("also in ", 1)[1])} == {copy, original}
        assert problem.field == "id"
        assert "duplicate business id 'warung-sari'" in problem.message

    def test_api_key_shared_between_businesses(self, config_dir: Path, env: dict[str, str]) -> None:
        """One API key hash in two businesses is refused: the key would not tell the tenant."""
        warung_hash = "sha256:af808997e08680a84660eb3fbf8dcbbcfb7b381fbde1e6b32ba9bf53c58596f6"
        edit(config_dir / NIMBUS, lambda t: re.sub(r'"sha256:4279[0-9a-f]+"', f'"{warung_hash}"', t))
        error = _load(config_dir, env)
        assert [(p.file.name, p.field) for p in error.problems] == [("warung-sari.toml", "api.key_hashes[0]")]
        assert "nimbus-shop" in error.problems[0].message

    def test_every_problem_reported_together(self, config_dir: Path, env: dict[str, str]) -> None:
        """Problems in several files and fields come out of one run, not one at a time."""
        edit(config_dir / WARUNG, _sub("burst = 100", "burst = 0"))
        edit(config_dir / WARUNG, _prepend('nickname = "ws"\n'))
        edit(config_dir / NIMBUS, _sub('adapter = "cloud"', 'adapter = "nope"'))
        edit(config_dir / KIRANA, _sub("retention_days = 7", "retention_days = -3"))
        edit(config_dir / "gateway.toml", _sub("port = 8080", "port = -1"))
        error = _load(config_dir, env)
        found = {(p.file.name, p.field) for p in error.problems}
        assert found >= {
            ("warung-sari.toml", "rate_limit.burst"),
            ("warung-sari.toml", "nickname"),
            ("nimbus-shop.toml", "hosting.adapter"),
            ("kirana-travel.toml", "hosting.settings.retention_days"),
            ("gateway.toml", "http.port"),
        }

    def test_literal_secret_never_echoed(self, config_dir: Path, env: dict[str, str]) -> None:
        """A secret pasted into a file by mistake does not appear in the error that reports it."""
        edit(config_dir / WARUNG, _sub('"env:WARUNG_SARI_WEBHOOK_SECRET"', f'"{LITERAL_SECRET}"'))
        error = _load(config_dir, env)
        assert LITERAL_SECRET not in str(error)
        assert LITERAL_SECRET.removeprefix("whsec_") not in str(error)

    def test_missing_directory(self, tmp_path: Path, env: dict[str, str]) -> None:
        """A config directory that does not exist is named as such."""
        error = _load(tmp_path / "absent", env)
        assert "does not exist" in str(error)

    def test_missing_gateway_settings(self, config_dir: Path, env: dict[str, str]) -> None:
        """A directory without gateway.toml is refused, naming the file."""
        (config_dir / "gateway.toml").unlink()
        error = _load(config_dir, env)
        assert any(p.file.name == "gateway.toml" and "missing" in p.message for p in error.problems)


def test_broken_cases_cover_fifteen_kinds() -> None:
    """The onboarding review is tested against at least fifteen distinct broken configs."""
    assert len({c.name for c in BROKEN}) >= 15
