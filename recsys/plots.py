"""Figure helpers shared by every report: a headless pyplot, panel grids, one legend below the panels, a
title that wraps to the figure, and saving. matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

DPI = 110


def pyplot():
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def panel_grid(count: int, columns: int, width: float = 4.4, height: float = 3.3, legend_rows: int = 2,
               sharey: str | bool = False):
    """A figure of ``count`` panels in rows of at most ``columns`` (the spare cells of the last row
    removed), with room below for a legend of ``legend_rows`` rows; returns (figure, the panels' axes)."""
    plt = pyplot()
    columns = max(1, min(columns, count))
    rows = math.ceil(count / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(width * columns, height * rows + 0.3 * legend_rows + 0.6),
                             squeeze=False, layout="constrained", sharey=sharey)
    flat = [ax for row in axes for ax in row]
    for ax in flat[count:]:
        ax.remove()
    return fig, flat[:count]


def legend_below(fig, axes, columns: int = 3, extra: list | None = None, fontsize: float = 8) -> None:
    """One legend for the whole figure, below the panels: every labelled artist of ``axes`` once (in the
    order first drawn), plus ``extra`` (handle, label) pairs."""
    seen: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    for handle, label in extra or ():
        seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=min(columns, len(seen)),
                   fontsize=fontsize, frameon=False)


def title(fig, text: str, fontsize: float = 10) -> None:
    """A figure title wrapped to the figure's width (about 11 characters an inch at 10 pt), so it is
    never cut off at the figure's edge."""
    width = int(fig.get_figwidth() * 11 * 10 / fontsize)
    fig.suptitle("\n".join(textwrap.wrap(text, width)), fontsize=fontsize)


def save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI)
    pyplot().close(fig)
    return Path(path)


# ---------------------------------------------------------------------------------------------
# a report's markdown read back
