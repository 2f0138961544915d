"""The users'-rights tests run against the same gateway-with-network rig as the bridge tests."""

from tests.bridge.conftest import bridge

__all__ = ["bridge"]
