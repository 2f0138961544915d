"""``hostgate serve`` as an operator runs it: a real process, real signals, JSON logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.error import HTTPError

from tests.conftest import REPO
from tests.support import closed_port


def _read_json_lines(stream: IO[str], until_event: str, timeout: float) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        record = json.loads(line)  # every line the gateway prints is one JSON object
        lines.append(record)
        if record["event"] == until_event:
            return lines
    raise AssertionError(f"no {until_event} in {lines}")


@contextmanager
def serving(
    config: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], int, list[dict[str, Any]]]]:
    """Run `hostgate serve --port 0` and yield the process, its port and its first log lines."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        lines = _read_json_lines(process.stdout, "gateway.started", 30)
        yield process, lines[-1]["port"], lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait_status(port: int, path: str, status: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        got, body = _get(port, path)
        if got == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} answered {got} {body}, wanted {status}")
        time.sleep(0.2)


class TestServe:
    def test_serves_example_config_and_stops_on_sigterm(self, config_dir: Path) -> None:
        """The gateway starts on the example config, /healthz is 200, SIGTERM stops it cleanly."""
        with serving(config_dir) as (process, port, lines):
            assert lines[-1]["businesses"] == ["kirana-travel", "nimbus-shop", "warung-sari"]
            assert _get(port, "/healthz") == (200, {"status": "ok"})
            _wait_status(port, "/readyz", 200, 15)
            process.send_signal(signal.SIGTERM)
            assert process.wait(15) == 0
            assert process.stdout is not None
            rest = [json.loads(line) for line in process.stdout.read().splitlines()]
            assert [r["event"] for r in rest][-2:] == ["gateway.stopping", "gateway.stopped"]

    def test_starts_without_broker_and_says_so(self, config_dir: Path) -> None:
        """With RabbitMQ unreachable the gateway still serves, logs broker.unreachable and is not ready."""
        with closed_port() as port_amqp:
            url = f"amqp://guest:guest@127.0.0.1:{port_amqp}/"
            with serving(config_dir, {"HOSTGATE_AMQP_URL": url}) as (process, port, _):
                assert _get(port, "/healthz")[0] == 200
                body = _wait_status(port, "/readyz", 503, 10)
                assert f"127.0.0.1:{port_amqp}" in body["reason"]
                process.send_signal(signal.SIGINT)
                assert process.wait(15) == 0
                assert process.stdout is not None
                events = [json.loads(line)["event"] for line in process.stdout.read().splitlines()]
                assert "broker.unreachable" in events

    def test_invalid_config_exits_1(self, config_dir: Path) -> None:
        """Serve refuses to start on a broken config and lists the problems."""
        (config_dir / "businesses" / "warung-sari.toml").write_text("id = 3\n")
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config_dir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=REPO,
        )
        assert result.returncode == 1
        assert "warung-sari.toml: id:" in result.stderr
