"""Real business endpoints on 127.0.0.1: webhook receivers and provider ingest APIs that open envelopes."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from gateway.errors import WebhookRejected
from gateway.receiver import WebhookReceiver, open_envelope
from gateway.sealing import EndpointPrivateKey
from tests.support import served


@dataclass
class Hosts:
    """Every host's key, and what each host received and could (or could not) open."""

    url: str
    keys: dict[str, EndpointPrivateKey] = field(default_factory=dict)
    secrets: dict[str, list[str]] = field(default_factory=dict)
    opened: dict[str, list[tuple[str, str, bytes]]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, list[dict[str, object]]] = field(default_factory=lambda: defaultdict(list))
    # When each status webhook arrived: (monotonic time, message id, reported status).
    status_times: list[tuple[float, str, str]] = field(default_factory=list)
    # Statuses a host answers status webhooks with, in order, before it starts taking them.
    status_script: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    # Every status webhook attempt: (webhook-id, status answered).
    status_attempts: list[tuple[str, int]] = field(default_factory=list)
    unopenable: list[tuple[str, str]] = field(default_factory=list)
    forged: int = 0
    # Answers a host gives, in order, before it starts answering normally: (status, headers).
    script: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=lambda: defaultdict(list))
    # Every delivery attempt a host saw: (monotonic time, webhook-id or message id, status answered).
    attempts: list[tuple[float, str, int]] = field(default_factory=list)
    # The W3C traceparent header of each request that had one: (host name, traceparent).
    traceparents: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, key: EndpointPrivateKey, secrets: list[str] | None = None) -> str:
        """Register a host; return the URL path prefix it answers on."""
        self.keys[name] = key
        self.secrets[name] = secrets or []
        return f"{self.url}/{name}"


@asynccontextmanager
async def business_hosts() -> AsyncIterator[Hosts]:
    """One HTTP server on 127.0.0.1 standing in for every business endpoint and provider."""
    hosts = Hosts(url="")

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        key = hosts.keys[name]
        body = await request.read()
        if "traceparent" in request.headers:
            hosts.traceparents.append((name, request.headers["traceparent"]))
        if json.loads(body).get("type") == "message.status":
            WebhookReceiver(hosts.secrets[name], key).verify(dict(request.headers), body)
            if hosts.status_script[name]:
                answer = hosts.status_script[name].pop(0)
                hosts.status_attempts.append((request.headers["webhook-id"], answer))
                return web.Response(status=answer)
            hosts.status_attempts.append((request.headers["webhook-id"], 204))
            status = json.loads(body)
            hosts.statuses[name].append(status)
            hosts.status_times.append((time.monotonic(), status["message_id"], status["reported"]))
            return web.Response(status=204)
        attempt_id = request.headers.get("webhook-id") or json.loads(body).get("message_id", "?")
        if hosts.script[name]:
            status, headers = hosts.script[name].pop(0)
            hosts.attempts.append((time.monotonic(), attempt_id, status))
            if status < 0:  # stall: answer nothing for that many seconds
                await asyncio.sleep(-status)
            return web.Response(status=max(status, 204), headers=headers)
        hosts.attempts.append((time.monotonic(), attempt_id, 204))
        try:
            if hosts.secrets[name]:
                message = WebhookReceiver(hosts.secrets[name], key).receive(dict(request.headers), body)
            else:
                message = open_envelope(json.loads(body), key)
        except WebhookRejected as exc:
            if "signature" in str(exc):
                hosts.forged += 1
                return web.Response(status=401)
            hosts.unopenable.append((name, json.loads(body).get("message_id", "?")))
            return web.Response(status=422)
        hosts.opened[name].append((message.message_id, message.sender, message.plaintext))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{name}", handle)
    async with served(app) as url:
        hosts.url = url
        yield hosts
