"""What every console page shares: templates, security headers, sign-in checks and form reading.

Operators sign in with an operator key; the session cookie is HttpOnly and
SameSite=Strict, and every state-changing request must come from the console's
own pages (``same_origin``), so another site cannot act in an operator's name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from gateway.console.sessions import OperatorSessions
from gateway.errors import AuthError, RequestError
from gateway.http.keys import CONFIG

SESSIONS = web.AppKey("console_sessions", OperatorSessions)
COOKIE = "hostgate_console"
PREFIX = "/console"
STATIC = Path(__file__).parent / "static"
# Comments keep the stream alive through proxies; the browser reconnects by itself after this.
KEEPALIVE_SECONDS = 15.0
RECONNECT_MS = 2000

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("gateway.console", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
        " form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def page(template: str, status: int = 200, **context: object) -> web.Response:
    """A rendered template with the console's security headers."""
    html = TEMPLATES.get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", headers=SECURITY_HEADERS)


def ensure_enabled(request: web.Request) -> None:
    """404 while ``[console] enabled`` is false."""
    if not request.app[CONFIG].current.settings.console.enabled:
        raise RequestError(404, "not_found", "the console is turned off in gateway.toml ([console] enabled)")


async def signed_in(request: web.Request) -> bool:
    """Whether the request carries a live operator session."""
    ensure_enabled(request)
    hashes = request.app[CONFIG].current.settings.console.operator_key_hashes
    return await request.app[SESSIONS].valid(request.cookies.get(COOKIE), hashes)


async def require_page(request: web.Request) -> None:
    """Send a visitor without a session to the sign-in form, then back here."""
    if not await signed_in(request):
        raise web.HTTPSeeOther(f"{PREFIX}/login?next={request.path_qs}")


async def require_api(request: web.Request) -> None:
    """An operator session and a request from the console's own pages, or an error."""
    if not await signed_in(request):
        raise AuthError("sign in to the console first")
    same_origin(request)


def is_https(request: web.Request) -> bool:
    """HTTPS directly, or through a proxy listed in ``[http] trusted_proxies`` that says so."""
    if request.secure:
        return True
    proxies = request.app[CONFIG].current.settings.http.trusted_proxies
    try:
        peer = ipaddress.ip_address(request.remote or "")
    except ValueError:
        return False
    trusted = any(peer in network for network in proxies if network.version == peer.version)
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return trusted and forwarded == "https"


def same_origin(request: web.Request) -> None:
    """Refuse a request another site made the browser send."""
    # The console's pages send no referrer, so their own form posts carry "Origin: null"; what
    # marks another site's post is its origin, or the browser's Sec-Fetch-Site.
    origin = request.headers.get("Origin")
    cross = origin not in {None, "null"} and urlsplit(origin).netloc != request.host
    if cross or request.headers.get("Sec-Fetch-Site") in {"cross-site", "same-site"}:
        raise RequestError(403, "cross_origin", "the console accepts requests from its own pages only")


async def read_form(request: web.Request) -> Mapping[str, str]:
    """The posted form as text; a body that does not decode is the caller's error, not ours."""
    try:
        form = await request.post()
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(
            400, "bad_form", "the form could not be read (send UTF-8, urlencoded or multipart)"
        ) from exc
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if any(not v.isprintable() for v in values.values()):
        raise RequestError(400, "bad_form", "the form holds characters that cannot be typed")
    return values
