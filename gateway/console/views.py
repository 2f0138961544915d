"""What the console pages show, shaped from signed disclosures and audit records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.checkpoint import split_notes, verify_note
from gateway.audit.query import details
from gateway.client.render import pick_locale
from gateway.disclosure.catalog import load_catalogs
from gateway.disclosure.document import DisclosureDocument
from gateway.errors import CheckpointError

# The audit table shows the newest rows that match; the CLI exports everything.
AUDIT_ROWS = 500


@dataclass(frozen=True, slots=True)
class LocaleOption:
    """One entry of the locale picker."""

    tag: str
    name: str


def locale_options() -> list[LocaleOption]:
    """Every locale the catalogs cover, English first."""
    catalogs = load_catalogs()
    return [LocaleOption(tag, catalogs[tag].name) for tag in sorted(catalogs, key=lambda t: (t != "en", t))]


@dataclass(frozen=True, slots=True)
class Bubble:
    """A notice as a chat client draws it, in one locale."""

    lang: str
    direction: str
    changed: str | None
    text: str
    learn_more_label: str
    learn_more_url: str


@dataclass(frozen=True, slots=True)
class NoticeCard:
    """A business's disclosure at one revision, with its bubble."""

    business_id: str
    business_name: str
    revision: int
    hosting_class: str
    operator: str
    region: str
    retention: str
    end_to_end: bool
    endpoint_kid: str
    effective_at: str
    bubble: Bubble


def _retention(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    if rest == 0 and days:
        return f"{days} day{'s' if days != 1 else ''}"
    return f"{seconds} s"


def _hosting(document: DisclosureDocument) -> tuple[str, str, str, str]:
    return (document.hosting_class.value, document.operator, document.region, document.endpoint_key.kid)


def notice_card(
    document: DisclosureDocument, locale: str, previous: DisclosureDocument | None = None
) -> NoticeCard:
    """The card for a disclosure; a hosting change from ``previous`` adds its lead line."""
    chosen = pick_locale(document.notices, locale)
    notice = document.notices[chosen]
    changed = None
    if previous is not None and _hosting(previous) != _hosting(document):
        changed = notice.changed
    return NoticeCard(
        business_id=document.business_id,
        business_name=document.business_name,
        revision=document.revision,
        hosting_class=document.hosting_class.value,
        operator=document.operator,
        region=document.region,
        retention=_retention(document.retention_seconds),
        end_to_end=document.end_to_end,
        endpoint_kid=document.endpoint_key.kid,
        effective_at=document.effective_at.isoformat(timespec="seconds"),
        bubble=Bubble(
            lang=chosen,
            direction=notice.direction,
            changed=changed,
            text=notice.text,
            learn_more_label=notice.learn_more_label,
            learn_more_url=document.learn_more_url,
        ),
    )


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One trail record as a table row."""

    seq: int
    ts: str
    event: str
    business: str
    user: str
    details: str


def audit_row(record: dict[str, Any]) -> AuditRow:
    """The row for a trail record."""
    return AuditRow(
        seq=int(record["seq"]),
        ts=str(record["ts"]),
        event=str(record["event"]),
        business=str(record.get("business", "")),
        user=str(record.get("user", "")),
        details=details(record),
    )


@dataclass(frozen=True, slots=True)
class CheckpointStatus:
    """How far signed checkpoints cover the trail."""

    count: int
    covered: int
    last_at: datetime | None
    problem: str | None


def checkpoint_status(notes_file: Path, keys: dict[str, Ed25519PublicKey]) -> CheckpointStatus:
    """Count the checkpoints and check the signature of the newest one."""
    if not notes_file.exists():
        return CheckpointStatus(0, 0, None, None)
    notes = split_notes(notes_file.read_text())
    if not notes:
        return CheckpointStatus(0, 0, None, None)
    try:
        last = verify_note(notes[-1], keys)
    except CheckpointError as exc:
        return CheckpointStatus(len(notes), 0, None, str(exc))
    # A checkpoint body has no time line (the standard format); the file was last written with it.
    written = datetime.fromtimestamp(notes_file.stat().st_mtime, UTC)
    return CheckpointStatus(len(notes), last.size, written, None)
