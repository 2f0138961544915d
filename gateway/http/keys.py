"""Typed application state shared by handlers."""

from __future__ import annotations

from aiohttp import web

from gateway.broker.link import BrokerLink
from gateway.config.loader import GatewayConfig

CONFIG = web.AppKey("config", GatewayConfig)
BROKER = web.AppKey("broker", BrokerLink)
