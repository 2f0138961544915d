"""Where hostgate may connect when it delivers: public addresses only, checked on every connection.

A business file names URLs; a hostile or mistaken one must not make hostgate
reach its own network (private ranges, loopback, link-local and cloud metadata,
CGNAT, multicast, IPv4-mapped or NAT64-wrapped forms of those). Names are
checked after resolution, at connect time, on every connection (no DNS cache),
so a name that rebinds between resolutions is caught; literal IPs are checked
before the request. An explicit allow-list of networks (tests and local demos
need loopback) comes from the gateway settings.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Not "global" in the sense that matters here, even where ipaddress says otherwise: CGNAT, IETF
# protocol assignments, benchmarking, NAT64, 6to4 (and its deprecated relay anycast range), the
# deprecated IPv4-compatible IPv6 form (::a.b.c.d, e.g. ::7f00:1 for 127.0.0.1), and a cloud
# platform's host-internal service address (DNS, metadata and health for its VMs).
_ALWAYS_REFUSED = tuple(
    ipaddress.ip_network(n)
    for n in (
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "192.88.99.0/24",
        "168.63.129.16/32",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "::/96",
    )
)


class DestinationRefused(aiohttp.ClientConnectionError):
    """The destination is not a public address (and not in the allow-list)."""


def _unwrap(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Which destinations deliveries may reach."""

    allowed: tuple[IPNetwork, ...] = ()

    def permits(self, address: IPAddress) -> bool:
        """Public and not in a refused range, or explicitly allowed."""
        plain = _unwrap(address)
        if any(plain in network for network in self.allowed if network.version == plain.version):
            return True
        if any(
            address in net or plain in net
            for net in _ALWAYS_REFUSED
            if net.version in {address.version, plain.version}
        ):
            return False
        return plain.is_global and not plain.is_multicast

    def check_url(self, url: str) -> None:
        """Refuse a URL whose host is a literal address the policy does not permit."""
        refusal = _refusal(self, url)
        if refusal is not None:
            raise DestinationRefused(refusal)


# The same few URLs are checked on every delivery; the answer depends only on policy and URL.
@lru_cache(maxsize=1024)
def _refusal(policy: EgressPolicy, url: str) -> str | None:
    host = (URL(url).host or "").strip("[]")
    try:
        address: IPAddress = ipaddress.ip_address(host)
    except ValueError:
        try:
            # Legacy numeric spellings (2130706433, 0177.0.0.1, 0x7f.1, 127.1) that libc, and some
            # aiohttp releases, connect to without asking a resolver: judged here, whatever the client.
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None  # a name: checked by the resolver at connect time
    if not policy.permits(address):
        return f"destination {host} is not a public address"
    return None


class GuardedResolver(AbstractResolver):
    """Resolves with another resolver, then refuses the whole answer if any address is not permitted."""

    def __init__(self, policy: EgressPolicy, resolver: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._resolver = resolver or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve ``host``; raise DestinationRefused when any answer is not permitted."""
        answers = await self._resolver.resolve(host, port, family)
        refused = [a["host"] for a in answers if not self._policy.permits(ipaddress.ip_address(a["host"]))]
        if refused:
            # One bad answer refuses all: otherwise a rebinding name could pick its moment.
            raise DestinationRefused(f"{host} resolves to a non-public address")
        return answers

    async def close(self) -> None:
        """Close the underlying resolver."""
        await self._resolver.close()


def guarded_session(
    policy: EgressPolicy,
    *,
    resolver: AbstractResolver | None = None,
    total_timeout: float = 15.0,
    connect_timeout: float = 5.0,
) -> aiohttp.ClientSession:
    """A session whose every connection goes through the policy, with no DNS cache and no redirects."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy, resolver), use_dns_cache=False)
    timeout = aiohttp.ClientTimeout(total=total_timeout, connect=connect_timeout)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, raise_for_status=False)


def networks(values: Sequence[str]) -> tuple[IPNetwork, ...]:
    """Parse allow-list entries like ``127.0.0.0/8``."""
    return tuple(ipaddress.ip_network(v, strict=False) for v in values)
