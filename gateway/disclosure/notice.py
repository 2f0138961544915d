"""Render the in-chat notice a client shows, from a business's hosting facts."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from adapters.base import HostingFacts
from gateway.disclosure.catalog import OPERATOR_SLOT, load_catalogs, resolve_locale

# First-strong isolate / pop directional isolate (Unicode TR9): a Latin operator name
# inside Arabic text must not reorder the words around it.
_FSI, _PDI = "\u2068", "\u2069"


class Notice(BaseModel):
    """What a chat client shows for one business, in one locale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    locale: str
    direction: str
    text: str
    learn_more_label: str
    learn_more_url: str


def render_notice(facts: HostingFacts, learn_more_url: str, locale: str | None) -> Notice:
    """Render the notice for a locale, falling back to English when it has no catalog."""
    catalog = load_catalogs()[resolve_locale(locale)]
    operator = facts.operator
    if catalog.direction == "rtl":
        operator = f"{_FSI}{operator}{_PDI}"
    # str.replace, not str.format: an operator name may contain braces.
    text = catalog.notices[facts.hosting_class].replace(OPERATOR_SLOT, operator)
    return Notice(
        locale=catalog.locale,
        direction=catalog.direction,
        text=text,
        learn_more_label=catalog.learn_more,
        learn_more_url=learn_more_url,
    )


def render_all(facts: HostingFacts, learn_more_url: str) -> dict[str, Notice]:
    """Render the notice in every supported locale, keyed by locale."""
    return {locale: render_notice(facts, learn_more_url, locale) for locale in load_catalogs()}
