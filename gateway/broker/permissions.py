"""The RabbitMQ permissions each account of a hostgate deployment needs, and nothing more.

Inbound events (users' messages, receipts, consent decisions) carry no signature:
whoever may publish to their exchanges is trusted as the network. So the network's
account may publish only there, read only its own queues, and declare nothing; in
particular it can neither publish a disclosure, a notice or an owed status webhook,
nor reach a queue through the default exchange (a delay queue, a dead-delivery queue).
The patterns are RabbitMQ's configure/write/read regular expressions on resource names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.broker.topology import AUDIT, CONSENTS, DISCLOSURES, INBOUND, NOTICES, OUTBOUND, RECEIPTS

NOTHING = "^$"


@dataclass(frozen=True, slots=True)
class Permissions:
    """One account's configure, write and read patterns."""

    configure: str
    write: str
    read: str


def _exactly(*names: str) -> str:
    return "^(" + "|".join(re.escape(name) for name in names) + ")$"


ROLES: dict[str, Permissions] = {
    # Publishes users' messages, receipts and consents; consumes what hostgate publishes for it.
    "network": Permissions(
        configure=NOTHING,
        write=_exactly(INBOUND.exchange, RECEIPTS.exchange, CONSENTS.exchange),
        read=_exactly(DISCLOSURES.queue, NOTICES.queue, OUTBOUND.queue),
    ),
    # Reads the audit trail's checkpoints to cosign them; writes nothing.
    "witness": Permissions(configure=NOTHING, write=NOTHING, read=_exactly(AUDIT.queue)),
    # The gateway declares its topology and its delay, parking and dead-delivery queues, and
    # publishes to them through the default exchange.
    "gateway": Permissions(
        configure=r"^(hostgate|network)\..+$",
        write=r"^((hostgate|network)\..+|amq\.default)$",
        read=r"^((hostgate|network)\..+|amq\.default)$",
    ),
}


def rabbitmqctl_command(role: str, user: str, vhost: str = "/") -> list[str]:
    """The ``rabbitmqctl set_permissions`` command that gives ``user`` exactly ``role``'s rights."""
    granted = ROLES[role]
    return [
        "rabbitmqctl",
        "set_permissions",
        "-p",
        vhost,
        user,
        granted.configure,
        granted.write,
        granted.read,
    ]
