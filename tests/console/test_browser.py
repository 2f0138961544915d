"""The console in a real headless Chromium: notices in every locale, live updates, audit verification.

Screenshots of each step are kept under ``test-artifacts/console/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from adapters.base import HostingClass
from gateway.disclosure.catalog import load_catalogs
from tests.console.conftest import ARTIFACTS, OPERATOR_KEY, Gateway

pytestmark = [pytest.mark.broker, pytest.mark.browser]

BUSINESSES = {"warung-sari": "Warung Sari", "nimbus-shop": "Nimbus Shop", "kirana-travel": "Kirana Travel"}


@pytest.fixture
async def page(browser: Browser, gateway: Gateway) -> AsyncIterator[Page]:
    """A page signed in to the console through its form, on the notices page."""
    context = await browser.new_context(viewport={"width": 1200, "height": 820}, locale="en-US")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    await page.goto(f"{gateway.base}/console/")
    await expect(page).to_have_url(f"{gateway.base}/console/login?next=/console/notices")
    await page.fill("#key", OPERATOR_KEY)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{gateway.base}/console/notices")
    yield page
    await context.close()
    assert errors == [], f"the page reported errors: {errors}"


async def shot(page: Page, name: str) -> None:
    """Keep a screenshot as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_notices_show_every_business_in_every_locale(page: Page) -> None:
    """The three example businesses' notices, in each of the six locales, Arabic right to left."""
    await expect(page.locator("article.card")).to_have_count(3)
    for business_id, name in BUSINESSES.items():
        card = page.locator(f"#card-{business_id}")
        await expect(card.locator("h2")).to_have_text(name)
        await expect(card.locator(".learn-more")).to_have_text("Learn more")
    await expect(page.locator("#card-nimbus-shop .notice .text")).to_contain_text(
        "This business uses a secure service from Meta to manage this chat."
    )
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    await shot(page, "notices-en")
    catalogs = load_catalogs()
    for tag, catalog in sorted(catalogs.items()):
        await page.select_option("#locale", tag)
        bubble = page.locator("#card-warung-sari .notice")
        await expect(bubble).to_have_attribute("lang", tag)
        await expect(bubble).to_have_attribute("dir", catalog.direction)
        await expect(bubble.locator(".text")).to_have_text(catalog.notices[HostingClass.SELF_HOSTED])
        await expect(bubble.locator(".learn-more")).to_have_text(catalog.learn_more)
        assert f"locale={tag}" in page.url
        if tag == "ar":
            # Right to left as laid out, not only as declared: the text ends at the bubble's left edge.
            direction = await bubble.evaluate("el => getComputedStyle(el).direction")
            assert direction == "rtl"
            await shot(page, "notices-ar")
    print(f"locales shown: {sorted(catalogs)}")


async def test_notice_updates_live_after_a_hosting_change(page: Page, gateway: Gateway) -> None:
    """Moving a business to another operator and sending SIGHUP redraws its card without a reload."""
    await page.select_option("#locale", "ja")
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    # Survives only if the page is not reloaded.
    await page.evaluate("window.__stillHere = true")
    card = page.locator("#card-nimbus-shop")
    await expect(card).to_have_attribute("data-revision", "1")
    gateway.move_nimbus("Nimbus Cloud Services")
    await asyncio.to_thread(gateway.reload, 2)
    await expect(card).to_have_attribute("data-revision", "2", timeout=10_000)
    await expect(card).to_have_class("card updated")
    await expect(card.locator(".operator")).to_have_text("Nimbus Cloud Services")
    await expect(card.locator(".notice")).to_have_attribute("lang", "ja")
    await expect(card.locator(".notice .text")).to_contain_text("Nimbus Cloud Services")
    assert await page.evaluate("window.__stillHere") is True
    await expect(page.locator("#card-warung-sari")).to_have_attribute("data-revision", "1")
    await shot(page, "notices-live-update")
    await card.locator("a.history").click()
    await expect(page.locator("ol.revisions > li")).to_have_count(2)
    newest = page.locator("ol.revisions > li").first
    await expect(newest.locator(".changed")).to_have_text(load_catalogs()["ja"].changed)
    await shot(page, "history")


async def test_audit_page_filters_and_verifies(page: Page, gateway: Gateway) -> None:
    """The trail table filters by business and the verify button reports the CLI's verdict."""
    await page.click("nav >> text=Audit trail")
    await expect(page).to_have_url(f"{gateway.base}/console/audit")
    rows = page.locator("table.records tbody tr")
    await expect(rows.first).to_be_visible()
    everything = await rows.count()
    await page.select_option("select[name=business]", "warung-sari")
    await page.click("form.filters button[type=submit]")
    await expect(page).to_have_url(
        f"{gateway.base}/console/audit?business=warung-sari&event=&user=&since=&until="
    )
    filtered = await rows.count()
    assert 0 < filtered < everything
    for cell in await rows.locator("td:nth-child(4)").all_text_contents():
        assert cell == "warung-sari"
    await page.click("#verify")
    result = page.locator("#verify-result")
    await expect(result).to_have_attribute("data-status", "intact", timeout=10_000)
    await expect(result).to_contain_text("intact:")
    await shot(page, "audit")
    print(f"audit: {everything} rows, {filtered} for warung-sari, verify: {await result.text_content()}")
