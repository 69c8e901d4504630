"""What the reports share: a text table's layout, and the files a report writes beside its
table (a PNG chart and an HTML page that embeds it)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from pathlib import Path


def write_chart_page(
    folder: Path, names: tuple[str, str], plot: Callable[[Path], None], page: Callable[[str], str]
) -> list[Path]:
    """Draw the chart into `names[0]` with `plot`, then write `names[1]`, the HTML that `page`
    makes around the chart (given as base64), both in `folder` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    png, html = folder / names[0], folder / names[1]
    plot(png)
    html.write_text(page(base64.b64encode(png.read_bytes()).decode("ascii")), encoding="utf-8")
    return [png, html]


def text_table(cells: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a table whose first row is the heading: the first column left-aligned, the
    others right-aligned, and a rule under the heading."""
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]

    def line(values: Sequence[str]) -> str:
        pairs = enumerate(zip(values, widths, strict=True))
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in pairs)

    head = line(cells[0])
    return [head, "-" * len(head), *(line(row) for row in cells[1:])]
