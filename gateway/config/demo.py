"""The demo credentials shipped in this repository: public, so a real gateway must never run on them.

The example config's API keys, the network credential, the operator key and the
webhook secrets in ``demo.env`` are printed in the README and committed to git:
anyone can act as those businesses, as the network or as an operator with them.
``hostgate serve`` refuses a config that holds any of them unless told it is a
demo (``--demo`` or ``HOSTGATE_DEMO=1``).
"""

from __future__ import annotations

import hashlib

from gateway.config.loader import GatewayConfig

DEMO_ENV = "HOSTGATE_DEMO"

# sha256 of each public demo key, as config files store them.
_PUBLIC_KEY_HASHES = frozenset(
    {
        "sha256:af808997e08680a84660eb3fbf8dcbbcfb7b381fbde1e6b32ba9bf53c58596f6",  # warung-sari
        "sha256:42790477bb240bfb3e1a7978befdb0a54dfba3e37a40cd58de42067aef2ae732",  # nimbus-shop
        "sha256:9ff30ca26a3f04f8784dec07a19c2c455030833db046af18eca3aab4add77aa5",  # kirana-travel
        "sha256:8cf6b7bdd405ff20627f6eac460d754b35ca7c6d474b63c2701d6300ddbde2ea",  # the network
        "sha256:121b6290674d1eb9314bfd7c80ed8ceca6f7b00c4a06a698bf242a7239f7dd91",  # the operator
    }
)
# sha256 of each webhook secret in config/demo.env (digests, so this file holds no secret itself).
_PUBLIC_SECRET_DIGESTS = frozenset(
    {
        "d492b58d82a9bde81c195fabf0564222f35c465c8c2ba320282c98519118d3f7",
        "66b0d1cb697a6c28ddf36493738ab8f108695c8304387f0e1025c9678a0366d5",
        "121a188f77f4e05c354cb4d784c097df582ae67bc56592b897eb58b05e081c9a",
    }
)


def public_demo_credentials(config: GatewayConfig) -> list[str]:
    """Where ``config`` uses a public demo credential: one ``file [section] field`` entry each."""
    found = []
    settings_file = "gateway.toml"
    if set(config.settings.network.credential_hashes) & _PUBLIC_KEY_HASHES:
        found.append(f"{settings_file} [network] credential_hashes")
    if set(config.settings.console.operator_key_hashes) & _PUBLIC_KEY_HASHES:
        found.append(f"{settings_file} [console] operator_key_hashes")
    for business in sorted(config.businesses.values(), key=lambda b: b.id):
        name = f"businesses/{business.path.name}"
        if set(business.file.api.key_hashes) & _PUBLIC_KEY_HASHES:
            found.append(f"{name} [api] key_hashes")
        digests = {
            hashlib.sha256(s.get_secret_value().encode()).hexdigest() for s in business.file.webhook.secrets
        }
        if digests & _PUBLIC_SECRET_DIGESTS:
            found.append(f"{name} [webhook] secrets")
    return found
