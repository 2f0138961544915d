"""Find hosting adapters by name through the ``hostgate.adapters`` entry-point group."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from adapters.base import AdapterFactory
from gateway.errors import AdapterError

ENTRY_POINT_GROUP = "hostgate.adapters"


class AdapterRegistry:
    """The adapters installed in this environment, loaded on first use."""

    def __init__(self, points: Iterable[EntryPoint] | None = None) -> None:
        found = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
        self._points = {point.name: point for point in found}
        self._loaded: dict[str, AdapterFactory] = {}

    def names(self) -> list[str]:
        """Names a business file may give as ``hosting.adapter``."""
        return sorted(self._points)

    def get(self, name: str) -> AdapterFactory:
        """Load the factory registered under ``name``; raise AdapterError when absent or broken."""
        if name in self._loaded:
            return self._loaded[name]
        point = self._points.get(name)
        if point is None:
            raise AdapterError(f"unknown adapter {name!r}; installed: {', '.join(self.names()) or 'none'}")
        try:
            factory = point.load()
        except Exception as exc:  # a third-party plugin may fail in any way on import
            raise AdapterError(
                f"adapter {name!r} ({point.value}) failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(factory, AdapterFactory):
            raise AdapterError(
                f"adapter {name!r} ({point.value}) is not an AdapterFactory "
                "(needs settings_model and create())"
            )
        self._loaded[name] = factory
        return factory
