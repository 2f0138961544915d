"""/metrics tells an operator what the product is doing; the alerts and the dashboard are tested too."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import aio_pika
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.broker import topology
from tests.bridge.conftest import BROKER_URL, Bridge
from tests.conftest import REPO, edit
from tests.support import until

PROMETHEUS = REPO / "docs" / "prometheus"
DASHBOARD = REPO / "docs" / "grafana" / "hostgate.json"
NAME = re.compile(r"\bhostgate_[a-z_]+")
# Every family the issue asks for, by the name Prometheus shows (counters without _total).
FAMILIES = {
    "hostgate_outbox_rows", "hostgate_outbox_fanouts", "hostgate_outbox_oldest_age_seconds",
    "hostgate_broker_connected", "hostgate_broker_publishes", "hostgate_broker_confirm_seconds",
    "hostgate_broker_queue_delivering", "hostgate_broker_probe_round_trip_seconds",
    "hostgate_consumer_messages", "hostgate_deliveries", "hostgate_delivery_seconds",
    "hostgate_retries_pending", "hostgate_dead_letters", "hostgate_endpoint_disabled",
    "hostgate_audit_records", "hostgate_audit_chain_seq", "hostgate_audit_staged_records",
    "hostgate_audit_checkpoint_age_seconds", "hostgate_audit_uncheckpointed_records",
    "hostgate_disclosure_revision", "hostgate_log_size", "hostgate_log_checkpoint_size",
    "hostgate_notices_sent", "hostgate_http_requests", "hostgate_http_request_seconds",
}  # fmt: skip


def promtool() -> str:
    """promtool, which scripts/bootstrap --need-promtool puts in .venv/bin."""
    found = shutil.which("promtool") or str(REPO / ".venv" / "bin" / "promtool")
    if not Path(found).exists():
        pytest.fail("promtool is missing: run scripts/bootstrap --need-promtool")
    return found


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in found.items() if n == name and set(labels.items()) <= set(ls))


def test_alert_rules_check_and_pass_their_unit_tests() -> None:
    """`promtool check rules` and `promtool test rules` pass on docs/prometheus."""
    checked = subprocess.run(
        [promtool(), "check", "rules", str(PROMETHEUS / "alerts.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool(), "test", "rules", "alerts.test.yml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROMETHEUS,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = set(re.findall(r"alert: (\w+)", (PROMETHEUS / "alerts.yml").read_text()))
    covered = set(re.findall(r"alertname: (\w+)", (PROMETHEUS / "alerts.test.yml").read_text()))
    assert alerts == covered, f"alerts without a unit test: {alerts - covered}"


@pytest.mark.broker
async def test_metrics_move_with_the_work(bridge: Bridge) -> None:
    """After deliveries, a failing host, poison, a send and a hosting change, every family is there and moved."""
    for i in range(5):
        await bridge.network.send(f"user-m{i}", "warung-sari", "hello")
    # nimbus-shop's host fails once, then answers 410 Gone: one retry, then disabled and dead-lettered.
    bridge.hosts.script["nimbus-shop"] = [(500, {}), (410, {})]
    await bridge.network.send("user-n", "nimbus-shop", "hello")
    connection = await aio_pika.connect(BROKER_URL)
    channel = await connection.channel()
    exchange = await channel.get_exchange(topology.INBOUND.exchange)
    await exchange.publish(aio_pika.Message(b"not an event"), routing_key="warung-sari")
    await connection.close()
    response = await bridge.client.post(
        "/v1/messages",
        json={"recipient": "user-m0", "payload": base64.b64encode(b"x").decode()},
        headers=bridge.auth("warung-sari"),
    )
    assert response.status == 202
    await until(lambda: len(bridge.hosts.opened["warung-sari"]) == 5, "warung-sari's deliveries")
    await until(lambda: any(s == 410 for _, _, s in bridge.hosts.attempts), "nimbus-shop's 410")
    # A hosting change: a new revision, and a notice to each of warung-sari's five open chats.
    edit(
        bridge.config_dir / "businesses" / "warung-sari.toml",
        lambda t: t.replace("id-jakarta", "sg-singapore"),
    )
    await bridge.reload()
    await until(lambda: len(bridge.network.notices) >= 5, "notices for the hosting change")

    async def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        page = await bridge.client.get("/metrics")
        assert page.status == 200
        return samples(await page.text())

    found = await scrape()
    # The dead letter and the disabled endpoint land a moment after the 410; notices count once their
    # window's progress is committed, which can be just after the network has them.
    for _ in range(100):
        if (
            value(found, "hostgate_dead_letters_total", business="nimbus-shop") >= 1
            and value(found, "hostgate_notices_sent_total", business="warung-sari") >= 5
        ):
            break
        await asyncio.sleep(0.1)
        found = await scrape()
    text = await (await bridge.client.get("/metrics")).text()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert names >= FAMILIES, f"missing: {sorted(FAMILIES - names)}"
    moved = {
        "delivered to warung-sari": value(found, "hostgate_deliveries_total", business="warung-sari", outcome="delivered"),
        "retry for nimbus-shop": value(found, "hostgate_deliveries_total", business="nimbus-shop", outcome="retry"),
        "dead letter for nimbus-shop": value(found, "hostgate_dead_letters_total", business="nimbus-shop"),
        "nimbus-shop disabled": value(found, "hostgate_endpoint_disabled", business="nimbus-shop"),
        "delivery latency samples": value(found, "hostgate_delivery_seconds_count", business="warung-sari"),
        "publishes confirmed": value(found, "hostgate_broker_publishes_total", outcome="confirmed"),
        "confirm latency samples": value(found, "hostgate_broker_confirm_seconds_count"),
        "inbound acks": value(found, "hostgate_consumer_messages_total", queue="hostgate.inbound", outcome="ack"),
        "poison": value(found, "hostgate_consumer_messages_total", queue="hostgate.inbound", outcome="poison"),
        "broker connected": value(found, "hostgate_broker_connected"),
        "inbound delivering": value(found, "hostgate_broker_queue_delivering", queue="hostgate.inbound"),
        "audit records": value(found, "hostgate_audit_records_total"),
        "audit head": value(found, "hostgate_audit_chain_seq"),
        "warung-sari revision": value(found, "hostgate_disclosure_revision", business="warung-sari"),
        "log size": value(found, "hostgate_log_size"),
        "notices sent": value(found, "hostgate_notices_sent_total", business="warung-sari"),
        "HTTP requests": value(found, "hostgate_http_requests_total", route="/v1/messages", status="202"),
    }  # fmt: skip
    print("\n".join(f"{name}: {v:g}" for name, v in moved.items()))
    assert all(v > 0 for v in moved.values()), {k: v for k, v in moved.items() if v <= 0}
    assert moved["warung-sari revision"] == 2
    assert moved["notices sent"] >= 5
    assert value(found, "hostgate_endpoint_disabled", business="warung-sari") == 0
    # No user or message id in any label: label values are business ids, queues, routes and fixed words.
    labels = {v for (_, ls), _ in found.items() for _, v in ls}
    assert not any(v.startswith(("user-", "msg_")) for v in labels), labels

    lint = await asyncio.create_subprocess_exec(
        promtool(), "check", "metrics",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    said, _ = await lint.communicate(text.encode())
    assert lint.returncode == 0, said.decode()
    queried = set(NAME.findall(json.dumps(json.loads(DASHBOARD.read_text())))) | set(
        NAME.findall((PROMETHEUS / "alerts.yml").read_text())
    )
    exposed = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    assert queried <= exposed, (
        f"the dashboard or alerts query metrics /metrics lacks: {sorted(queried - exposed)}"
    )
