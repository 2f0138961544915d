"""The console over plain HTTP: who gets in, what the live stream says, what verification reports."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from gateway.console.common import COOKIE
from tests.conftest import edit
from tests.console.conftest import BUSINESS_KEY, NETWORK_KEY, OPERATOR_KEY, Gateway, sign_in
from tests.support import serving, wait_for_trail

pytestmark = pytest.mark.broker


async def test_pages_need_an_operator_session(gateway: Gateway) -> None:
    """Without a session pages redirect to sign-in (never elsewhere) and the live endpoints answer 401."""
    async with aiohttp.ClientSession() as anonymous:
        for path in ("/console/notices", "/console/audit", "/console/notices/nimbus-shop"):
            response = await anonymous.get(f"{gateway.base}{path}", allow_redirects=False)
            assert response.status == 303, path
            assert response.headers["Location"] == f"/console/login?next={path}"
        events = await anonymous.get(f"{gateway.base}/console/events")
        assert events.status == 401
        assert (await events.json())["error"]["code"] == "unauthorized"
        verify = await anonymous.post(f"{gateway.base}/console/audit/verify")
        assert verify.status == 401
        login = await anonymous.get(f"{gateway.base}/console/login?next=/console/audit")
        assert 'name="next" value="/console/audit"' in await login.text()
        # An open redirect to another site is refused: sign-in always lands inside the console.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            response = await session.post(
                f"{gateway.base}/console/login",
                data={"key": OPERATOR_KEY, "next": "//evil.example/steal"},
                allow_redirects=False,
            )
            assert response.status == 303
            assert response.headers["Location"] == "/console/notices"
    print("anonymous: 3 pages redirected to sign-in, events and verify 401, open redirect refused")


async def test_only_an_operator_key_signs_in(gateway: Gateway) -> None:
    """Business keys and the network credential are refused; guessing is throttled; the cookie is locked down."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        for key in (BUSINESS_KEY, NETWORK_KEY, "", "hgo_guess"):
            response = await sign_in(session, gateway.base, key)
            assert response.status == 401, key
            assert "Unknown operator key." in await response.text()
        assert not session.cookie_jar.filter_cookies(URL(gateway.base + "/console/"))
        ok = await sign_in(session, gateway.base)
        assert ok.status == 303
        cookie = ok.cookies["hostgate_console"]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/console/"
        page = await session.get(f"{gateway.base}/console/notices")
        assert page.status == 200
        assert "default-src 'self'" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"
        logout = await session.post(f"{gateway.base}/console/logout", allow_redirects=False)
        assert logout.status == 303
        again = await session.get(f"{gateway.base}/console/notices", allow_redirects=False)
        assert again.status == 303
    async with aiohttp.ClientSession() as guesser:
        statuses = [(await sign_in(guesser, gateway.base, f"hgo_{i}")).status for i in range(40)]
    assert statuses.count(429) > 0
    assert statuses[:10] == [401] * 10  # 4 failures above share the client's bucket: burst 20
    print(f"sign-in: 4 wrong credentials 401; 40 guesses -> {statuses.count(429)} throttled (429)")


async def test_cross_site_posts_are_refused(operator: aiohttp.ClientSession, gateway: Gateway) -> None:
    """A request carrying another site's Origin cannot run the console's actions."""
    response = await operator.post(
        f"{gateway.base}/console/audit/verify", headers={"Origin": "https://evil.example"}
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "cross_origin"
    same = await operator.post(f"{gateway.base}/console/audit/verify", headers={"Origin": gateway.base})
    assert same.status == 200


async def test_a_cross_site_post_cannot_sign_the_operator_out(
    operator: aiohttp.ClientSession, gateway: Gateway
) -> None:
    """Another site's form posting to /console/logout is refused and the session stays valid."""
    for headers in ({"Origin": "https://evil.example"}, {"Origin": "null", "Sec-Fetch-Site": "cross-site"}):
        refused = await operator.post(
            f"{gateway.base}/console/logout", headers=headers, allow_redirects=False
        )
        assert refused.status == 403, headers
        assert (await refused.json())["error"]["code"] == "cross_origin"
    still = await operator.get(f"{gateway.base}/console/notices", allow_redirects=False)
    assert still.status == 200


async def test_cookie_is_secure_behind_a_trusted_proxy_only(config_dir: Path) -> None:
    """X-Forwarded-Proto: https makes the session cookie Secure only when the peer is a trusted proxy."""
    edit(
        config_dir / "gateway.toml",
        lambda t: t.replace("[http]\n", '[http]\ntrusted_proxies = ["127.0.0.1/32"]\n', 1),
    )
    with serving(config_dir) as (_process, port, _lines):
        async with aiohttp.ClientSession() as session:
            for forwarded, secure in (("https", True), ("http", False)):
                response = await session.post(
                    f"http://127.0.0.1:{port}/console/login",
                    data={"key": OPERATOR_KEY, "next": "/console/notices"},
                    headers={"X-Forwarded-Proto": forwarded},
                    allow_redirects=False,
                )
                assert response.status == 303
                cookie = response.headers["Set-Cookie"]
                assert ("Secure" in cookie) is secure, cookie


async def test_untrusted_peers_cannot_claim_https(gateway: Gateway) -> None:
    """Without trusted_proxies, X-Forwarded-Proto: https from any peer leaves the cookie without Secure."""
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            f"{gateway.base}/console/login",
            data={"key": OPERATOR_KEY, "next": "/console/notices"},
            headers={"X-Forwarded-Proto": "https"},
            allow_redirects=False,
        )
        assert response.status == 303
        assert "Secure" not in response.headers["Set-Cookie"]


