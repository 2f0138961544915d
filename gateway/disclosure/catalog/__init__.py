"""Notice texts per locale, kept as JSON data files beside this module.

Each ``<locale>.json`` holds the notice for every hosting class; ``{operator}``
marks where the operator's name goes. English is the fallback for any locale
without a file.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from adapters.base import HostingClass

FALLBACK_LOCALE = "en"
OPERATOR_SLOT = "{operator}"


class LocaleCatalog(BaseModel):
    """The notice texts of one locale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    locale: str
    name: str
    direction: Literal["ltr", "rtl"]
    notices: dict[HostingClass, str]
    changed: str
    learn_more: str

    @model_validator(mode="after")
    def _complete(self) -> LocaleCatalog:
        missing = set(HostingClass) - set(self.notices)
        if missing:
            raise ValueError(f"no notice for {sorted(missing)}")
        if OPERATOR_SLOT not in self.notices[HostingClass.CLOUD]:
            raise ValueError(f"the cloud notice must name the operator with {OPERATOR_SLOT}")
        return self


@cache
def load_catalogs() -> dict[str, LocaleCatalog]:
    """Read every locale file shipped with the package, keyed by locale."""
    catalogs: dict[str, LocaleCatalog] = {}
    for entry in resources.files(__package__).iterdir():
        if entry.name.endswith(".json"):
            catalog = LocaleCatalog.model_validate(json.loads(entry.read_text(encoding="utf-8")))
            catalogs[catalog.locale] = catalog
    return catalogs


def supported_locales() -> frozenset[str]:
    """Locales that have a catalog."""
    return frozenset(load_catalogs())


def resolve_locale(requested: str | None) -> str:
    """Pick the catalog for a client locale: exact, then its language, then English."""
    catalogs = load_catalogs()
    if requested:
        tag = requested.replace("_", "-").strip()
        for candidate in (tag, tag.split("-", 1)[0].lower()):
            if candidate in catalogs:
                return candidate
    return FALLBACK_LOCALE
