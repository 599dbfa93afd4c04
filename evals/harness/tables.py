"""The report scripts' markdown tables and table cells."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence


def mean_std(values: list[float]) -> str:
    """A table cell: the mean ± the sample standard deviation (0 for a single value)."""
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.4f} ± {spread:.4f}"


def markdown_table(header: Sequence[object], rows: Iterable[Sequence[object]],
                   align: str | Sequence[str] = "") -> list[str]:
    """A GitHub markdown table as lines: the header, its rule, one line per row (cells as ``str()``).

    ``align`` gives each column's rule, a string of one letter per column (``l`` for ``---``, ``r`` for
    ``---:``) or the rules themselves; empty: ``---`` everywhere."""
    header = [str(cell) for cell in header]
    rules = [{"l": "---", "r": "---:"}[a] for a in align] if isinstance(align, str) else list(align)
    rules = rules or ["---"] * len(header)
    if len(rules) != len(header):
        raise ValueError(f"{len(rules)} column rules for {len(header)} columns")
    return [_line(header), "|" + "|".join(rules) + "|", *(_line([str(cell) for cell in row]) for row in rows)]


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
