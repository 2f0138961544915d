"""The console's delivery page in headless Chromium: a disabled endpoint enabled, dead letters replayed.

A real gateway process delivers to real hosts on 127.0.0.1 (warung-sari's host
first answers 410 Gone, which disables its endpoint); the network is simulated
on the real broker. The page's screenshots are copied to ``docs/console/``.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from gateway.broker.retries import dead_queue
from gateway.simulator import NetworkSimulator
from tests.bridge.conftest import network_for, point_at_hosts
from tests.bridge.hosts import Hosts, business_hosts
from tests.conftest import REPO
from tests.console.conftest import ARTIFACTS, OPERATOR_KEY, sign_in
from tests.support import purge_network_queues, serving, trail_text, until, wait_for_trail

pytestmark = [pytest.mark.broker, pytest.mark.browser]
BUSINESS = "warung-sari"
DOCS = REPO / "docs" / "console"


@dataclass
class Scene:
    """A gateway with warung-sari disabled and two of its deliveries dead-lettered."""

    base: str
    hosts: Hosts
    network: NetworkSimulator
    var: Path
    sent: list[str]


@pytest.fixture
async def scene(config_dir: Path) -> AsyncIterator[Scene]:
    """Deliveries to warung-sari: a 410 Gone disables it; the next message is dead-lettered at once."""
    await purge_network_queues((dead_queue(BUSINESS),))
    async with business_hosts() as hosts:
        point_at_hosts(config_dir, hosts)
        with serving(config_dir) as (_process, port, _lines):
            async with network_for(config_dir, port, "test:console-deliveries:network") as network:
                base = f"http://127.0.0.1:{port}"
                # Two delivered first, so the page has figures to draw, then the 410 and one more.
                hosts.script[BUSINESS] = []
                for n in range(2):
                    await network.send(f"user-{n}", BUSINESS, f"hello {n}")
                await until(lambda: len(hosts.opened[BUSINESS]) == 2, "the first two deliveries")
                hosts.script[BUSINESS] = [(410, {})]
                failed = [await network.send("user-410", BUSINESS, "answered with 410")]
                await until(lambda: len(hosts.attempts) == 3, "the 410")
                failed.append(await network.send("user-late", BUSINESS, "while disabled"))
                var = config_dir.parent / "var"
                await wait_for_trail(var, '"event":"endpoint.disabled"')
                await until(
                    lambda: trail_text(var).count('"event":"delivery.dead_lettered"') == 2, "2 dead letters"
                )
                yield Scene(base, hosts, network, var, failed)


async def _signed_in_page(browser: Browser, base: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 720}, locale="en-US")
    page = await context.new_page()
    await page.goto(f"{base}/console/deliveries")
    await page.fill("#key", OPERATOR_KEY)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{base}/console/deliveries")
    return page


async def shot(page: Page, name: str) -> None:
    """Keep a screenshot as a test artifact and in docs/console/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    DOCS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, DOCS / f"{name}.png")


async def test_enable_and_replay_from_the_page_deliver(browser: Browser, scene: Scene) -> None:
    """Enable re-enables the endpoint; Replay all sends both dead letters, and the host opens them."""
    page = await _signed_in_page(browser, scene.base)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    row = page.locator(f'tr[data-business="{BUSINESS}"]')
    await expect(row.locator(".endpoint .state")).to_have_text("disabled")
    await expect(row.locator(".dead-count")).to_have_text("2")
    await expect(row.locator("svg.spark")).to_have_count(3)
    await expect(row.locator(".retries")).to_have_text("0")
    await shot(page, "deliveries-disabled")

    await row.locator("button.enable").click()
    await expect(page.locator("#done")).to_have_text(f"{BUSINESS}: endpoint enabled again.")
    await expect(row.locator(".endpoint .state")).to_have_text("enabled")

    await row.locator("button.replay").click()
    await expect(page.locator("#done")).to_have_text(f"{BUSINESS}: 2 dead letter(s) sent back for delivery.")
    await until(lambda: len(scene.hosts.opened[BUSINESS]) == 4, "the replayed deliveries")
    opened = {m for m, _, _ in scene.hosts.opened[BUSINESS]}
    assert set(scene.sent) <= opened, "both dead letters delivered"
    await page.reload()
    await expect(row.locator(".dead-count")).to_have_text("0")
    await expect(row.locator(".endpoint .state")).to_have_text("enabled")
    await shot(page, "deliveries")

    # Audited with where the operator acted from.
    await wait_for_trail(scene.var, '"event":"deliveries.replayed"')
    trail = trail_text(scene.var)
    assert '"event":"endpoint.enabled"' in trail
    assert '"by":"console"' in trail
    assert '"count":2' in trail
    # The page draws its charts inline: nothing fetched from elsewhere, nothing blocked by the CSP.
    assert errors == [], errors


async def test_actions_refuse_other_sites_and_strangers(scene: Scene) -> None:
    """Without a session: 401; with one but posted from another site: 403; nothing changes either way."""
    url = f"{scene.base}/console/deliveries/{BUSINESS}/enable"
    async with aiohttp.ClientSession() as stranger:
        response = await stranger.post(url)
        assert response.status == 401
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as operator:
        assert (await sign_in(operator, scene.base)).status == 303
        forged = await operator.post(url, headers={"Origin": "https://evil.example"}, allow_redirects=False)
        assert forged.status == 403
        cross = await operator.post(
            f"{scene.base}/console/deliveries/{BUSINESS}/replay",
            headers={"Sec-Fetch-Site": "cross-site"},
            allow_redirects=False,
        )
        assert cross.status == 403
        unknown = await operator.post(f"{scene.base}/console/deliveries/nobody/enable", allow_redirects=False)
        assert unknown.status == 404
        page = await (await operator.get(f"{scene.base}/console/deliveries")).text()
    assert "disabled" in page, "the endpoint is still disabled"
    assert '"event":"endpoint.enabled"' not in trail_text(scene.var)
