"""The chaos suite: three replicas on PostgreSQL behind a 3-node RabbitMQ cluster, broken for real.

Under steady load from both sides — businesses posting messages with careful
clients (the same Idempotency-Key, on the next replica, until a 202) and users
sending sealed messages through the simulated network — the test, in one run:
kills -9 one replica, then a second, and starts both again; changes a business's
hosting with SIGHUP to every replica at the same instant; stops the RabbitMQ node
the replicas are connected to and brings it back; crashes PostgreSQL
(``pg_ctl -m immediate``) and starts it again. Then it lets the load drain and
counts what the network and the hosts received: accepted, published, delivered,
same-id copies (at-least-once), lost, unexpected events, the revisions the network
saw per business, the audit chain's verification, and how long the survivors took
to be ready again after each fault.

The network's view is taken on the one node never stopped, from queues bound
before the first replica starts, so it sees every event ever published.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import aiohttp
import pytest
from aio_pika.abc import AbstractIncomingMessage

from adapters.base import b64url
from gateway.broker import topology
from gateway.broker.cloudevents import parse
from gateway.client.verifier import Accepted, EventVerifier
from gateway.disclosure.document import DisclosureDocument
from gateway.disclosure.keys import KeyRing
from gateway.events import OUTBOUND_MESSAGE
from gateway.sealing import EndpointPrivateKey
from gateway.simulator import NetworkSimulator
from tests.bridge.conftest import API_KEYS, BUSINESSES, example_key, point_at_hosts
from tests.bridge.hosts import Hosts, business_hosts
from tests.conftest import run_cli, without_rate_limit
from tests.pg_instance import PrivatePostgres, private_postgres
from tests.rabbit_cluster import Cluster, rabbit_cluster
from tests.support import send_carefully, serving, until

pytestmark = [
    pytest.mark.broker,
    pytest.mark.reliability,
    pytest.mark.postgresql_only,
    pytest.mark.timeout(900),
]

REPLICAS = 3
READY_WITHIN = 30.0
MOVED = "warung-sari"  # the business whose hosting changes mid-run
INGEST_CLIENTS = 2
INGEST_PAUSE = 0.03
INBOUND_PAUSE = 0.08
SETTLE = 3.0  # seconds of load between faults
PG_DOWN = 3.0  # seconds the database stays down after its crash


@dataclass
class Replica:
    """One ``hostgate serve`` process; replaced by a new one when it is started again."""

    index: int
    process: Any
    port: int
    lines: list[dict[str, Any]]
    context: AbstractContextManager[Any]

    @property
    def base(self) -> str:
        """Its HTTP base URL."""
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Replicas:
    """The running replicas: started, killed and started again by the test."""

    config_dir: Path
    env: dict[str, str]
    live: dict[int, Replica] = field(default_factory=dict)
    killed: list[int] = field(default_factory=list)

    def start(self, index: int) -> Replica:
        """Start replica ``index`` (a new process, a new port)."""
        context = serving(self.config_dir, self.env)
        process, port, lines = context.__enter__()
        self.live[index] = Replica(index, process, port, lines, context)
        return self.live[index]

    def kill(self, index: int) -> None:
        """``kill -9`` replica ``index``."""
        replica = self.live.pop(index)
        os.kill(replica.process.pid, signal.SIGKILL)
        replica.context.__exit__(None, None, None)
        self.killed.append(replica.process.pid)

    def bases(self) -> list[str]:
        """The base URLs of the replicas running now."""
        return [r.base for r in self.live.values()]

    def signal_all(self, signum: int) -> None:
        """Send ``signum`` to every replica as close to the same instant as we can."""
        for replica in list(self.live.values()):
            os.kill(replica.process.pid, signum)

    def stop_all(self) -> list[int]:
        """SIGTERM every replica; their exit codes."""
        self.signal_all(signal.SIGTERM)
        codes = [r.process.wait(60) for r in self.live.values()]
        for replica in self.live.values():
            replica.context.__exit__(None, None, None)
        self.live.clear()
        return codes


@contextmanager
def replicas_of(config_dir: Path, env: dict[str, str]) -> Iterator[Replicas]:
    """A replica set; every process left is killed at the end."""
    replicas = Replicas(config_dir, env)
    try:
        yield replicas
    finally:
        for replica in replicas.live.values():
            replica.context.__exit__(None, None, None)


async def all_ready(replicas: Replicas, within: float = READY_WITHIN) -> float:
    """Seconds until every running replica answers /readyz with 200 (fails after ``within``)."""
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session:
        while time.monotonic() - started < within:
            statuses = []
            for base in replicas.bases():
                try:
                    async with session.get(f"{base}/readyz") as response:
                        statuses.append(response.status)
                except (aiohttp.ClientError, TimeoutError):
                    statuses.append(0)
            if statuses and all(s == 200 for s in statuses):
                return time.monotonic() - started
            await asyncio.sleep(0.2)
    raise AssertionError(f"replicas not all ready within {within} s")


@dataclass
class NetworkView:
    """Every disclosure and outbound event the network was handed, copies included."""

    disclosures: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    outbound: list[str] = field(default_factory=list)  # message ids of outbound messages

    async def on_disclosure(self, message: AbstractIncomingMessage) -> None:
        """Keep a disclosure as it came (verified at the end, once the signing keys exist)."""
        async with message.process():
            self.disclosures.append((dict(message.headers), message.body))

    async def on_outbound(self, message: AbstractIncomingMessage) -> None:
        """Keep the id of each business message published to users."""
        async with message.process():
            event = parse(dict(message.headers), message.body)
            if event.type == OUTBOUND_MESSAGE:
                self.outbound.append(str(json.loads(event.data)["message_id"]))


async def _watch(url: str, view: NetworkView) -> aio_pika.abc.AbstractRobustConnection:
    connection = await aio_pika.connect_robust(
        url, client_properties={"connection_name": "chaos:network-view"}
    )
    channel = await connection.channel()
    await topology.declare(channel)
    for exchange, handler in (
        (topology.DISCLOSURES.exchange, view.on_disclosure),
        (topology.OUTBOUND.exchange, view.on_outbound),
    ):
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key="#")
        await queue.consume(handler)
    return connection


async def _ingest(replicas: Replicas, stop: asyncio.Event, client: int, accepted: dict[str, str]) -> None:
    """One careful business client: a message, a 202 from some replica, the next message."""
    n = client
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(force_close=True), timeout=aiohttp.ClientTimeout(total=10)
    ) as session:
        while not stop.is_set():
            accepted[f"chaos-{n}"] = await send_carefully(
                session, functools.partial(_rotate, replicas, n), API_KEYS[MOVED], n, tries=400
            )
            n += INGEST_CLIENTS
            await asyncio.sleep(INGEST_PAUSE)


def _node_of(replica: Replica) -> str:
    """The broker node a replica last connected to, from its log."""
    return str([x for x in replica.lines if x.get("event") == "broker.connected"][-1]["node"])


def _rotate(replicas: Replicas, n: int, attempt: int) -> str:
    """Message ``n``'s replica on its ``attempt``-th try: the next one each time."""
    bases = replicas.bases()
    return bases[(n + attempt) % len(bases)]


