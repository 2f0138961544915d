"""The signed documents: a business's disclosure and a per-chat notice.

The body published is the canonical JSON of one of these models; its detached
JWS travels in the ``cloudEvents_jws`` header. ``event`` repeats the message's
CloudEvents attributes inside the signed body, so a changed AMQP header is
detected while the JWS stays plain (``alg`` and ``kid`` only) for any JOSE library.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from adapters.base import EndpointKey, HostingClass
from gateway.config.loader import Business
from gateway.disclosure.catalog import load_catalogs
from gateway.disclosure.notice import render_all


class NoticeText(BaseModel):
    """A notice in one locale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    direction: Literal["ltr", "rtl"]
    learn_more_label: str
    changed: str


class DisclosureDocument(BaseModel):
    """Where a business hosts its chats, at one revision; signed by the gateway."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    business_id: str
    business_name: str
    revision: int
    previous_revision: int | None
    hosting_class: HostingClass
    operator: str
    region: str
    retention_seconds: int
    end_to_end: bool
    endpoint_key: EndpointKey
    notices: dict[str, NoticeText]
    learn_more_url: str
    effective_at: datetime
    event: dict[str, str] = Field(default_factory=dict)


class NoticeDocument(BaseModel):
    """A per-chat notice: this user must be shown the business's current disclosure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    notice_id: str
    reason: Literal["hosting_changed", "disclosure_stale"]
    business_id: str
    business_name: str
    user_id: str
    revision: int
    previous_revision: int | None
    hosting_class: HostingClass
    operator: str
    end_to_end: bool
    endpoint_key: EndpointKey
    notices: dict[str, NoticeText]
    learn_more_url: str
    effective_at: datetime
    event: dict[str, str] = Field(default_factory=dict)


def canonical_json(value: object) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same value always gives the same bytes."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def notice_texts(business: Business) -> dict[str, NoticeText]:
    """The notice in every supported locale."""
    catalogs = load_catalogs()
    return {
        locale: NoticeText(
            text=notice.text,
            direction="rtl" if notice.direction == "rtl" else "ltr",
            learn_more_label=notice.learn_more_label,
            changed=catalogs[locale].changed,
        )
        for locale, notice in render_all(business.facts, str(business.file.learn_more_url)).items()
    }


def hosting_fingerprint(business: Business) -> str:
    """Digest of the hosting facts and adapter: when it changes, open chats get a notice."""
    facts = business.facts.model_dump(mode="json")
    return _digest({"adapter": business.file.hosting.adapter, "facts": facts})


def document_fingerprint(business: Business) -> str:
    """Digest of everything the disclosure says: when it changes, a new revision is published."""
    return _digest(
        {
            "hosting": hosting_fingerprint(business),
            "name": business.file.display_name,
            "learn_more_url": str(business.file.learn_more_url),
            "notices": {k: v.model_dump() for k, v in notice_texts(business).items()},
        }
    )


def _digest(value: object) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def build_disclosure(
    business: Business, revision: int, previous: int | None, now: datetime
) -> DisclosureDocument:
    """The disclosure for ``business`` at ``revision``."""
    facts = business.facts
    return DisclosureDocument(
        business_id=business.id,
        business_name=business.file.display_name,
        revision=revision,
        previous_revision=previous,
        hosting_class=facts.hosting_class,
        operator=facts.operator,
        region=facts.region,
        retention_seconds=int(facts.retention.total_seconds()),
        end_to_end=facts.end_to_end,
        endpoint_key=facts.endpoint_key,
        notices=notice_texts(business),
        learn_more_url=str(business.file.learn_more_url),
        effective_at=now,
    )


def notice_template(disclosure: DisclosureDocument, reason: str) -> dict[str, Any]:
    """The fields every per-chat notice of one revision shares (user and id are added per chat)."""
    return {
        "reason": reason,
        "business_id": disclosure.business_id,
        "business_name": disclosure.business_name,
        "revision": disclosure.revision,
        "previous_revision": disclosure.previous_revision,
        "hosting_class": disclosure.hosting_class.value,
        "operator": disclosure.operator,
        "end_to_end": disclosure.end_to_end,
        "endpoint_key": disclosure.endpoint_key.model_dump(mode="json"),
        "notices": {k: v.model_dump() for k, v in disclosure.notices.items()},
        "learn_more_url": disclosure.learn_more_url,
        "effective_at": disclosure.effective_at.isoformat(),
    }
