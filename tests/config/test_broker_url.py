"""``[broker] url`` with one host or a cluster's several: one URL per node, the password never shown."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.config.settings import BrokerSettings


@pytest.mark.parametrize(
    ("given", "nodes", "shown"),
    [
        (
            "amqp://guest:guest@127.0.0.1:5672/",
            ["amqp://guest:guest@127.0.0.1:5672/"],
            "amqp://guest@127.0.0.1:5672/",
        ),
        (
            "amqps://hg:s%40cret@rabbit-1:5671,rabbit-2:5671,rabbit-3/prod?heartbeat=10",
            [
                "amqps://hg:s%40cret@rabbit-1:5671/prod?heartbeat=10",
                "amqps://hg:s%40cret@rabbit-2:5671/prod?heartbeat=10",
                "amqps://hg:s%40cret@rabbit-3/prod?heartbeat=10",
            ],
            "amqps://hg@rabbit-1:5671,rabbit-2:5671,rabbit-3/prod",
        ),
    ],
)
def test_every_node_gets_the_credentials_and_vhost(given: str, nodes: list[str], shown: str) -> None:
    """Credentials, vhost and options given once apply to every node; the shown form has no password."""
    settings = BrokerSettings.model_validate({"url": given})
    assert settings.node_urls() == nodes
    assert settings.redacted_url() == shown
    assert "cret" not in settings.redacted_url()


@pytest.mark.parametrize("given", ["http://rabbit:5672/", "amqp://a:1,:2/"])
def test_anything_else_is_refused(given: str) -> None:
    """Another scheme, or a host list with an empty host, is a validation error naming the field."""
    with pytest.raises(ValidationError, match="url"):
        BrokerSettings.model_validate({"url": given})
