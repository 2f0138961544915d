"""``hostgate serve`` as an operator runs it: a real process, real signals, JSON logs."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from tests.support import REPO, closed_port, get_json, serving, wait_for_event, wait_status


class TestServe:
    def test_serves_example_config_and_stops_on_sigterm(self, config_dir: Path) -> None:
        """The gateway starts on the example config, /healthz is 200, SIGTERM stops it cleanly."""
        with serving(config_dir) as (process, port, lines):
            started = next(r for r in lines if r["event"] == "gateway.started")
            assert started["businesses"] == ["kirana-travel", "nimbus-shop", "warung-sari"]
            assert get_json(port, "/healthz") == (200, {"status": "ok"})
            wait_status(port, "/readyz", 200, 15)
            process.send_signal(signal.SIGTERM)
            assert process.wait(15) == 0
            wait_for_event(lines, "gateway.stopped")
            events = [r["event"] for r in lines]
            assert events[-1] == "gateway.stopped"
            assert events.index("gateway.stopping") < events.index("gateway.stopped")

    def test_starts_without_broker_and_says_so(self, config_dir: Path) -> None:
        """With RabbitMQ unreachable the gateway still serves, logs broker.unreachable and is not ready."""
        with closed_port() as port_amqp:
            url = f"amqp://guest:guest@127.0.0.1:{port_amqp}/"
            with serving(config_dir, {"HOSTGATE_AMQP_URL": url}) as (process, port, lines):
                assert get_json(port, "/healthz")[0] == 200
                body = wait_status(port, "/readyz", 503, 10)
                assert body["reason"] == "broker unreachable"  # the detail is for the network and operators
                process.send_signal(signal.SIGINT)
                assert process.wait(15) == 0
                wait_for_event(lines, "gateway.stopped")
                assert "broker.unreachable" in [r["event"] for r in lines]

    def test_invalid_config_exits_1(self, config_dir: Path) -> None:
        """Serve refuses to start on a broken config and lists the problems."""
        (config_dir / "businesses" / "warung-sari.toml").write_text("id = 3\n")
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli.main", "serve", "--config", str(config_dir), "--demo"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            cwd=REPO,
        )
        assert result.returncode == 1
        assert "warung-sari.toml: id:" in result.stderr
