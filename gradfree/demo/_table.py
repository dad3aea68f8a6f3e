"""`Act`: what one act of the demo measured, and how it prints."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Act", "format_table", "secs"]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if value == 0 or 1e-3 <= abs(value) < 1e5:
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return f"{value:.2e}"
    return str(value)


def secs(seconds: float) -> str:
    """Seconds for a table cell, to the hundredth.

    Examples
    --------
    >>> secs(0.0004), secs(12.345)
    ('0.00', '12.35')
    """
    return f"{seconds:.2f}"


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned.

    Examples
    --------
    >>> print(format_table(["method", "loss"], [["a", 0.5], ["bb", 1234.5]]))
    method  loss
    ------  ----
    a        0.5
    bb      1234
    """
    cells = [list(header)] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        return "  ".join([first, *rest]).rstrip()

    rule = ["-" * w for w in widths]
    return "\n".join([line(cells[0]), line(rule), *(line(r) for r in cells[1:])])


@dataclass
class Act:
    """One act: a title, what was run, the measured table, a reading of it, plot data."""

    title: str
    setting: str
    header: list[str]
    rows: list[list[Any]]
    reading: str = ""
    seconds: float = 0.0
    plot: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        """The act as printed: title, setting, table and the reading of the numbers."""
        parts = [
            f"{self.title}  ({self.seconds:.1f} s)",
            textwrap.fill(self.setting, 88),
            "",
            format_table(self.header, self.rows),
        ]
        if self.reading:
            parts += ["", textwrap.fill(self.reading, 88)]
        return "\n".join(parts)