async def _inbound(network: NetworkSimulator, stop: asyncio.Event) -> None:
    """Users writing to every business, each message sealed to the key the user's client knows."""
    n = 0
    while not stop.is_set():
        await network.send(f"chaos-user-{n % 25}", BUSINESSES[n % len(BUSINESSES)], f"hello {n}")
        n += 1
        await asyncio.sleep(INBOUND_PAUSE)


def _move_hosting(config_dir: Path, hosts: Hosts) -> EndpointPrivateKey:
    """Point MOVED at a new host with a new key (the file every replica reads on SIGHUP)."""
    old_key = example_key(MOVED)
    new_key = EndpointPrivateKey.generate()
    path = config_dir / "businesses" / f"{MOVED}.toml"
    new_url = hosts.add(f"{MOVED}-new", new_key, hosts.secrets[MOVED])
    path.write_text(
        path.read_text()
        .replace(b64url(old_key.public.public_key), b64url(new_key.public.public_key))
        .replace(f"{hosts.url}/{MOVED}", new_url)
    )
    return new_key


def _revisions(view: NetworkView, verifier: EventVerifier) -> tuple[dict[str, list[int]], int, int]:
    """Per business, the revisions of distinct disclosure events in arrival order; copies; rejected."""
    seen: dict[str, list[int]] = defaultdict(list)
    ids: set[str] = set()
    copies = rejected = 0
    for headers, body in view.disclosures:
        verdict = verifier.check(headers, body)
        if not isinstance(verdict, Accepted) or not isinstance(verdict.document, DisclosureDocument):
            rejected += 1
            continue
        event_id = str(parse(headers, body).id)
        if event_id in ids:
            copies += 1
            continue
        ids.add(event_id)
        seen[verdict.document.business_id].append(verdict.document.revision)
    return dict(seen), copies, rejected