async def test_live_stream_announces_a_new_revision(
    operator: aiohttp.ClientSession, gateway: Gateway
) -> None:
    """After a hosting change and SIGHUP the stream names the business and its new revision."""
    stream = await operator.get(f"{gateway.base}/console/events")
    assert stream.status == 200
    assert stream.headers["Content-Type"] == "text/event-stream"
    assert (await stream.content.readuntil(b"\n\n")).startswith(b"retry: ")
    gateway.move_nimbus("Nimbus Cloud Services")
    await asyncio.to_thread(gateway.reload, 2)
    frame = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 10)
    lines = frame.decode().strip().splitlines()
    assert lines[0] == "event: revision"
    assert json.loads(lines[1].removeprefix("data: ")) == [{"business_id": "nimbus-shop", "revision": 2}]
    stream.close()
    cards = await (await operator.get(f"{gateway.base}/console/notices/cards?locale=fr")).text()
    assert "Nimbus Cloud Services" in cards
    assert 'lang="fr"' in cards
    history = await (await operator.get(f"{gateway.base}/console/notices/nimbus-shop")).text()
    assert history.count('class="card" data-revision=') == 2
    assert "This business changed how this chat is managed." in history
    print(f"live: {frame.decode().strip()!r}")


async def test_removing_the_operator_key_ends_its_sessions(
    operator: aiohttp.ClientSession, gateway: Gateway
) -> None:
    """A key dropped from gateway.toml on reload no longer opens pages with an old cookie."""
    assert (await operator.get(f"{gateway.base}/console/audit")).status == 200
    edit(
        gateway.config / "gateway.toml",
        lambda t: t.replace('operator_key_hashes = ["sha256:', 'operator_key_hashes = [] # ["sha256:'),
    )
    await asyncio.to_thread(gateway.reload, 2)
    response = await operator.get(f"{gateway.base}/console/audit", allow_redirects=False)
    assert response.status == 303


async def test_verify_reports_the_first_tampered_record(
    operator: aiohttp.ClientSession, gateway: Gateway
) -> None:
    """The verify action runs the CLI's check: intact first, then the seq of a changed record."""
    for _ in range(50):  # staged with their revisions, the records reach the chain within moments
        intact = await (await operator.post(f"{gateway.base}/console/audit/verify")).json()
        if intact["records"] >= 4:  # config.loaded + three business.onboarded
            break
        await asyncio.sleep(0.1)
    assert intact["status"] in {"intact", "incomplete"}, intact
    assert intact["first"] is None
    assert intact["records"] >= 4
    trail = sorted((gateway.var / "audit").glob("audit-*.jsonl"))[0]
    text = trail.read_text()
    assert '"event":"business.onboarded"' in text
    trail.write_text(text.replace('"operator":"Meta"', '"operator":"Mallory"', 1))
    tampered = await (await operator.post(f"{gateway.base}/console/audit/verify")).json()
    assert tampered["status"] == "tampered"
    seq = next(
        json.loads(line)["seq"] for line in trail.read_text().splitlines() if '"operator":"Mallory"' in line
    )
    assert tampered["first"] == {"seq": seq, "kind": "changed", "detail": tampered["first"]["detail"]}
    assert tampered["summary"].startswith(f"TAMPERED at seq {seq}: changed")
    print(f"verify: {intact['summary']} -> {tampered['summary']}")


