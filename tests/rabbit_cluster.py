"""A 3-node RabbitMQ cluster on loopback, beside the system broker, for the tests that need one.

Each node has its own node name, AMQP and distribution ports, config file (the
system's pins the listener to 5672), data and log directories owned by the
``rabbitmq`` user, and the system's Erlang cookie. Started, joined into one
cluster, and stopped and removed by the test that asked for it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_port

RABBIT_HOME = "/var/lib/rabbitmq"


@dataclass(frozen=True)
class Node:
    """One node: its Erlang name, AMQP port and directory."""

    name: str
    port: int
    dist_port: int
    base: Path

    @property
    def url(self) -> str:
        """Its AMQP URL (guest is allowed from loopback)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        """The environment that makes rabbitmq-server and rabbitmqctl speak to this node."""
        return {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": RABBIT_HOME,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_PID_FILE": str(self.base / "pid"),
        }


class Cluster:
    """The running nodes, and what a fault test does to them."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes

    def ctl(self, node: Node, *args: str, timeout: float = 120) -> str:
        """``rabbitmqctl -n node ARGS`` as the rabbitmq user; its output (raises on failure)."""
        done = subprocess.run(
            ["runuser", "-u", "rabbitmq", "--", "rabbitmqctl", "-n", node.name, *args],
            env=node.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {node.name} {' '.join(args)}: {done.stderr.strip()[:400]}")
        return done.stdout

    @property
    def url(self) -> str:
        """One AMQP URL naming every node, as hostgate's [broker] url takes it."""
        return "amqp://guest:guest@" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes) + "/"

    def stop_app(self, node: Node) -> None:
        """Stop the broker on ``node`` (its connections close; the Erlang node stays up)."""
        self.ctl(node, "stop_app")

    def start_app(self, node: Node) -> None:
        """Start the broker on ``node`` again and wait until it serves."""
        self.ctl(node, "start_app")
        self.ctl(node, "await_startup", "--timeout", "60")


def _start(node: Node) -> None:
    node.base.mkdir(parents=True)
    (node.base / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{node.port}\nloopback_users.guest = true\n"
    )
    (node.base / "enabled_plugins").write_text("[].\n")
    rabbit = pwd.getpwnam("rabbitmq")
    for path in [node.base, *node.base.iterdir()]:
        os.chown(path, rabbit.pw_uid, rabbit.pw_gid)
    subprocess.run(
        ["runuser", "-u", "rabbitmq", "--", "rabbitmq-server", "-detached"],
        env=node.env(),
        check=True,
        capture_output=True,
        timeout=60,
    )


def _wait_up(cluster: Cluster, node: Node, within: float = 90) -> None:
    """Until ``node`` has booted: rabbitmqctl cannot reach a node before it registers its name."""
    deadline = time.monotonic() + within
    while True:
        try:
            cluster.ctl(node, "await_startup", "--timeout", "30")
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
        else:
            return


@contextmanager
def rabbit_cluster(size: int = 3) -> Iterator[Cluster]:
    """``size`` fresh nodes joined into one cluster; stopped and removed afterwards."""
    if shutil.which("rabbitmq-server") is None or os.geteuid() != 0:
        pytest.fail("the cluster tests need rabbitmq-server and root (to run nodes as the rabbitmq user)")
    tag = f"hgt{os.getpid()}"
    base = Path(tempfile.mkdtemp(prefix="hostgate-rabbit-"))
    rabbit = pwd.getpwnam("rabbitmq")
    os.chown(base, rabbit.pw_uid, rabbit.pw_gid)  # the nodes' directories live in it
    nodes = [Node(f"{tag}n{i}@localhost", free_port(), free_port(), base / f"n{i}") for i in range(size)]
    cluster = Cluster(nodes)
    try:
        for node in nodes:
            _start(node)
        for node in nodes:
            _wait_up(cluster, node)
        for node in nodes[1:]:
            cluster.ctl(node, "stop_app")
            cluster.ctl(node, "join_cluster", nodes[0].name)
            cluster.start_app(node)
        yield cluster
    finally:
        for node in nodes:
            subprocess.run(
                ["runuser", "-u", "rabbitmq", "--", "rabbitmqctl", "-n", node.name, "stop"],
                env=node.env(),
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(base, ignore_errors=True)