def _accepted_in_trail(var: Path) -> Counter[str]:
    """How often each business message id was recorded as accepted in the audit trail."""
    counts: Counter[str] = Counter()
    for path in sorted((var / "audit").glob("audit-*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("event") == "message.accepted" and record.get("direction") == "outbound":
                counts[str(record.get("message_id"))] += 1
    return counts


@dataclass
class Faults:
    """The faults, one after another, each timed until every running replica is ready again."""

    config_dir: Path
    replicas: Replicas
    cluster: Cluster
    pg: PrivatePostgres
    hosts: Hosts
    ready: dict[str, float] = field(default_factory=dict)
    new_key: EndpointPrivateKey | None = None

    async def run(self) -> None:
        """Every fault in turn, with load flowing between them."""
        for step in (self.kill_two, self.change_hosting, self.stop_a_node, self.crash_the_database):
            await asyncio.sleep(SETTLE)
            await step()
        await asyncio.sleep(SETTLE)

    async def kill_two(self) -> None:
        """Kill -9 one replica, then a second; then start both again."""
        self.replicas.kill(0)
        self.ready["kill -9 replica 0"] = await all_ready(self.replicas)
        await asyncio.sleep(SETTLE)
        self.replicas.kill(1)
        self.ready["kill -9 replica 1"] = await all_ready(self.replicas)
        await asyncio.sleep(SETTLE)
        started = time.monotonic()
        self.replicas.start(0)
        self.replicas.start(1)
        await all_ready(self.replicas)
        self.ready["replicas 0 and 1 started again"] = time.monotonic() - started

    async def change_hosting(self) -> None:
        """MOVED goes to a new host with a new key; SIGHUP reaches every replica at once."""
        self.new_key = _move_hosting(self.config_dir, self.hosts)
        self.replicas.signal_all(signal.SIGHUP)
        self.ready["hosting change (SIGHUP to all)"] = await all_ready(self.replicas)

    async def stop_a_node(self) -> None:
        """Stop the RabbitMQ node the replicas are on; they move; bring it back."""
        victim = self.cluster.nodes[0]  # every replica connects to the first node it is given
        on_victim = [r for r in self.replicas.live.values() if f":{victim.port}" in _node_of(r)]
        assert on_victim, "the replicas are on the first node"
        stopped = time.monotonic()
        await asyncio.to_thread(self.cluster.stop_app, victim)
        await until(
            lambda: all(f":{victim.port}" not in _node_of(r) for r in on_victim),
            "every replica on the stopped node moved to another",
            READY_WITHIN,
        )
        await all_ready(self.replicas)
        self.ready["RabbitMQ node stopped (replicas moved)"] = time.monotonic() - stopped
        await asyncio.sleep(SETTLE)
        await asyncio.to_thread(self.cluster.start_app, victim)
        self.ready["RabbitMQ node back"] = await all_ready(self.replicas)

    async def crash_the_database(self) -> None:
        """PostgreSQL stops as in a crash (no checkpoint), stays down a while, recovers."""
        await asyncio.to_thread(self.pg.stop, "immediate")
        await asyncio.sleep(PG_DOWN)
        await asyncio.to_thread(self.pg.start)
        self.ready[f"PostgreSQL crashed, back after {PG_DOWN:.0f} s"] = await all_ready(self.replicas)


async def _drain(network: NetworkSimulator, view: NetworkView, accepted: dict[str, str]) -> None:
    """Until the network has every accepted message and every user's message was delivered (or time is up)."""
    with contextlib.suppress(TimeoutError):  # what never arrives is counted as lost
        await network.wait_all_delivered(within=60)
    deadline = time.monotonic() + 60
    while set(accepted.values()) - set(view.outbound) and time.monotonic() < deadline:  # noqa: ASYNC110 -- polling another consumer's list
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a late copy would show up here


@dataclass
class Tally:
    """What the network, the hosts and the audit trail show at the end."""

    ids: set[str]
    requests: int
    published: Counter[str]
    sent: set[str]
    opened: Counter[str]
    revisions: dict[str, list[int]]
    disclosure_copies: int
    rejected: int
    trail: Counter[str]
    verified: subprocess.CompletedProcess[str]
    counts: Counter[str]
    new_host: int
    unopenable: int

    @classmethod
    def of(
        cls,
        view: NetworkView,
        accepted: dict[str, str],
        network: NetworkSimulator,
        hosts: Hosts,
        verifier: EventVerifier,
        var: Path,
    ) -> Tally:
        """Count it all."""
        revisions, copies, rejected = _revisions(view, verifier)
        return cls(
            ids=set(accepted.values()),
            requests=len(accepted),
            published=Counter(view.outbound),
            sent=set(network.sent),
            opened=Counter(m for got in hosts.opened.values() for m, _, _ in got),
            revisions=revisions,
            disclosure_copies=copies,
            rejected=rejected,
            trail=_accepted_in_trail(var),
            verified=run_cli("audit", "verify", str(var / "audit")),
            counts=network.stats.counts,
            new_host=len(hosts.opened[f"{MOVED}-new"]),
            unopenable=len(hosts.unopenable),
        )

    @property
    def lost(self) -> set[str]:
        """Accepted business messages the network never got."""
        return self.ids - set(self.published)

    @property
    def unexpected(self) -> set[str]:
        """Messages the network got that no business had been told were accepted."""
        return set(self.published) - self.ids

    @property
    def inbound_lost(self) -> set[str]:
        """Users' messages no host ever opened."""
        return self.sent - set(self.opened)

    def show(self, codes: list[int], ready: dict[str, float]) -> None:
        """Print the counts (the suite's output is read, not only its verdict)."""
        print(
            f"\nchaos: ingest accepted {len(self.ids)} (requests {self.requests}),"
            f" published {len(set(self.published))}, lost {len(self.lost)},"
            f" same-id copies {sum(self.published.values()) - len(set(self.published))},"
            f" unexpected {len(self.unexpected)}"
        )
        print(
            f"chaos: inbound sent {len(self.sent)}, delivered {len(set(self.opened) & self.sent)},"
            f" lost {len(self.inbound_lost)}, same-id copies {sum(self.opened.values()) - len(self.opened)},"
            f" resealed {self.counts['resealed']}, stale receipts {self.counts['receipt:disclosure_stale']},"
            f" opened by the new host {self.new_host}, unopenable {self.unopenable}"
        )
        print(
            f"chaos: revisions seen {self.revisions}, disclosure copies {self.disclosure_copies},"
            f" rejected {self.rejected}; audit verify exit {self.verified.returncode};"
            f" accepted in the trail {len(self.trail)}"
            f" (more than once {sum(1 for c in self.trail.values() if c > 1)}); exit codes {codes}"
        )
        for fault, seconds in ready.items():
            print(f"chaos: ready again {seconds:5.1f} s after: {fault}")


async def test_three_replicas_survive_kills_a_node_stop_a_database_crash_and_a_hosting_change(
    config_dir: Path,
) -> None:
    """Every accepted message reaches the network, every sent message its host; revisions once, in order."""
    without_rate_limit(config_dir)
    accepted: dict[str, str] = {}
    view = NetworkView()
    stop = asyncio.Event()
    with (
        rabbit_cluster(3) as cluster,
        private_postgres() as pg,
        replicas_of(config_dir, {"HOSTGATE_AMQP_URL": cluster.url, "HOSTGATE_STORE_URL": pg.url}) as replicas,
    ):
        network_node = cluster.nodes[-1]  # never stopped: the network's own connections live here
        watching = await _watch(network_node.url, view)
        async with business_hosts() as hosts:
            point_at_hosts(config_dir, hosts)
            faults = Faults(config_dir, replicas, cluster, pg, hosts)
            replicas.start(0)
            await all_ready(replicas)  # the first creates the signing keys the others share
            for index in range(1, REPLICAS):
                replicas.start(index)
            faults.ready["start"] = await all_ready(replicas)
            keys = KeyRing.open(config_dir.parent / "var" / "keys").public_keys()
            network = NetworkSimulator(network_node.url, keys, name="chaos:network")
            await network.start()
            await network.bootstrap(replicas.bases()[0])
            load = [asyncio.create_task(_ingest(replicas, stop, c, accepted)) for c in range(INGEST_CLIENTS)]
            load.append(asyncio.create_task(_inbound(network, stop)))
            try:
                await faults.run()
            finally:
                stop.set()
                await asyncio.gather(*load)
            await _drain(network, view, accepted)
            codes = replicas.stop_all()
            await network.close()
        await watching.close()

    t = Tally.of(view, accepted, network, hosts, EventVerifier(keys), config_dir.parent / "var")
    t.show(codes, faults.ready)
    assert not t.lost, f"{len(t.lost)} accepted messages never reached the network"
    assert not t.unexpected
    assert not t.inbound_lost, f"{len(t.inbound_lost)} users' messages never reached a host"
    assert not hosts.unopenable
    assert hosts.forged == 0
    assert hosts.opened[f"{MOVED}-new"], "messages after the hosting change reached the new host"
    assert t.rejected == 0
    for business in BUSINESSES:
        want = [1, 2] if business == MOVED else [1]
        assert t.revisions.get(business) == want, f"{business}: the network saw {t.revisions.get(business)}"
    assert faults.new_key is not None
    assert network.disclosures[MOVED].endpoint_key.kid == faults.new_key.public.kid
    assert t.verified.returncode == 0, t.verified.stdout + t.verified.stderr
    assert set(t.trail) == t.ids, "each accepted message in the one audit chain"
    assert max(t.trail.values()) == 1, "and only once"
    assert codes == [0] * REPLICAS
    assert all(seconds < READY_WITHIN for seconds in faults.ready.values())
