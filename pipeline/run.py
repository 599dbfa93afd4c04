"""Runs a registered method by name and reports it: the layer the entry points call.

    recsys (data, store, models, training, denoising) → judge → pipeline (stages → methods → run) → `python -m recsys.train`

:data:`METHODS` holds every method of :mod:`pipeline.methods`; :func:`run_method` narrows a config to the
method's own options (so a run's recorded config and hash do not depend on how it was launched) and
runs its stages.
"""

from __future__ import annotations

import pandas as pd
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from pipeline.methods import METHODS, method_settings, own_config
from pipeline.stages import NON_RESULT_FIELDS, BudgetExhausted, IncompleteJudge, PipelineReport
from recsys.training.runs import config_hash
from recsys.training.trainer import TrainResult

__all__ = ["EMBEDDED_SECONDS_PER_CALL", "METHODS", "NON_RESULT_FIELDS", "BudgetExhausted", "IncompleteJudge", "PipelineReport", "confusion_table",
           "method_settings", "metrics_table", "plan", "recorded_as", "run_method", "stage_table"]


def run_method(name: str, config: BaseModel, console: Console | None = None
               ) -> tuple[str, TrainResult, PipelineReport | None]:
    """Run method ``name`` on ``config`` (its own settings, or any config holding their fields)."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name].run(own_config(name, config), console or Console(stderr=True))


def recorded_as(name: str, config: BaseModel) -> tuple[str, str]:
    """(model, config hash) under which :func:`run_method` records this run in the store's ``runs``."""
    return name, config_hash(own_config(name, config), NON_RESULT_FIELDS)


# Seconds per profile call of the embedded 135M model on this project's 2-core CPU: 457.9 s for 250
# calls in the default job's first run (evals/reports/first_hour.md). Other LMs: unknown until measured.
EMBEDDED_SECONDS_PER_CALL = 1.8


def plan(name: str, config: BaseModel) -> list[str]:
    """What method ``name`` will do with ``config``, said before any work: its stages, the most LM calls
    it may make and what they may cost in time."""
    method = METHODS[name]
    lines = [f"plan: {name}: " + " → ".join(method.stages)]
    if not method.uses_lm:
        return lines + ["      no LM calls"]
    if getattr(config, "profiles", "llm") != "llm":
        return lines + ["      no LM calls: the dataset's own profiles (--profiles imported)"]
    users, items = getattr(config, "max_users", None), getattr(config, "max_items", None)
    kinds = [kind for kind in ("user", "item") if f"{kind} profiles" in method.lm_work]
    counts = {"user": users, "item": items}
    calls = []
    if kinds:
        calls.append("at most " + " and ".join(f"{counts[k] if counts[k] is not None else 'every'} {k}" for k in kinds)
                     + " profiles (stored ones are reused, failed ones skipped)")
    calls += [f"{kind} (bounded by the method's own options, see --help)" for kind in method.lm_work
              if not kind.endswith("profiles") and kind != "verdicts"]
    if "verdicts" in method.stages and getattr(config, "judge", "llm") == "llm":
        calls.append("if the judge gate opens (read right after the data stage): 2 verdicts per candidate pair and "
                     "the judged users' profiles; closed, none")
    lines.append("      LM: " + "; ".join(calls))
    bounded = sum(counts[k] or 0 for k in kinds)
    if getattr(config, "lm", None) == "embedded" and bounded and all(counts[k] is not None for k in kinds):
        lines.append(f"      time: the embedded 135M model takes about {EMBEDDED_SECONDS_PER_CALL} s per call on 2 "
                     f"cores: up to {bounded * EMBEDDED_SECONDS_PER_CALL / 60:.0f} min for the profiles of a first run")
    return lines


def metrics_table(title: str, result: TrainResult) -> Table:
    table = Table(title=title)
    table.add_column("split")
    names = list(result.test)
    for name in names:
        table.add_column(name, justify="right")
    table.add_row("valid", *(f"{result.valid.get(name, float('nan')):.4f}" for name in names))
    table.add_row("test", *(f"{result.test[name]:.4f}" for name in names))
    return table


def stage_table(report: PipelineReport) -> Table:
    table = Table(title="stages")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    table.add_column("result")
    for name, seconds in report.stage_seconds.items():
        table.add_row(name, f"{seconds:.1f}", report.notes.get(name, ""))
    table.add_row("total", f"{sum(report.stage_seconds.values()):.1f}", "")
    return table


def confusion_table(confusion: pd.DataFrame, judge: str) -> Table:
    table = Table(title=f"hard vs noise: what the {judge} judge did to the candidate pairs "
                        f"({confusion.attrs.get('injected_in_train', '?')} injected edges in train)")
    for column in confusion.columns:
        table.add_column("removed / added" if column == "edited" else column,
                         justify="left" if column == "pair" else "right")
    for row in confusion.itertuples(index=False):
        table.add_row(*(str(value) for value in row))
    return table
