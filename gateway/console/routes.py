"""The console's pages and its two live endpoints (revision events, trail verification).

Server-rendered HTML (Jinja2, autoescaped) plus one small script; no asset is
fetched from elsewhere, so the console works offline. Operators sign in with an
operator key; the session cookie is HttpOnly and SameSite=Strict, which also
keeps other sites from posting to the console in an operator's name.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from gateway.audit.pseudonym import PREFIX as PSEUDONYM_PREFIX
from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.query import Filter, for_user, read_records, trail_files
from gateway.audit.records import EVENTS
from gateway.audit.setup import CHECKPOINTS_FILE, audit_dir
from gateway.audit.verify import verify
from gateway.config.fields import hash_api_key
from gateway.console import deliveries
from gateway.console.common import (
    COOKIE,
    KEEPALIVE_SECONDS,
    PREFIX,
    RECONNECT_MS,
    SESSIONS,
    STATIC,
    ensure_enabled,
    is_https,
    page,
    read_form,
    require_api,
    require_page,
    same_origin,
)
from gateway.console.sessions import OperatorSessions
from gateway.console.views import (
    AUDIT_ROWS,
    CheckpointStatus,
    NoticeCard,
    audit_row,
    checkpoint_status,
    locale_options,
    notice_card,
)
from gateway.disclosure.catalog import supported_locales
from gateway.disclosure.document import DisclosureDocument
from gateway.errors import RequestError
from gateway.http.auth import failed_auth_wait
from gateway.http.keys import CONFIG, DISCLOSURES, SIGNING_KEYS, STORE

log = structlog.get_logger("hostgate.console")
routes = web.RouteTableDef()


def _locale(request: web.Request) -> str:
    asked = request.query.get("locale", "")
    if asked in supported_locales():
        return asked
    return request.app[CONFIG].current.settings.default_locale


def _safe_next(value: str | None) -> str:
    # Only back into the console: never an open redirect to another site.
    if value and value.startswith(f"{PREFIX}/") and not value.startswith("//"):
        return value
    return f"{PREFIX}/notices"


@routes.get(PREFIX)
@routes.get(f"{PREFIX}/")
async def console_home(request: web.Request) -> web.Response:
    """The console opens on the notices page."""
    ensure_enabled(request)
    raise web.HTTPSeeOther(f"{PREFIX}/notices")


@routes.get(f"{PREFIX}/login")
async def login_form(request: web.Request) -> web.Response:
    """The sign-in form."""
    ensure_enabled(request)
    return page("login.html", next=_safe_next(request.query.get("next")), error=None)


@routes.post(f"{PREFIX}/login")
async def login(request: web.Request) -> web.Response:
    """Check an operator key; on success set the session cookie and go where the operator was headed."""
    ensure_enabled(request)
    same_origin(request)
    form = await read_form(request)
    target = _safe_next(form.get("next", ""))
    settings = request.app[CONFIG].current.settings.console
    hashed = hash_api_key(form.get("key", "").strip())
    if hashed not in settings.operator_key_hashes:
        wait = failed_auth_wait(request)
        log.info("console.login_refused", throttled=wait > 0)
        if wait > 0:
            return page("login.html", 429, next=target, error="Too many failed attempts; wait and retry.")
        return page("login.html", 401, next=target, error="Unknown operator key.")
    token = await request.app[SESSIONS].open(hashed, settings.session_minutes)
    log.info("console.login")
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.session_minutes * 60,
        path=f"{PREFIX}/",
        httponly=True,
        samesite="Strict",
        secure=is_https(request),
    )
    raise response


@routes.post(f"{PREFIX}/logout")
async def logout(request: web.Request) -> web.Response:
    """End the session (from the console's own pages only: a cross-site POST must not sign anyone out)."""
    ensure_enabled(request)
    same_origin(request)
    await request.app[SESSIONS].close(request.cookies.get(COOKIE))
    response = web.HTTPSeeOther(f"{PREFIX}/login")
    response.del_cookie(COOKIE, path=f"{PREFIX}/")
    raise response


async def _cards(request: web.Request, locale: str) -> list[NoticeCard]:
    cards = []
    for business_id in sorted(request.app[CONFIG].current.businesses):
        latest = await request.app[DISCLOSURES].latest(business_id)
        if latest is not None:
            cards.append(notice_card(latest.document, locale))
    return cards


@routes.get(f"{PREFIX}/notices")
async def notices_page(request: web.Request) -> web.Response:
    """Every business's current notice as a chat client shows it, in the chosen locale."""
    await require_page(request)
    locale = _locale(request)
    return page(
        "notices.html",
        page="notices",
        locale=locale,
        locales=locale_options(),
        cards=await _cards(request, locale),
    )


@routes.get(f"{PREFIX}/notices/cards")
async def notices_cards(request: web.Request) -> web.Response:
    """Just the cards: the live page swaps them in after a revision or a locale change."""
    await require_page(request)
    locale = _locale(request)
    return page("cards.html", locale=locale, cards=await _cards(request, locale))


@routes.get(f"{PREFIX}/notices/{{business_id}}")
async def history_page(request: web.Request) -> web.Response:
    """Every revision of one business, newest first."""
    await require_page(request)
    business_id = request.match_info["business_id"]
    history = await request.app[DISCLOSURES].history(business_id)
    if not history:
        raise RequestError(404, "business_not_found", f"no disclosure for {business_id!r}")
    locale = _locale(request)
    documents = [DisclosureDocument.model_validate_json(past.body) for past in history]
    cards = [
        notice_card(document, locale, before)
        for document, before in zip(documents, [*documents[1:], None], strict=True)
    ]
    return page(
        "history.html",
        page="notices",
        locale=locale,
        locales=locale_options(),
        business_id=business_id,
        cards=cards,
    )


@routes.get(f"{PREFIX}/events")
async def revision_events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``revision`` with the businesses whose disclosure moved."""
    await require_api(request)
    watch = request.app[DISCLOSURES].feed.watch()
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    await response.write(f"retry: {RECONNECT_MS}\n: connected\n\n".encode())
    while True:
        try:
            async with asyncio.timeout(KEEPALIVE_SECONDS):
                changes = await watch.next()
        except TimeoutError:
            await response.write(b": keepalive\n\n")
            continue
        if changes is None:  # the gateway is stopping
            break
        if not changes:
            continue
        data = json.dumps([{"business_id": c.business_id, "revision": c.revision} for c in changes])
        await response.write(f"event: revision\ndata: {data}\n\n".encode())
    return response


def _when(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise RequestError(400, "bad_time", f"not an ISO 8601 time: {value!r}") from exc
    # The form's datetime-local has no zone: the console shows and takes UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@routes.get(f"{PREFIX}/audit")
async def audit_page(request: web.Request) -> web.Response:
    """The trail as a filterable table, newest first, with checkpoint status."""
    await require_page(request)
    config = request.app[CONFIG].current
    query = request.query
    user = query.get("user", "").strip()
    pseudonym = None
    if user:
        keys_dir = config.path(config.settings.signing_key_dir)
        pseudonym = user if user.startswith(PSEUDONYM_PREFIX) else Pseudonymizer.open(keys_dir)(user)
    wanted = Filter(
        business=query.get("business") or None,
        user_pseudonym=pseudonym,
        event=query.get("event") or None,
        since=_when(query.get("since", "")),
        until=_when(query.get("until", "")),
    )
    directory = audit_dir(config)
    keys = request.app[SIGNING_KEYS].public_keys()

    def read() -> tuple[list[dict[str, Any]], int, CheckpointStatus]:
        total = 0
        matched: list[dict[str, Any]] = []
        for record in read_records(trail_files([directory])) if directory.is_dir() else []:
            total += 1
            if wanted.matches(record):
                matched.append(for_user(record, pseudonym))
        return matched, total, checkpoint_status(directory / CHECKPOINTS_FILE, keys)

    matched, total, checkpoints = await asyncio.get_running_loop().run_in_executor(None, read)
    return page(
        "audit.html",
        page="audit",
        rows=[audit_row(r) for r in reversed(matched[-AUDIT_ROWS:])],
        matched=len(matched),
        total=total,
        limit=AUDIT_ROWS,
        checkpoints=checkpoints,
        businesses=sorted(config.businesses),
        events=sorted(EVENTS),
        form={k: query.get(k, "") for k in ("business", "event", "user", "since", "until")},
    )


@routes.post(f"{PREFIX}/audit/verify")
async def verify_trail(request: web.Request) -> web.Response:
    """Run the CLI's verification over the live trail and its signed checkpoints."""
    await require_api(request)
    config = request.app[CONFIG].current
    directory = audit_dir(config)
    keys = request.app[SIGNING_KEYS].public_keys()

    def run() -> dict[str, Any]:
        files = trail_files([directory]) if directory.is_dir() else []
        if not files:
            return {"status": "empty", "summary": "no trail files yet", "first": None}
        notes = directory / CHECKPOINTS_FILE
        report = verify(files, notes.read_text() if notes.exists() else None, keys)
        first = report.first
        status = "tampered" if first else "incomplete" if report.incomplete else "intact"
        return {
            "status": status,
            "summary": report.describe(),
            "records": report.records,
            "checkpoints": report.checkpoints,
            "first": None
            if first is None
            else {"seq": first.seq, "kind": first.kind, "detail": first.detail},
        }

    result = await asyncio.get_running_loop().run_in_executor(None, run)
    log.info("console.audit_verified", status=result["status"])
    return web.json_response(result, headers={"Cache-Control": "no-store"})


def add_console(app: web.Application) -> None:
    """Mount the console; its pages answer 404 while ``[console] enabled`` is false."""
    app[SESSIONS] = OperatorSessions(app[STORE])
    app.add_routes(routes)
    app.add_routes(deliveries.routes)
    app.router.add_static(f"{PREFIX}/static/", STATIC, append_version=True)

    async def end_streams(app: web.Application) -> None:
        await app[DISCLOSURES].feed.close()

    app.on_shutdown.append(end_streams)
