"""The judge results as a dot plot: one row per judge (LM judges, calibrated ones, trivial baselines), one
panel per score, with 95% intervals where a row has them. Drawn by :mod:`judge.evaluation` and the reports."""

from __future__ import annotations

import math
import re
from pathlib import Path

from recsys.plots import pyplot, save, title

JUDGE_SCORES = {"balanced_accuracy": "balanced accuracy", "accuracy": "accuracy", "macro_f1": "macro-F1",
                "kappa": "Cohen's κ"}
CHANCE = {"balanced_accuracy": 0.5, "macro_f1": None, "accuracy": None, "kappa": 0.0}
OPTIMIZERS = {"bootstrapfewshotwithrandomsearch": "BootstrapFS+RandomSearch", "bootstrapfewshot": "BootstrapFewShot",
              "labeledfewshot": "LabeledFewShot", "miprov2": "MIPROv2", "copro": "COPRO"}
JUDGE_GROUPS = {"llm": ("LM judge", "C0", "o"), "llm-calibrated": ("LM judge, calibrated on dev", "C1", "D"),
                "baseline": ("trivial baseline (no LM)", "dimgrey", "s")}


def judge_group(name: str) -> str:
    kind = name.split(":", 1)[0]
    return kind if kind in JUDGE_GROUPS else "llm"


def short_judge_name(name: str) -> str:
    """A row label that fits: ``llm-calibrated:dual_judge.miprov2 (5bd27a45)`` -> ``MIPROv2, calibrated``,
    ``llm:dual_judge`` -> ``zero-shot``, ``baseline:all-hard`` -> ``all hard``; a program other than
    dual_judge keeps its name, a mode in brackets (``(listwise, ...)``) stays."""
    kind, _, rest = name.partition(":")
    if kind == "baseline":
        return rest.replace("-", " ")
    brackets = re.findall(r"\(([^)]*)\)", rest)
    program = rest.split(" (")[0]
    base, _, optimizer = program.partition(".")
    label = OPTIMIZERS.get(optimizer, optimizer) if optimizer else "zero-shot"
    if base != "dual_judge":
        label = f"{base.removesuffix('_judge').replace('_', ' ')} {label}"
    extra = [b for b in brackets if not re.fullmatch(r"[0-9a-f]{6,}", b)]  # a prompt hash is the table's to say
    if extra:
        label += f" ({', '.join(extra)})"
    return label + (", calibrated" if kind == "llm-calibrated" else "")


def judge_dot_plot(rows: dict[str, dict], path: Path, heading: str,
                   scores: tuple[str, ...] = ("balanced_accuracy", "accuracy", "macro_f1", "kappa")) -> Path:
    """One row per judge (LM judges, then calibrated ones, then the trivial baselines), one panel per
    score: a dot at the score and, where the row has one (``<score>_ci``), its 95% interval. Dashed lines
    mark chance (balanced accuracy 0.5, κ 0)."""
    import matplotlib.lines as mlines

    order = {group: k for k, group in enumerate(JUDGE_GROUPS)}
    names = sorted(rows, key=lambda n: order[judge_group(n)])  # stable: the table's order within a group
    scores = tuple(s for s in scores if any(rows[n].get(s) is not None for n in names))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(scores), figsize=(2.3 * len(scores) + 2.6, 0.3 * len(names) + 1.9),
                             sharey=True, layout="constrained", squeeze=False,
                             gridspec_kw={"width_ratios": [1.5 if s == "balanced_accuracy" else 1 for s in scores]})
    axes = axes[0]
    y = list(range(len(names)))
    has_interval = False
    for ax, score in zip(axes, scores):
        for k, name in enumerate(names):
            value, (_, colour, marker) = rows[name].get(score), JUDGE_GROUPS[judge_group(name)]
            if value is None or math.isnan(value):
                continue
            interval = rows[name].get(f"{score}_ci")
            if interval:
                has_interval = True
                ax.plot(interval, [k, k], color=colour, lw=1.6, alpha=0.6, solid_capstyle="butt")
                ax.plot(interval, [k, k], "|", color=colour, ms=7)
            ax.plot([value], [k], marker, color=colour, ms=6)
        if CHANCE.get(score) is not None:
            ax.axvline(CHANCE[score], color="grey", lw=0.9, ls="--")
        low = min([0.0, *(rows[n][score] for n in names if rows[n].get(score) is not None),
                   *(rows[n][f"{score}_ci"][0] for n in names if rows[n].get(f"{score}_ci"))])
        ax.set_xlim(min(low - 0.05, -0.05) if score == "kappa" else 0, 1 if score != "kappa" else max(
            0.5, max((rows[n][score] for n in names if rows[n].get(score) is not None), default=0) + 0.1))
        ax.set_title(JUDGE_SCORES.get(score, score), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
        for k in range(1, len(names)):  # a thin rule between the groups
            if judge_group(names[k]) != judge_group(names[k - 1]):
                ax.axhline(k - 0.5, color="lightgrey", lw=0.8)
    axes[0].set_yticks(y, [short_judge_name(n) for n in names], fontsize=8)
    axes[0].set_ylim(len(names) - 0.5, -0.5)
    groups = [judge_group(n) for n in names]
    extra = [(mlines.Line2D([], [], color=colour, marker=marker, ls=""), label)
             for group, (label, colour, marker) in JUDGE_GROUPS.items() if group in groups]
    if has_interval:
        extra.append((mlines.Line2D([], [], color="C0", lw=1.6, alpha=0.6), "95% interval over resampled users"))
    extra.append((mlines.Line2D([], [], color="grey", lw=0.9, ls="--"), "chance"))
    fig.legend(*zip(*extra), loc="outside lower center", ncols=min(len(extra), 4), fontsize=8, frameon=False)
    title(fig, heading)
    return save(fig, path)
