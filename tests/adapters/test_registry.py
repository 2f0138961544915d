"""Adapters shipped by other installed packages are found by the name a business file gives."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from adapters.base import HostingClass
from gateway.adapter_registry import AdapterRegistry
from gateway.config import load_config
from gateway.errors import AdapterError, ConfigError
from tests.conftest import edit, run_cli

PLUGIN_SOURCE = '''
"""A third-party adapter: chats carried by pigeons, operated by a partner company."""
from adapters.base import HostingClass
from adapters.memory import MemoryAdapter, MemorySettings


class CarrierFactory:
    settings_model = MemorySettings

    def create(self, context, settings):
        settings = settings.model_copy(
            update={"hosting_class": HostingClass.PARTNER, "operator": "Carrier Pigeons Ltd"}
        )
        return MemoryAdapter(context, settings)


factory = CarrierFactory()
broken = object()
'''


def install_plugin(site: Path, entry_points: str, source: str = PLUGIN_SOURCE) -> Path:
    """Lay out an installed distribution (module + dist-info with entry points) under ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    (site / "hostgate_carrier.py").write_text(source)
    dist = site / "hostgate_carrier-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hostgate-carrier\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return site


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site directory on sys.path holding an installed third-party adapter package."""
    site = install_plugin(
        tmp_path / "site",
        """
        [hostgate.adapters]
        carrier = hostgate_carrier:factory
        not_a_factory = hostgate_carrier:broken
        explodes = hostgate_carrier_missing:factory
        """,
    )
    monkeypatch.syspath_prepend(str(site))
    return site


def _use_adapter(config_dir: Path, name: str) -> None:
    edit(
        config_dir / "businesses" / "warung-sari.toml",
        lambda t: t.replace('adapter = "self_hosted"', f'adapter = "{name}"'),
    )


class TestRegistry:
    def test_builtins_registered(self) -> None:
        """The four built-in adapters are registered through the entry-point group."""
        assert {"self_hosted", "cloud", "partner", "memory"} <= set(AdapterRegistry().names())

    def test_third_party_adapter_found_by_name(self, plugin_site: Path, config_dir: Path) -> None:
        """A business file naming an adapter from another installed package loads it, with its facts."""
        _use_adapter(config_dir, "carrier")
        config = load_config(config_dir, {}, AdapterRegistry())
        facts = config.businesses["warung-sari"].facts
        assert facts.hosting_class is HostingClass.PARTNER
        assert facts.operator == "Carrier Pigeons Ltd"

    def test_third_party_adapter_from_cli(self, plugin_site: Path, config_dir: Path) -> None:
        """`hostgate disclosure show` in a fresh process finds the plugin and renders its notice."""
        _use_adapter(config_dir, "carrier")
        env = {**os.environ, "PYTHONPATH": str(plugin_site)}
        result = run_cli("disclosure", "show", "warung-sari", "--config", str(config_dir), env=env)
        assert result.returncode == 0, result.stderr
        assert "This business works with other companies to manage this chat." in result.stdout

    def test_plugin_that_is_not_a_factory(self, plugin_site: Path, config_dir: Path) -> None:
        """An entry point naming something that is not an AdapterFactory is a config error at hosting.adapter."""
        _use_adapter(config_dir, "not_a_factory")
        with pytest.raises(ConfigError) as caught:
            load_config(config_dir, {}, AdapterRegistry())
        [problem] = caught.value.problems
        assert problem.field == "hosting.adapter"
        assert "is not an AdapterFactory" in problem.message

    def test_plugin_that_fails_to_import(self, plugin_site: Path) -> None:
        """A plugin whose module cannot be imported is reported with its entry point, not a traceback."""
        with pytest.raises(AdapterError, match=r"adapter 'explodes' .* failed to load: ModuleNotFoundError"):
            AdapterRegistry().get("explodes")

    def test_unknown_adapter_lists_installed(self) -> None:
        """An unknown name lists what is installed."""
        with pytest.raises(AdapterError, match=r"unknown adapter 'nope'; installed: .*self_hosted"):
            AdapterRegistry().get("nope")
