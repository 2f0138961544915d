"""SSRF: deliveries never reach a non-public address, whatever form the URL or the DNS answer takes.

A fake resolver stands in for DNS (emulating libc's lenient IPv4 parsing), so no
test sends traffic to a private range; where a connection must happen it goes to
a receiver on 127.0.0.1, allowed explicitly.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from adapters.egress import DestinationRefused, EgressPolicy, guarded_session, networks
from adapters.http_delivery import post
from tests.adapters.receivers import receiver

LITERALS = [
    "http://10.0.0.1/",
    "http://10.255.255.255/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://127.0.0.1:8080/",
    "http://127.1.2.3/",
    "http://0.0.0.0/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.0.1/",
    "http://100.64.0.1/",
    "http://100.127.255.254/",
    "http://192.0.0.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://239.255.255.250/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:a00:1::1]/",
    "http://[2001:db8::1]/",
    "http://[::7f00:1]/",
    "http://[::a00:1]/",
    "http://[::127.0.0.1]/",
    "http://168.63.129.16/",
    "http://192.88.99.1/",
    "http://192.88.99.255/",
]
NUMERIC_FORMS = [
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://10.1/",
]
NAMES = {
    "internal.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "loopback.example": ["127.0.0.1"],
    "cgnat.example": ["100.64.3.4"],
    "mixed.example": ["93.184.216.34", "10.0.0.1"],
    "mapped.example": ["::ffff:10.0.0.1"],
    "v6local.example": ["fd00::1"],
    "localhost": ["127.0.0.1"],
}


class FakeResolver(AbstractResolver):
    """DNS for the tests: fixed answers per name, a rebinding sequence, libc-style numeric parsing."""

    def __init__(self, answers: dict[str, Sequence[Sequence[str]]]) -> None:
        self._answers = {name: list(seq) for name, seq in answers.items()}
        self.calls: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append(host)
        if host in self._answers:
            sequence = self._answers[host]
            addresses = sequence.pop(0) if len(sequence) > 1 else sequence[0]
        else:
            addresses = [socket.inet_ntoa(socket.inet_aton(host))]  # what getaddrinfo does with 0177.0.0.1
        return [
            {
                "hostname": host,
                "host": a,
                "port": port,
                "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for a in addresses
        ]

    async def close(self) -> None:
        pass


async def _attempt(url: str, policy: EgressPolicy, resolver: FakeResolver) -> str:
    session = guarded_session(policy, resolver=resolver, total_timeout=2, connect_timeout=1)
    try:
        result = await post(session, url, b"{}", {"content-type": "application/json"}, policy)
    finally:
        await session.close()
    return f"{result.outcome}: {result.detail}"


def test_corpus_is_large_enough() -> None:
    """At least forty addresses and URLs are checked."""
    assert len(LITERALS) + len(NUMERIC_FORMS) + len(NAMES) >= 40


@pytest.mark.parametrize("url", LITERALS + NUMERIC_FORMS)
async def test_literal_and_numeric_forms_refused(url: str) -> None:
    """A non-public literal address, in any spelling, is refused before any connection."""
    outcome = await _attempt(url, EgressPolicy(), FakeResolver({}))
    assert outcome.startswith("rejected: destination refused"), outcome


@pytest.mark.parametrize("name", sorted(NAMES))
async def test_names_resolving_inside_refused(name: str) -> None:
    """A name whose answer holds any non-public address is refused at connect time."""
    resolver = FakeResolver({name: [NAMES[name]]})
    outcome = await _attempt(f"https://{name}/hook", EgressPolicy(), resolver)
    assert outcome.startswith("rejected: destination refused"), outcome
    assert resolver.calls == [name]


async def test_rebinding_between_connections_refused() -> None:
    """The check runs on every connection: a name that rebinds to a private address is refused the second time."""
    async with receiver() as endpoint:
        port = int(endpoint.url.rsplit(":", 1)[1])
        resolver = FakeResolver({"rebind.example": [["127.0.0.1"], ["10.0.0.1"]]})
        policy = EgressPolicy(networks(["127.0.0.0/8"]))
        session = guarded_session(policy, resolver=resolver, total_timeout=2, connect_timeout=1)
        try:
            first = await post(
                session, f"http://rebind.example:{port}/a", b"{}", {"connection": "close"}, policy
            )
            second = await post(
                session, f"http://rebind.example:{port}/b", b"{}", {"connection": "close"}, policy
            )
        finally:
            await session.close()
    assert first.outcome == "delivered"
    assert second.outcome == "rejected"
    assert [r.path for r in endpoint.requests] == ["/a"]
    assert resolver.calls == ["rebind.example", "rebind.example"]


def test_public_addresses_permitted() -> None:
    """Public IPv4 and IPv6 addresses pass; an explicit allow-list entry passes."""
    import ipaddress  # noqa: PLC0415 -- only here

    policy = EgressPolicy()
    assert policy.permits(ipaddress.ip_address("93.184.216.34"))
    assert policy.permits(ipaddress.ip_address("2606:4700::1111"))
    assert EgressPolicy(networks(["10.1.0.0/16"])).permits(ipaddress.ip_address("10.1.2.3"))
    assert not EgressPolicy(networks(["10.1.0.0/16"])).permits(ipaddress.ip_address("10.2.0.1"))


def test_url_verdicts_follow_the_policy_they_were_given() -> None:
    """A URL checked again (its verdict is remembered) gets the answer of the policy asking, every time."""
    url = "http://10.1.2.3:8080/hook"
    allowing = EgressPolicy(networks(["10.1.0.0/16"]))
    for _ in range(3):
        allowing.check_url(url)
        with pytest.raises(DestinationRefused, match=r"10\.1\.2\.3 is not a public address"):
            EgressPolicy().check_url(url)
    EgressPolicy().check_url("https://hooks.example/x")  # a name: left to the resolver at connect time
