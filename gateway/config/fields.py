"""Field types shared by the settings and business file models.

Secret references are resolved during validation from the environment passed in
the validation context (``{"env": mapping}``), so no module reads ``os.environ``
and a missing variable is reported at the field that names it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, HttpUrl, SecretStr, ValidationInfo

from gateway.disclosure.catalog import supported_locales

_ENV_REF = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")
_LOOPBACK_NAMES = frozenset({"localhost"})


def _environment(info: ValidationInfo) -> Mapping[str, str]:
    context: Any = info.context
    if not isinstance(context, Mapping) or not isinstance(context.get("env"), Mapping):
        raise ValueError("no environment given to resolve secret references")  # noqa: TRY004 -- pydantic wants ValueError to report at the field
    env: Mapping[str, str] = context["env"]
    return env


def _resolve_secret(value: object, info: ValidationInfo) -> SecretStr:
    # The input may be a literal secret pasted by mistake: never echo it back.
    if not isinstance(value, str) or not (match := _ENV_REF.fullmatch(value)):
        raise ValueError(
            "must be an environment reference like 'env:ACME_WEBHOOK_SECRET'; "
            "literal secrets are not allowed in config files"
        )
    name = match.group(1)
    resolved = _environment(info).get(name, "")
    if not resolved:
        raise ValueError(f"environment variable {name} is not set")
    return SecretStr(resolved)


EnvSecret = Annotated[SecretStr, BeforeValidator(_resolve_secret)]
"""A secret given in config as ``env:NAME`` and resolved from the environment."""


def _check_webhook_secret(value: SecretStr) -> SecretStr:
    raw = value.get_secret_value()
    if not raw.startswith("whsec_"):
        raise ValueError("the referenced variable must hold a Standard Webhooks secret (whsec_...)")
    try:
        decoded = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except ValueError as exc:
        raise ValueError("the referenced whsec_ secret is not valid base64") from exc
    if not 24 <= len(decoded) <= 64:  # noqa: PLR2004 -- Standard Webhooks: 24 to 64 bytes
        raise ValueError("the referenced whsec_ secret must decode to 24-64 bytes")
    return value


WebhookSecret = Annotated[EnvSecret, AfterValidator(_check_webhook_secret)]
"""An ``env:NAME`` reference to a ``whsec_`` secret."""


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_https(url: HttpUrl) -> HttpUrl:
    # Plain http is only for a receiver on this machine (local demos and tests).
    if url.scheme != "https" and not _is_loopback(url.host or ""):
        raise ValueError("must use https (http is allowed only for loopback hosts)")
    return url


HttpsUrl = Annotated[HttpUrl, AfterValidator(_check_https)]
"""An https URL, or http to a loopback host."""


def _check_locale(value: str) -> str:
    known = supported_locales()
    if value not in known:
        raise ValueError(f"unsupported locale {value!r}; supported: {', '.join(sorted(known))}")
    return value


Locale = Annotated[str, AfterValidator(_check_locale)]
"""A locale that has a notice catalog."""

_KEY_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def _check_key_hash(value: str) -> str:
    if not _KEY_HASH.fullmatch(value):
        raise ValueError(
            "must be 'sha256:' followed by 64 lowercase hex digits "
            "(the hash of an API key, never the key itself; make one with `hostgate apikey new`)"
        )
    return value


ApiKeyHash = Annotated[str, AfterValidator(_check_key_hash)]


def hash_api_key(key: str) -> str:
    """The ``sha256:<hex>`` form config files store instead of a key."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


"""The SHA-256 of an API key, as ``sha256:<hex>``."""
