"""The OpenAPI document lists exactly the routes the app serves."""

from __future__ import annotations

from pathlib import Path

from gateway.adapter_registry import AdapterRegistry
from gateway.app import build_app
from gateway.config import load_config
from gateway.console.common import PREFIX as CONSOLE
from gateway.http.openapi import document
from tests.conftest import REPO


def test_every_route_documented_and_nothing_else(config_dir: Path) -> None:
    """Each (method, path) the app routes is in /openapi.json, and the document has no route the app lacks."""
    app = build_app(load_config(config_dir, {}, AdapterRegistry()))
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        # The console is pages for people behind a session cookie, not API (README: Console).
        and not route.resource.canonical.startswith(CONSOLE)
    }
    spec = document()
    documented = {(method, path) for path, item in spec["paths"].items() for method in item}
    assert served == documented
    assert spec["openapi"].startswith("3.1")
    assert (REPO / "docs" / "openapi.json").resolve() == (
        REPO / "gateway" / "http" / "openapi.json"
    ).resolve()