async def test_audit_table_filters(operator: aiohttp.ClientSession, gateway: Gateway) -> None:
    """Filtering by business and event keeps only matching rows; a bad time names the field."""
    # Records staged at start-up reach the trail a moment after their commit: wait for all three.
    await wait_for_trail(gateway.var, '"event":"business.onboarded"', count=3)
    page = await operator.get(
        f"{gateway.base}/console/audit", params={"business": "kirana-travel", "event": "business.onboarded"}
    )
    html = await page.text()
    assert page.status == 200
    assert html.count('<td class="event">business.onboarded</td>') == 1
    assert "warung-sari</td>" not in html
    bad = await operator.get(f"{gateway.base}/console/audit", params={"since": "yesterday"})
    assert bad.status == 400
    assert "yesterday" in (await bad.json())["error"]["message"]


async def test_names_are_escaped(config_dir: Path) -> None:
    """A display name with markup is shown as text, never run as script."""
    edit(
        config_dir / "businesses" / "nimbus-shop.toml",
        lambda t: t.replace(
            'display_name = "Nimbus Shop"', 'display_name = "Nimbus <script>alert(1)</script>"'
        ),
    )
    with serving(config_dir) as (_process, port, _lines):
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            await sign_in(session, base)
            html = await (await session.get(f"{base}/console/notices")).text()
    assert "<script>alert(1)</script>" not in html
    assert "Nimbus &lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_console_can_be_turned_off(config_dir: Path) -> None:
    """With ``[console] enabled = false`` every console path is 404 and the API still works."""
    edit(config_dir / "gateway.toml", lambda t: t.replace("enabled = true", "enabled = false", 1))
    with serving(config_dir) as (_process, port, _lines):
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for path in ("/console/", "/console/login", "/console/notices"):
                assert (await session.get(f"{base}{path}", allow_redirects=False)).status == 404, path
            assert (await session.get(f"{base}/disclosures")).status == 200


async def test_a_session_opened_on_one_process_holds_on_another(config_dir: Path) -> None:
    """Two gateways on one store (as replicas behind a balancer): sign in on A, browse on B, sign out on B."""
    with serving(config_dir) as (_, port_a, _), serving(config_dir) as (_, port_b, _):
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            assert (await sign_in(session, a)).status == 303
            on_b = await session.get(f"{b}/console/notices", allow_redirects=False)
            assert on_b.status == 200, "B finds the session A opened"
            token = session.cookie_jar.filter_cookies(URL(f"{a}/console/"))[COOKIE].value
            await session.post(f"{b}/console/logout", allow_redirects=False)
        async with aiohttp.ClientSession() as replay:  # the old token, sent by hand after signing out
            on_a = await replay.get(
                f"{a}/console/notices", headers={"Cookie": f"{COOKIE}={token}"}, allow_redirects=False
            )
            assert on_a.status == 303, "signed out on B is signed out on A"


async def _revision_event(
    stream: aiohttp.ClientResponse, business: str, within: float
) -> list[dict[str, object]]:
    """The first ``revision`` event on an SSE stream naming ``business``."""
    async with asyncio.timeout(within):
        event = ""
        async for raw in stream.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "revision":
                changes: list[dict[str, object]] = json.loads(line.removeprefix("data: "))
                if any(c["business_id"] == business for c in changes):
                    return changes
    raise AssertionError("the stream ended")


async def test_the_live_feed_shows_a_revision_made_on_another_process(config_dir: Path) -> None:
    """The live page watches B; the hosting change is reloaded on A only: B's stream reports it."""
    with serving(config_dir) as (process_a, _, _), serving(config_dir) as (_, port_b, _):
        b = f"http://127.0.0.1:{port_b}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            assert (await sign_in(session, b)).status == 303
            async with session.get(f"{b}/console/events") as stream:
                assert stream.status == 200
                edit(
                    config_dir / "businesses" / "warung-sari.toml",
                    lambda t: t.replace('region = "id-jakarta"', 'region = "id-surabaya"'),
                )
                process_a.send_signal(signal.SIGHUP)  # A reloads; B is never told
                changes = await _revision_event(stream, "warung-sari", within=15)
    print(f"B's live feed after A's reload: {changes}")
    assert {"business_id": "warung-sari", "revision": 2} in changes
