"""Demo business hosts: every loopback URL of the example businesses answered by a real receiver.

For each business whose webhook URL or provider ingest URL points at
127.0.0.1, a small aiohttp server on that port opens what arrives with the
business's demo endpoint key (``examples/endpoint-keys/<business>.x25519.key``):
webhook deliveries are verified (Standard Webhooks signature) and opened,
provider ingest calls are opened, status webhooks are verified. What was
opened is counted and logged by message id only; content never reaches a log.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from gateway.config.loader import Business
from gateway.errors import WebhookRejected
from gateway.receiver import WebhookReceiver, open_envelope
from gateway.sealing import EndpointPrivateKey

log = structlog.get_logger("hostgate.demo")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEMO_KEYS_DIR = Path("examples/endpoint-keys")


@dataclass(frozen=True, slots=True)
class Route:
    """One loopback URL path and what it stands for."""

    port: int
    path: str
    business: str
    kind: str  # "webhook" (signed deliveries and statuses) or "ingest" (a provider's API)


@dataclass
class DemoHosts:
    """The servers, and what each business's host opened."""

    routes: list[Route]
    keys: dict[str, EndpointPrivateKey]
    secrets: dict[str, list[str]]
    opened: Counter[str] = field(default_factory=Counter)
    runners: list[web.AppRunner] = field(default_factory=list)

    async def start(self) -> None:
        """Listen on every port the routes name (loopback only)."""
        for port in sorted({r.port for r in self.routes}):
            app = web.Application()
            for route in (r for r in self.routes if r.port == port):
                app.router.add_post(route.path, self._handler(route))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)
        log.info("demo_hosts.listening", urls=[f"http://127.0.0.1:{r.port}{r.path}" for r in self.routes])

    async def close(self) -> None:
        """Stop listening."""
        for runner in self.runners:
            await runner.cleanup()

    def _handler(self, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
        key = self.keys[route.business]

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            try:
                if route.kind == "ingest":
                    message_id = open_envelope(json.loads(body), key).message_id
                else:
                    receiver = WebhookReceiver(self.secrets[route.business], key)
                    if json.loads(body).get("type") == "message.status":
                        receiver.verify(dict(request.headers), body)
                        return web.Response(status=204)
                    message_id = receiver.receive(dict(request.headers), body).message_id
            except (WebhookRejected, ValueError, KeyError) as exc:
                log.warning("demo_hosts.refused", business=route.business, error=str(exc)[:120])
                return web.Response(status=400)
            self.opened[route.business] += 1
            log.info("demo_hosts.opened", business=route.business, message_id=message_id)
            return web.Response(status=204)

        return handle


def demo_hosts(businesses: list[Business], keys_dir: Path) -> DemoHosts:
    """Hosts for every loopback URL of ``businesses`` that has a demo key in ``keys_dir``."""
    routes: list[Route] = []
    keys: dict[str, EndpointPrivateKey] = {}
    secrets: dict[str, list[str]] = {}
    for business in businesses:
        key_file = keys_dir / f"{business.id}.x25519.key"
        if not key_file.is_file():
            continue
        keys[business.id] = EndpointPrivateKey.from_text(key_file.read_text())
        secrets[business.id] = [s.get_secret_value() for s in business.file.webhook.secrets]
        urls = [("webhook", str(business.file.webhook.url))]
        ingest = business.file.hosting.settings.get("ingest_url")
        if isinstance(ingest, str):
            urls.append(("ingest", ingest))
        for kind, url in urls:
            parts = urlsplit(url)
            if parts.hostname in _LOOPBACK and parts.port is not None:
                routes.append(Route(parts.port, parts.path or "/", business.id, kind))
    return DemoHosts(routes, keys, secrets)
