"""OpenTelemetry traces across the gateway, with the SDK's in-memory exporter and the real broker.

One business message: the business's traceparent → the request span → the
publish span → the AMQP headers the network receives → the network's receipt →
the receipt's consumer span → the business's status webhook. One user message:
the network's traceparent → the consumer span → the delivery span → the
``traceparent`` header the host's webhook receives.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.adapter_registry import AdapterRegistry
from gateway.app import build_app
from gateway.broker import topology
from gateway.config import load_config
from gateway.http.keys import SIGNING_KEYS
from gateway.simulator import NetworkSimulator
from gateway.telemetry.tracing import Tracing
from tests.bridge.conftest import BROKER_URL, BUSINESSES, Bridge, point_at_hosts
from tests.bridge.hosts import business_hosts
from tests.conftest import REPO
from tests.support import until


@pytest.fixture
async def traced(config_dir: Path) -> AsyncIterator[tuple[Bridge, InMemorySpanExporter]]:
    """The end-to-end gateway with tracing on, its spans kept in memory."""
    connection = await aio_pika.connect(BROKER_URL)
    await topology.declare(await connection.channel())
    await connection.close()
    exporter = InMemorySpanExporter()
    async with business_hosts() as hosts:
        point_at_hosts(config_dir, hosts)
        config = load_config(config_dir, {}, AdapterRegistry())
        app = build_app(config, connection_name="test:tracing", tracing=Tracing.to_exporter(exporter))
        network = NetworkSimulator(BROKER_URL, app[SIGNING_KEYS].public_keys(), name="test:tracing:network")
        await network.start()
        client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1", port=0))
        await client.start_server()
        try:
            await network.wait_for_disclosures(set(BUSINESSES))
            yield Bridge(client, network, hosts, config_dir), exporter
        finally:
            await client.close()
            await network.close()


def _traceparent() -> tuple[str, str]:
    """A fresh W3C traceparent from an outside caller, and its trace id."""
    trace_id = secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01", trace_id


def _trace_id(traceparent: str) -> str:
    return traceparent.split("-")[1]


def _in_trace(exporter: InMemorySpanExporter, trace_id: str) -> dict[str, ReadableSpan]:
    return {
        span.name: span
        for span in exporter.get_finished_spans()
        if span.context is not None and f"{span.context.trace_id:032x}" == trace_id
    }


def _parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


async def test_a_message_keeps_one_trace_from_the_request_to_the_network_and_back(
    traced: tuple[Bridge, InMemorySpanExporter],
) -> None:
    """POST /v1/messages → publish → AMQP headers → receipt → status webhook: one trace id."""
    bridge, exporter = traced
    traceparent, trace_id = _traceparent()
    response = await bridge.client.post(
        "/v1/messages",
        json={"recipient": "user-trace", "payload": "aGk="},
        headers={**bridge.auth("nimbus-shop"), "traceparent": traceparent},
    )
    assert response.status == 202
    message_id = (await response.json())["message_id"]
    await until(lambda: message_id in bridge.network.traces, "the message at the network")
    carried = bridge.network.traces[message_id]
    assert _trace_id(carried) == trace_id, "the AMQP headers carry the request's trace"

    spans = _in_trace(exporter, trace_id)
    request_span, publish_span = spans["POST /v1/messages"], spans["publish hostgate.outbound"]
    assert _parent_of(request_span) == int(traceparent.split("-")[2], 16), "child of the caller's span"
    assert _parent_of(publish_span) == request_span.context.span_id
    assert carried.split("-")[2] == f"{publish_span.context.span_id:016x}", (
        "the network's parent is the publish"
    )

    # And back: the network's receipt carries the trace; the business's status webhook continues it.
    await bridge.network.receipt(message_id, "nimbus-shop", "delivered")
    await until(
        lambda: any(_trace_id(tp) == trace_id for name, tp in bridge.hosts.traceparents), "the status webhook"
    )
    await until(lambda: "process hostgate.statuses" in _in_trace(exporter, trace_id), "the status span")
    names = sorted(_in_trace(exporter, trace_id))
    print(f"trace {trace_id}: {names}")
    assert {"process hostgate.receipts", "publish hostgate.statuses", "process hostgate.statuses"} <= set(
        names
    )


async def test_an_inbound_message_keeps_one_trace_to_the_hosts_webhook(
    traced: tuple[Bridge, InMemorySpanExporter],
) -> None:
    """The network's traceparent → consume → deliver → the host's request header: one trace id."""
    bridge, exporter = traced
    traceparent, trace_id = _traceparent()
    message_id = await bridge.network.send("user-in", "warung-sari", "halo", traceparent=traceparent)
    await until(
        lambda: any(m == message_id for m, _, _ in bridge.hosts.opened["warung-sari"]), "the delivery"
    )
    received = [tp for name, tp in bridge.hosts.traceparents if name == "warung-sari"]
    assert [_trace_id(tp) for tp in received] == [trace_id], received

    spans = _in_trace(exporter, trace_id)
    consume, deliver = spans["process hostgate.inbound"], spans["deliver warung-sari"]
    assert _parent_of(consume) == int(traceparent.split("-")[2], 16)
    assert _parent_of(deliver) == consume.context.span_id
    assert received[0].split("-")[2] == f"{deliver.context.span_id:016x}", "the host's parent is the delivery"
    print(f"trace {trace_id}: {sorted(spans)}")


async def test_tracing_off_sends_no_traceparent(bridge: Bridge) -> None:
    """Off (the default): a caller's traceparent goes nowhere; nothing is added to events or requests."""
    traceparent, _ = _traceparent()
    response = await bridge.client.post(
        "/v1/messages",
        json={"recipient": "user-off", "payload": "aGk="},
        headers={**bridge.auth("warung-sari"), "traceparent": traceparent},
    )
    assert response.status == 202
    message_id = (await response.json())["message_id"]
    await until(lambda: any(m.message_id == message_id for m in bridge.network.outbound), "the message")
    assert message_id not in bridge.network.traces
    sent = await bridge.network.send("user-off", "warung-sari", "halo", traceparent=traceparent)
    await until(lambda: any(m == sent for m, _, _ in bridge.hosts.opened["warung-sari"]), "the delivery")
    assert bridge.hosts.traceparents == []


def test_tracing_off_imports_no_opentelemetry(config_dir: Path) -> None:
    """Off, the gateway never imports OpenTelemetry: the request path cannot pay for it."""
    script = (
        "import sys; from pathlib import Path\n"
        "from gateway.adapter_registry import AdapterRegistry\n"
        "from gateway.app import build_app\n"
        "from gateway.config import load_config\n"
        f"build_app(load_config(Path({str(config_dir)!r}), {{}}, AdapterRegistry()))\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "print(loaded); sys.exit(1 if loaded else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
