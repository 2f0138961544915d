"""The end-to-end gateway of the bridge tests, for the metrics test."""

from tests.bridge.conftest import bridge

__all__ = ["bridge"]
