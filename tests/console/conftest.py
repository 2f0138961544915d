"""A running gateway and a signed-in operator for the console tests."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import REPO, edit
from tests.support import serving

# The demo operator key from config/gateway.toml (public, like every demo secret).
OPERATOR_KEY = "hgo_YmUprF05UBLZP5cr9c2tmHX-KyntIMOrPRiub9rPc8c"
BUSINESS_KEY = "hg_CSItYVhGgFLMcXFqg9cS_Q7Qoseb3sLgH6WxuYmzOAM"  # nimbus-shop's demo API key
NETWORK_KEY = "hgn_a7EwhxZqgMbNRTigiNi-YQfCLXZYhp1MTYGnfcpMg80"


ARTIFACTS = Path(os.environ.get("HOSTGATE_TEST_ARTIFACTS", REPO / "test-artifacts")) / "console"


def chromium_path() -> str:
    """Debian's Chromium (or HOSTGATE_CHROMIUM); a clear failure, not a skip, when it is missing."""
    candidates = [os.environ.get("HOSTGATE_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    for candidate in filter(None, candidates):
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail("no Chromium for the browser tests: `apt-get install chromium` or set HOSTGATE_CHROMIUM")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium driven by Playwright."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Gateway:
    """A `hostgate serve` process with its config directory and log."""

    process: subprocess.Popen[str]
    base: str
    config: Path
    lines: list[dict[str, Any]]

    @property
    def var(self) -> Path:
        """Where the gateway keeps its state and trail."""
        return self.config.parent / "var"

    def reload(self, generation: int) -> None:
        """SIGHUP, then wait until the gateway has swapped in config ``generation``."""
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if any(
                r.get("event") == "config.reloaded" and r.get("generation") == generation
                for r in list(self.lines)
            ):
                return
            time.sleep(0.05)
        raise AssertionError(f"config generation {generation} not applied")

    def move_nimbus(self, operator: str) -> None:
        """Move nimbus-shop to another cloud operator (a hosting change) in its config file."""
        edit(
            self.config / "businesses" / "nimbus-shop.toml",
            lambda t: t.replace('operator = "Meta"', f'operator = "{operator}"'),
        )


@pytest.fixture
def gateway(config_dir: Path) -> Iterator[Gateway]:
    """The example config served on 127.0.0.1 at a free port."""
    with serving(config_dir) as (process, port, lines):
        yield Gateway(process, f"http://127.0.0.1:{port}", config_dir, lines)


async def sign_in(
    session: aiohttp.ClientSession, base: str, key: str = OPERATOR_KEY
) -> aiohttp.ClientResponse:
    """Post the login form; the session's cookie jar keeps the console cookie."""
    return await session.post(
        f"{base}/console/login", data={"key": key, "next": "/console/notices"}, allow_redirects=False
    )


@pytest.fixture
async def operator(gateway: Gateway) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client signed in to the console."""
    # unsafe=True: keep cookies for an IP-address host (127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        response = await sign_in(session, gateway.base)
        assert response.status == 303
        yield session
