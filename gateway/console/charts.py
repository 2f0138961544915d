"""Small inline SVG charts drawn on the server: no script, no asset from elsewhere, inside the CSP.

Only numbers and escaped text go into the markup, and colours are presentation
attributes (the console's CSP allows no inline ``style``).
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape


def sparkline(
    values: Sequence[float | None],
    *,
    label: str,
    width: int = 180,
    height: int = 36,
    ceiling: float | None = None,
) -> Markup:
    """A line over ``values`` (left: oldest); None is a gap. Scaled to the largest value or ``ceiling``."""
    present = [v for v in values if v is not None]
    top = ceiling if ceiling is not None else max(present, default=0.0)
    top = top if top > 0 else 1.0
    step = width / max(len(values) - 1, 1)
    runs: list[list[str]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        y = height - 2 - (min(value, top) / top) * (height - 4)
        runs[-1].append(f"{index * step:.1f},{y:.1f}")
    lines = "".join(
        f'<polyline points="{" ".join(run)}" fill="none" stroke="#1f6feb" stroke-width="1.5"/>'
        if len(run) > 1
        else f'<circle cx="{run[0].split(",")[0]}" cy="{run[0].split(",")[1]}" r="1.5" fill="#1f6feb"/>'
        for run in runs
        if run
    )
    baseline = f'<line x1="0" y1="{height - 1}" x2="{width}" y2="{height - 1}" stroke="#d0d7de"/>'
    return Markup(  # noqa: S704 -- built from numbers and the escaped label only
        f'<svg class="spark" role="img" aria-label="{escape(label)}" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>{baseline}{lines}</svg>"
    )
