"""The console's inline charts: numbers and escaped text only, gaps where there is no data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from gateway.console.charts import sparkline

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: object) -> ET.Element:
    """The chart as XML (our own markup, built in this test)."""
    return ET.fromstring(str(markup))  # noqa: S314 -- markup this test just produced, not untrusted input


def test_gaps_split_the_line_and_the_label_is_escaped() -> None:
    """None breaks the line in two; a label with markup stays text."""
    svg = parse(sparkline([1, 2, None, 3, 4], label='<script>"x"</script>'))
    assert len(svg.findall(f"{SVG}polyline")) == 2
    assert svg.find(f"{SVG}title").text == '<script>"x"</script>'  # type: ignore[union-attr]
    assert "style" not in str(sparkline([1, 2], label="x")), "the console's CSP allows no inline style"


@given(st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False)), max_size=60))
def test_every_point_stays_inside_the_box(values: list[float | None]) -> None:
    """Whatever the values, the markup parses and every point lies within the drawing."""
    svg = parse(sparkline(values, label="v", width=120, height=30))
    for line in svg.findall(f"{SVG}polyline"):
        for point in line.attrib["points"].split():
            x, y = (float(n) for n in point.split(","))
            assert 0 <= x <= 120
            assert 0 <= y <= 30
