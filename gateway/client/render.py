"""Render a verified disclosure or notice as a chat client shows it."""

from __future__ import annotations

from gateway.disclosure.document import DisclosureDocument, NoticeDocument, NoticeText

FALLBACK = "en"


def pick_locale(available: dict[str, NoticeText], locale: str | None) -> str:
    """Exact locale, then its language, then English."""
    if locale:
        tag = locale.replace("_", "-")
        for candidate in (tag, tag.split("-", 1)[0].lower()):
            if candidate in available:
                return candidate
    return FALLBACK


def render_text(document: DisclosureDocument | NoticeDocument, locale: str | None) -> str:
    """One line: what changed (for a hosting-change notice), the notice, the learn-more link."""
    chosen = pick_locale(document.notices, locale)
    notice = document.notices[chosen]
    lead = ""
    if isinstance(document, NoticeDocument) and document.reason == "hosting_changed":
        lead = notice.changed + " "
    return f"{lead}{notice.text} {notice.learn_more_label}: {document.learn_more_url}"
