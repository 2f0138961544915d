"""The repository's demo credentials are public: `hostgate serve` runs on them only when told it is a demo."""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path

from gateway.adapter_registry import AdapterRegistry
from gateway.cli.common import EXIT_INVALID
from gateway.config import load_config
from gateway.config.demo import public_demo_credentials
from gateway.config.fields import hash_api_key
from tests.conftest import edit, run_cli


def test_serve_refuses_the_demo_credentials_naming_each(config_dir: Path) -> None:
    """Without --demo, serve exits at once and names every file and field holding a public credential."""
    done = run_cli("serve", "--config", str(config_dir), "--port", "0", env={})
    assert done.returncode == EXIT_INVALID, done.stdout + done.stderr
    for where in (
        "gateway.toml [network] credential_hashes",
        "gateway.toml [console] operator_key_hashes",
        "businesses/warung-sari.toml [api] key_hashes",
        "businesses/warung-sari.toml [webhook] secrets",
        "businesses/kirana-travel.toml [webhook] secrets",
    ):
        assert f"{config_dir / where}: holds a public demo credential" in done.stderr, done.stderr
    assert "--demo" in done.stderr
    assert "gateway.started" not in done.stdout


def _own_credentials(config_dir: Path) -> dict[str, str]:
    """Replace every demo credential with a fresh one, as an operator going live does."""
    env: dict[str, str] = {}
    for path in [config_dir / "gateway.toml", *sorted((config_dir / "businesses").glob("*.toml"))]:
        edit(
            path,
            lambda t: re.sub(
                r'"sha256:[0-9a-f]{64}"', lambda _m: f'"{hash_api_key(secrets.token_urlsafe())}"', t
            ),
        )
    edit(config_dir / "gateway.toml", lambda t: t.replace('env_file = "demo.env"', ""))
    for line in (config_dir / "demo.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            fresh = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
            env[name] = fresh if value.startswith("whsec_") else secrets.token_hex(8)
    return env


def test_own_credentials_are_not_flagged(config_dir: Path) -> None:
    """A config whose keys and secrets are its own holds no public demo credential."""
    env = _own_credentials(config_dir)
    config = load_config(config_dir, env, AdapterRegistry())
    assert public_demo_credentials(config) == []
