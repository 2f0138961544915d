"""``hostgate serve --workers N``: N gateway processes on one machine, sharing the port and PostgreSQL.

The parent creates the key files first (so the workers do not race to create
different ones), holds the port with ``SO_REUSEPORT`` so every worker can bind it
and the kernel spreads connections over them, and then supervises: stop signals
and SIGHUP go to every worker; a worker that dies is started again after a pause;
workers that keep dying at start-up (a store they cannot reach, a bad config) stop
the whole group with their exit status. Everything they share lives in PostgreSQL
and RabbitMQ; the single-instance jobs run under leases (``docs/scaling.md``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import structlog

from gateway.audit.pseudonym import Pseudonymizer
from gateway.config.loader import GatewayConfig
from gateway.disclosure.keys import KeyRing
from gateway.transparency.log import open_log_key

log = structlog.get_logger("hostgate.serve")

# A worker that exits sooner than this after starting counts as failing to start.
_EARLY_SECONDS = 5.0
_EARLY_LIMIT = 3
_RESTART_PAUSE = 1.0
_STOP_GRACE = 30.0


def refusal(config: GatewayConfig, config_dir: Path, workers: int) -> str | None:
    """Why ``--workers`` cannot run with this config, or None."""
    url = config.settings.store.url
    if workers > 1 and (url is None or url.startswith("sqlite")):
        return (
            f"error: --workers {workers} needs PostgreSQL: the workers share one database, and the"
            f' embedded SQLite file is for one process. Set [store] url = "postgresql://…" in'
            f" {config_dir / 'gateway.toml'} (or HOSTGATE_STORE_URL), or run one worker."
        )
    return None


def prepare_keys(config: GatewayConfig) -> None:
    """Create the signing, pseudonym and log keys once, before any worker would."""
    keys = config.path(config.settings.signing_key_dir)
    KeyRing.open(keys)
    Pseudonymizer.open(keys)
    open_log_key(keys)


def hold_port(host: str, port: int) -> socket.socket:
    """A bound, not listening, SO_REUSEPORT socket: fixes the port (0 picks one) for every worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class Supervisor:
    """Starts the workers, passes signals on, restarts the ones that die."""

    def __init__(self, command: Sequence[str], workers: int) -> None:
        self._command = list(command)
        self._workers = workers
        self._procs: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
        self._stopping = False
        self._early = 0

    def _start(self, slot: int) -> None:
        env = {**os.environ, "HOSTGATE_WORKER": str(slot)}
        proc = subprocess.Popen(self._command, env=env)  # noqa: S603 -- our own interpreter and arguments
        self._procs[slot] = (proc, time.monotonic())
        log.info("gateway.worker_started", worker=slot, pid=proc.pid)

    def _signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._stopping = True
        for proc, _ in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    def run(self) -> int:
        """Run until a stop signal (0) or until workers keep failing at start (their status)."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._signal)
        for slot in range(self._workers):
            self._start(slot)
        status = 0
        while not self._stopping:
            time.sleep(0.2)
            for slot, (proc, started) in list(self._procs.items()):
                code = proc.poll()
                if code is None or self._stopping:
                    continue
                early = time.monotonic() - started < _EARLY_SECONDS
                self._early = self._early + 1 if early else 0
                log.error("gateway.worker_died", worker=slot, pid=proc.pid, status=code)
                if self._early >= _EARLY_LIMIT:
                    log.error("gateway.workers_failing", status=code)
                    status = code or 1
                    self._stopping = True
                    self._signal(signal.SIGTERM, None)
                    break
                time.sleep(_RESTART_PAUSE)
                self._start(slot)
        self._wait_all()
        return status

    def _wait_all(self) -> None:
        deadline = time.monotonic() + _STOP_GRACE
        for proc, _ in self._procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.info("gateway.workers_stopped")


def run_workers(worker_args: Sequence[str], workers: int, host: str, port: int) -> int:
    """Serve with ``workers`` processes on ``host:port``, each run with ``serve`` and ``worker_args``."""
    holder = hold_port(host, port)
    bound = holder.getsockname()[1]
    command = [sys.executable, "-m", "gateway.cli.main", "serve", *worker_args, "--port", str(bound)]
    log.info("gateway.workers", workers=workers, host=host, port=bound)
    try:
        return Supervisor([*command, "--reuse-port"], workers).run()
    finally:
        holder.close()
