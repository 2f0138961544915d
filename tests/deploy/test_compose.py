"""The compose file and Dockerfile say what an operator relies on (no engine runs here)."""

from __future__ import annotations

from typing import Any

import yaml

from tests.conftest import REPO


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return document


class TestCompose:
    def test_gateway_waits_for_a_healthy_broker(self) -> None:
        """The gateway starts after RabbitMQ reports healthy, and is pointed at it."""
        services = _compose()["services"]
        assert services["hostgate"]["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert "healthcheck" in services["rabbitmq"]
        assert services["hostgate"]["environment"]["HOSTGATE_AMQP_URL"].startswith("amqp://")
        assert "@rabbitmq:5672" in services["hostgate"]["environment"]["HOSTGATE_AMQP_URL"]

    def test_ports_bound_to_loopback(self) -> None:
        """Published ports listen on 127.0.0.1 only."""
        for service in _compose()["services"].values():
            for port in service.get("ports", []):
                assert port.startswith("127.0.0.1:"), port

    def test_state_is_a_volume(self) -> None:
        """The gateway's state directory (store, outbox, keys) survives container restarts."""
        assert "hostgate-state:/app/var" in _compose()["services"]["hostgate"]["volumes"]


class TestDockerfile:
    def test_runs_as_non_root_with_healthcheck(self) -> None:
        """The image drops root and checks /healthz."""
        text = (REPO / "Dockerfile").read_text()
        assert "\nUSER 10001:10001\n" in text
        assert "HEALTHCHECK" in text
        assert "/healthz" in text


class TestComposePostgres:
    def test_postgres_profile_runs_a_gateway_on_postgresql(self) -> None:
        """The postgres profile adds PostgreSQL and a gateway that waits for it healthy and uses it."""
        services = _compose()["services"]
        assert "postgres" in services["postgres"]["profiles"]
        assert "healthcheck" in services["postgres"]
        gateway = services["hostgate-pg"]
        assert gateway["profiles"] == ["postgres"]
        assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert gateway["environment"]["HOSTGATE_STORE_URL"].startswith("postgresql://hostgate@postgres:5432/")
        assert "profiles" not in services["hostgate"], "plain `docker compose up` must still run the gateway"

    def test_no_database_password_in_the_file(self) -> None:
        """The database password comes from a secret file, not from compose.yaml."""
        services = _compose()["services"]
        assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]
        assert services["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
        assert (
            ":"
            not in services["hostgate-pg"]["environment"]["HOSTGATE_STORE_URL"].split("@")[0].split("//")[1]
        )


class TestNoDemoSecretsShipped:
    def test_image_copies_no_config_and_context_excludes_secrets(self) -> None:
        """The build context is the package sources only: no demo.env, no demo endpoint keys, no var/."""
        dockerfile = (REPO / "Dockerfile").read_text()
        copies = [line for line in dockerfile.splitlines() if line.startswith("COPY")]
        assert not any("config" in line or "examples" in line for line in copies), copies
        ignore = [
            line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"
        ]
        assert ignore[0] == "*", "the context must start from nothing"
        included = [line[1:] for line in ignore if line.startswith("!")]
        assert not any(path.startswith(("config", "examples", "var", ".venv")) for path in included), included

    def test_compose_never_uses_the_guest_account(self) -> None:
        """The broker gets its own user and a password from the environment; no URL says guest."""
        services = _compose()["services"]
        broker = services["rabbitmq"]["environment"]
        assert broker["RABBITMQ_DEFAULT_USER"] != "guest"
        assert broker["RABBITMQ_DEFAULT_PASS"].startswith("${HOSTGATE_AMQP_PASSWORD:?")
        for name in ("hostgate", "hostgate-pg"):
            url = services[name]["environment"]["HOSTGATE_AMQP_URL"]
            assert "guest" not in url
            assert url.startswith("amqp://hostgate:${HOSTGATE_AMQP_PASSWORD:?"), url
        assert "guest:guest" not in (REPO / "compose.yaml").read_text()

    def test_compose_says_it_is_a_demo(self) -> None:
        """The compose gateways run the repository's demo config, so they say so (HOSTGATE_DEMO=1)."""
        services = _compose()["services"]
        for name in ("hostgate", "hostgate-pg"):
            assert services[name]["environment"]["HOSTGATE_DEMO"] == "1"
            assert "./config:/app/config:ro" in services[name]["volumes"]


class TestComposeCluster:
    def test_cluster_profile_is_three_brokers_postgres_and_three_replicas(self) -> None:
        """Three clustered RabbitMQ nodes, PostgreSQL, and three gateways that wait for all of them."""
        services = _compose()["services"]
        nodes = [f"rabbit-{n}" for n in (1, 2, 3)]
        replicas = [f"hostgate-{n}" for n in (1, 2, 3)]
        for name in [*nodes, *replicas]:
            assert services[name]["profiles"] == ["cluster"], name
        assert "cluster" in services["postgres"]["profiles"]
        conf = (REPO / "deploy" / "rabbitmq-cluster.conf").read_text()
        for node in nodes:
            assert services[node]["hostname"] == node
            assert f"rabbit@{node}" in conf
            assert (
                "./deploy/rabbitmq-cluster.conf:/etc/rabbitmq/conf.d/20-cluster.conf:ro"
                in services[node]["volumes"]
            )
            assert services[node]["environment"]["RABBITMQ_ERLANG_COOKIE"].startswith(
                "${HOSTGATE_ERLANG_COOKIE:?"
            )
        for replica in replicas:
            service = services[replica]
            assert set(service["depends_on"]) == {*nodes, "postgres"}
            assert all(d["condition"] == "service_healthy" for d in service["depends_on"].values())
            url = service["environment"]["HOSTGATE_AMQP_URL"]
            assert url.endswith("@rabbit-1:5672,rabbit-2:5672,rabbit-3:5672/"), "every node, for failover"
            assert service["environment"]["HOSTGATE_STORE_URL"].startswith(
                "postgresql://hostgate@postgres:5432/"
            )
            assert "hostgate-cluster-state:/app/var" in service["volumes"], "one set of keys, one trail"
        assert len({services[r]["ports"][0] for r in replicas}) == 3
