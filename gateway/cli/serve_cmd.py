"""``hostgate serve``: run the gateway until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from gateway.app import apply_config, build_app
from gateway.cli.common import DEFAULT_CONFIG_DIR, EXIT_INVALID, EXIT_OK, load_or_report
from gateway.config.loader import GatewayConfig
from gateway.http.deadline import DeadlineSite
from gateway.http.keys import CONFIG
from gateway.logging import configure_logging

log = structlog.get_logger("hostgate.serve")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``serve``."""
    serve = subparsers.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, default=DEFAULT_CONFIG_DIR)
    serve.add_argument("--host", default=None, help="override http.host")
    serve.add_argument("--port", type=int, default=None, help="override http.port (0 picks a free one)")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    """Load config, then serve until a stop signal."""
    configure_logging(args.log_level)
    config = load_or_report(args.config)
    if config is None:
        return EXIT_INVALID
    host = args.host or config.settings.http.host
    port = config.settings.http.port if args.port is None else args.port
    _run(_serve(config, host, port))
    return EXIT_OK


def _run(main: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop  # noqa: PLC0415 -- optional speed-up, absent on some platforms
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _serve(config: GatewayConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = build_app(config)
    reloads: set[asyncio.Task[bool]] = set()

    def reload() -> None:
        log.info("config.reload_requested", signal="SIGHUP")
        task = asyncio.create_task(app[CONFIG].reload(lambda fresh: apply_config(app, fresh)))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    # lingering_time: how long an unread (slow) body may keep a refused connection open.
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, lingering_time=2.0, keepalive_timeout=15
    )
    await runner.setup()
    site = DeadlineSite(runner, host, port, header_seconds=config.settings.http.header_timeout_seconds)
    await site.start()
    bound = runner.addresses[0]
    log.info(
        "gateway.started",
        host=bound[0],
        port=bound[1],
        businesses=sorted(config.businesses),
        broker=config.settings.broker.redacted_url(),
    )
    await stop.wait()
    log.info("gateway.stopping")
    await asyncio.gather(*reloads, return_exceptions=True)
    await runner.cleanup()
    log.info("gateway.stopped")
