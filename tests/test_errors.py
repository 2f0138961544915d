"""The error tree: every HostgateError lives in gateway/errors.py and is drawn in its docstring."""

from __future__ import annotations

import importlib
import pkgutil

import adapters
import gateway
from gateway import errors
from gateway.errors import HostgateError


def _import_everything() -> None:
    for package in (gateway, adapters):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)


def _subclasses(cls: type[HostgateError]) -> set[type[HostgateError]]:
    found: set[type[HostgateError]] = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _drawn_parents() -> dict[str, str]:
    """Each class in the drawing, mapped to the class it hangs from."""
    assert errors.__doc__ is not None
    parents: dict[str, str] = {}
    last_at_depth: dict[int, str] = {}
    for line in errors.__doc__.splitlines():
        stripped = line.lstrip()
        if not stripped.startswith(("* ", "+ ", "- ")):
            continue
        depth = len(line) - len(stripped)
        name = stripped[2:].split()[0]
        last_at_depth[depth] = name
        if depth:
            parents[name] = last_at_depth[max(d for d in last_at_depth if d < depth)]
    return parents


def test_every_error_is_in_errors_py_and_drawn_under_its_parent() -> None:
    """All HostgateError subclasses are defined in gateway.errors and drawn under their real base."""
    _import_everything()
    drawn = _drawn_parents()
    classes = _subclasses(HostgateError)
    assert len(classes) >= 20
    for cls in classes:
        assert cls.__module__ == "gateway.errors", f"{cls.__qualname__} is defined in {cls.__module__}"
        assert cls.__name__ in drawn, f"{cls.__name__} is missing from the drawing in gateway/errors.py"
        assert drawn[cls.__name__] == cls.__mro__[1].__name__, (
            f"{cls.__name__} is drawn under the wrong parent"
        )
    assert set(drawn) == {c.__name__ for c in classes}, "the drawing names a class that does not exist"
