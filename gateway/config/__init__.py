"""Onboarding config: gateway settings and one file per business, every problem named."""

from gateway.config.loader import Business, GatewayConfig, load_config
from gateway.config.settings import GatewaySettings

__all__ = ["Business", "GatewayConfig", "GatewaySettings", "load_config"]
