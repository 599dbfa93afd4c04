"""Plotting helpers the reports share: a headless pyplot, one legend outside the panels, a panel grid
that wraps, a judge dot plot with intervals, and reading a report's markdown tables back (a report whose
store and ledger are gone can still be redrawn from its own numbers).

Every figure is drawn with matplotlib's constrained layout at 110 dpi, so that at 100% zoom its text is
about the size of the report's, the titles fit, and the legend sits below the panels instead of on the data.
"""

from __future__ import annotations

import re

from judge.plots import (  # noqa: F401  (re-exported for the report scripts)
    CHANCE,
    JUDGE_GROUPS,
    JUDGE_SCORES,
    OPTIMIZERS,
    judge_dot_plot,
    judge_group,
    short_judge_name,
)
from recsys.plots import DPI, legend_below, panel_grid, pyplot, save, title  # noqa: F401  (re-exported)


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table of a markdown text, as (header, rows of cells), in order."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
            continue
        if len(block) >= 2 and set("".join(block[1])) <= set("-: "):
            tables.append((block[0], block[2:]))
        block = []
    return tables


def number(cell: str) -> float | None:
    """The first number of a table cell (``0.2994 ± 0.0013 (n=2)`` -> 0.2994); None for ``–`` or text."""
    found = re.search(r"-?\d+(?:\.\d+)?", cell.replace("**", ""))
    return float(found.group()) if found else None


def mean_and_std(cell: str) -> tuple[float, float] | None:
    """``mean ± std`` of a table cell (std 0 where none is written); None for ``–``."""
    found = re.match(r"\**(-?\d+(?:\.\d+)?)(?:\s*±\s*(\d+(?:\.\d+)?))?", cell.strip())
    return (float(found.group(1)), float(found.group(2) or 0.0)) if found else None


def judge_rows_from_markdown(text: str) -> dict[str, dict]:
    """The judge table of a judge report (``evals.judge``'s or ``evals.oneoff.judge_summary``'s: the first
    table whose first column is *judge*) as plot rows; the interval sentence ``evaluation.py`` writes
    under it (``95% interval over resampled test users ...: LOW to HIGH``) goes to the first LM row, and
    a ``balanced acc. (95% over users)`` column's ``0.577 (0.426-0.727)`` to its own row."""
    columns = {"accuracy": "accuracy", "balanced acc.": "balanced_accuracy", "macro-F1": "macro_f1",
               "κ": "kappa", "pairs": "n_pairs"}
    for header, table in markdown_tables(text):
        if header[0] != "judge":
            continue
        rows = {}
        for cells in table:
            row = {}
            for column, cell in zip(header, cells):
                key = columns.get(column.split(" (")[0])
                if key is not None:
                    row[key] = number(cell)
                    interval = re.search(r"\((-?\d+\.\d+)\s*[-–]\s*(-?\d+\.\d+)\)", cell)
                    if interval:
                        row[f"{key}_ci"] = (float(interval.group(1)), float(interval.group(2)))
            rows[cells[0]] = row
        found = re.search(r"95% interval over resampled test users[^:\n]*:\s*(-?\d+\.\d+) to (-?\d+\.\d+)", text)
        first_lm = next((name for name in rows if judge_group(name) == "llm"), None)
        if found and first_lm is not None:
            rows[first_lm].setdefault("balanced_accuracy_ci", (float(found.group(1)), float(found.group(2))))
        return rows
    return {}


def label_set_text(label_set: str) -> str:
    """``labels|ml-100k|seed=2026|realistic=0.1|...`` -> ``ml-100k, 10% realistic noise``."""
    parts = label_set.split("|")
    dataset = parts[1] if len(parts) > 1 else label_set
    noise = next((p for p in parts if re.fullmatch(r"(random|realistic)=[\d.]+", p)), None)
    if noise is None:
        return dataset
    kind, ratio = noise.split("=")
    return f"{dataset}, {float(ratio):.0%} {kind} noise"
