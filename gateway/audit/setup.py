"""Open the audit trail a config describes: writer, pseudonym key, checkpoint signing."""

from __future__ import annotations

import socket
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.audit.pseudonym import Pseudonymizer
from gateway.audit.trail import AuditTrail
from gateway.audit.writer import ChainWriter, CheckpointSink, DisabledWriter, WriterSettings
from gateway.config.loader import GatewayConfig
from gateway.disclosure.keys import KeyRing
from gateway.transparency.note import Checkpoint

CHECKPOINTS_FILE = "checkpoints.note"


def audit_dir(config: GatewayConfig) -> Path:
    """The trail's directory."""
    return config.path(config.settings.audit.dir)


def writer_settings(config: GatewayConfig) -> WriterSettings:
    """Writer settings from the gateway settings."""
    audit = config.settings.audit
    directory = audit_dir(config)
    return WriterSettings(
        directory=directory,
        checkpoints_file=directory / CHECKPOINTS_FILE,
        origin=socket.gethostname(),
        rotate_bytes=audit.rotate_megabytes * 1024 * 1024,
        checkpoint_every=audit.checkpoint_every,
        checkpoint_seconds=audit.checkpoint_seconds,
    )


def make_trail(
    config: GatewayConfig, keys: KeyRing, on_checkpoint: CheckpointSink | None = None
) -> AuditTrail:
    """The trail for ``config``, not yet open; checkpoints are signed with the active key."""

    def signer() -> tuple[str, Ed25519PrivateKey]:
        key = keys.active
        return key.kid, key.private

    kind = ChainWriter if config.settings.audit.enabled else DisabledWriter
    writer = kind(writer_settings(config), signer=signer, on_checkpoint=on_checkpoint)
    pseudonymize = Pseudonymizer.open(config.path(config.settings.signing_key_dir))
    return AuditTrail(writer, pseudonymize)


__all__ = ["CHECKPOINTS_FILE", "Checkpoint", "audit_dir", "make_trail", "writer_settings"]
