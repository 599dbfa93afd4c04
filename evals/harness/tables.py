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


TEXT_SHARES = ("text/user_llm_profile_share", "text/item_llm_profile_share")


def text_source_note(frame) -> str | None:
    """Where the text of the runs that read it came from: the mean share of users and of items with an LLM
    profile (the rest were raw-text vectors), per method; None if no run read text."""
    if not all(column in frame for column in TEXT_SHARES):
        return None
    rows = frame.dropna(subset=list(TEXT_SHARES))
    if not len(rows):
        return None
    parts = [f"{method}: {group[TEXT_SHARES[0]].mean():.1%} of users, {group[TEXT_SHARES[1]].mean():.1%} of items"
             for method, group in rows.groupby("method", sort=False)]
    return ("Where the text came from (share with an LLM profile; the rest are MiniLM vectors of their raw text: "
            "a user's history titles, an item's title and metadata): " + "; ".join(parts) + ".")
