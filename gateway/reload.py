"""Reload config atomically: a broken new config is reported and the last good one stays."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import structlog

from gateway.adapter_registry import AdapterRegistry
from gateway.config.loader import GatewayConfig, load_config
from gateway.errors import ConfigError

log = structlog.get_logger("hostgate.reload")


class ConfigHolder:
    """The config in force; replaced as a whole on a good reload."""

    def __init__(self, config: GatewayConfig) -> None:
        self.current = config
        self.generation = 1
        self._lock = asyncio.Lock()

    async def reload(self, on_change: Callable[[GatewayConfig], Awaitable[None]]) -> bool:
        """Load the directory again; if valid, swap it in and run ``on_change``; else False."""
        async with self._lock:
            directory = self.current.directory
            loop = asyncio.get_running_loop()
            try:
                fresh = await loop.run_in_executor(
                    None, lambda: load_config(directory, dict(os.environ), AdapterRegistry())
                )
            except ConfigError as exc:
                log.error(  # noqa: TRY400 -- the problems are the report; a traceback would hide them
                    "config.reload_failed",
                    directory=str(directory),
                    problems=[str(p) for p in exc.problems],
                    kept_generation=self.generation,
                )
                return False
            old = self.current
            self.current = fresh
            self.generation += 1
            log.info(
                "config.reloaded",
                directory=str(directory),
                generation=self.generation,
                businesses=sorted(fresh.businesses),
            )
            await on_change(fresh)
            for business in old.businesses.values():
                await business.adapter.aclose()
            return True
