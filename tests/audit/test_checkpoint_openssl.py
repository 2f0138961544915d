"""A checkpoint's signature verifies with an independent Ed25519 implementation (OpenSSL)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from gateway.audit.checkpoint import split_notes
from tests.audit.trails import build_trail


def test_openssl_verifies_checkpoint(tmp_path: Path) -> None:
    """`openssl pkeyutl -verify` accepts the note's signature over its body, and rejects a changed body."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed")
    trail = build_trail(tmp_path, 4, every=1000)
    note = split_notes(trail.checkpoints.read_text())[-1]
    body, _, signature_line = note.partition("\n\n")
    blob = base64.b64decode(signature_line.split(" ")[2])
    (tmp_path / "body.txt").write_bytes((body + "\n").encode())
    (tmp_path / "sig.bin").write_bytes(blob[4:])
    (tmp_path / "pub.pem").write_bytes(
        trail.ring.active.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    command = [
        "openssl",
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "pub.pem",
        "-rawin",
        "-in",
        "body.txt",
        "-sigfile",
        "sig.bin",
    ]
    good = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stderr
    assert "Signature Verified Successfully" in good.stdout
    (tmp_path / "body.txt").write_bytes(
        (body.replace("hostgate.audit/test", "hostgate.audit/tesT") + "\n").encode()
    )
    bad = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert bad.returncode != 0
