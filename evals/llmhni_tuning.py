"""`python -m evals.llmhni_tuning`: choose the full model's sampler and loss weights on validation.

Issue 18 asks that LLMHNI with a perfect judge at full reach be at least as good as DNS on the same
noisy split. This trains named variants of the full model (each a set of ``recsys.train`` options on
top of the judge-value grid's LLMHNI cell: a simulated judge of each of ``--accuracies``, ``--share`` of
every user's positives judged, gate forced open) and DNS, over the training seeds, and writes
``evals/reports/llmhni_tuning.md``: validation Recall@20 at each run's best epoch (the selection criterion) and,
only for the record, the test Recall@20 at that epoch. The default is chosen from the validation column.

Cells are ordinary runs in the store; a finished one is read back, so a killed study resumes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.cells import read_results, train_or_read
from evals.harness.paths import REPORTS_DIR
from evals.harness.tables import markdown_table, mean_std
from evals.judge_value import JudgeValueConfig, cell_config
from recsys.cli import run_cli
from recsys.store import DEFAULT_STORE_PATH, Store
from recsys.store.reports import valid_at_best_epoch


class TuningConfig(BaseSettings):
    """Train (or read back) LLMHNI variants and DNS; report validation Recall@20, then test."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.llmhni_tuning", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    dataset: str = Field("ml-100k", description="Dataset (python -m recsys.train --dataset).")
    noise: str = Field("random:0.2", description="Noise setting as kind:ratio.")
    accuracies: list[float] = Field([1.0], description="Simulated judge accuracies p; every variant runs at each.")
    share: float = Field(0.2, gt=0, le=1, description="Judged share of every user's positives.")
    seeds: list[int] = Field([0, 1, 2], description="Training seeds.")
    variants: list[str] = Field(
        ["default:", "no-semantic-share:semantic_share=0", "no-cl:lambda_de=0+lambda_hal=0",
         "dns-on-g-prime:semantic_negatives=false+lambda_de=0+lambda_hal=0"],
        description="name:key=value+key=value (recsys.train options on top of the LLMHNI cell; empty = as is); "
        "name@p:... runs the variant at accuracy p only.")
    llm_set: list[str] = Field(["max_users=40", "max_items=10"],
                               description="Options of every variant (the judge-value grid's LM cut).")
    set: list[str] = Field([], description="Extra recsys.train options of every cell (DNS too), as key=value.")
    metric: str = Field("recall@20", description="Selection metric (validation) and reported test metric.")
    store: Path = Field(DEFAULT_STORE_PATH.parent / "judge_value.duckdb", description="DuckDB store (shared with "
                        "the judge-value grid, so profiles and cells are reused).")
    out: Path = Field(REPORTS_DIR / "llmhni_tuning.md", description="The markdown report.")
    run: bool = Field(True, description="Train missing cells (--no-run only reports what is stored).")

    def cli_cmd(self) -> None:
        sys.exit(main(self))


def parse_variant(text: str) -> tuple[str, list[str], float | None]:
    """``name[@p]:key=value+key=value`` -> (name, options, the only accuracy it runs at or None for all)."""
    head, _, settings = text.partition(":")
    name, _, only = head.partition("@")
    if not name:
        raise ValueError(f"variant {text!r}: write name:key=value+key=value")
    return name, [item for item in settings.split("+") if item], float(only) if only else None


def best_valid(store: Store, run_ids: list[str], metric: str) -> dict[str, float]:
    """Validation ``metric`` at each run's best epoch."""
    if not run_ids:
        return {}
    return valid_at_best_epoch(store, run_ids, metric)


def main(tuning: TuningConfig) -> int:
    console = Console(stderr=True)
    store = Store(tuning.store)
    cells = []
    plans = [("DNS (reference)", "dns", [], None)] + [
        (name, "llmhni", settings, accuracy) for accuracy in tuning.accuracies
        for name, settings, only in map(parse_variant, tuning.variants) if only in (None, accuracy)]
    for label, method, settings, accuracy in plans:
        grid = JudgeValueConfig(datasets=[tuning.dataset], noise=[tuning.noise], share=tuning.share,
                                store=tuning.store, set=tuning.set, llm_set=[*tuning.llm_set, *settings])
        for seed in tuning.seeds:
            config = cell_config(grid, tuning.dataset, tuning.noise, method, seed, accuracy)
            run_id = train_or_read(store, config, f"{label} p={accuracy} seed {seed}", tuning.run, console)
            cells.append({"p": "–" if accuracy is None else f"{accuracy:g}", "variant": label,
                          "settings": " ".join(settings) or "(defaults)", "seed": seed, "run_id": run_id})
    frame = pd.DataFrame(cells)
    results = read_results(store, frame)
    valid = best_valid(store, [r for r in frame.run_id if r], tuning.metric)
    results["valid"] = results.run_id.map(valid)
    test = f"test/{tuning.metric}"
    lines = ["# LLMHNI's sampler and loss weights, chosen on validation", "",
             f"Command: `python -m evals.llmhni_tuning {' '.join(sys.argv[1:])}`. Store: `{tuning.store}`.", "",
             (f"{tuning.dataset}, {tuning.noise} noise; every LLMHNI variant uses a simulated judge of accuracy "
              f"p ({', '.join(f'{a:g}' for a in tuning.accuracies)}) on {tuning.share:.0%} of every user's "
              f"positives (gate forced open) and `{' '.join(tuning.llm_set)}`. Mean ± std over seeds "
              f"{tuning.seeds}; validation {tuning.metric} at the best epoch chooses, the test column is only "
              "reported."), ""]

    def cell(values: pd.Series) -> str:
        values = values.dropna()
        return mean_std(values.tolist()) if len(values) else "–"

    rows = []
    for (p, label, settings), part in results.groupby(["p", "variant", "settings"], sort=False):
        done = part[part.run_id.notna()]
        tested = cell(done[test]) if test in done else "–"
        rows.append([p, label, f"`{settings}`", cell(done.valid), tested, len(done)])
    lines += markdown_table(["judge p", "variant", "options", f"valid {tuning.metric}", f"test {tuning.metric}",
                             "runs"], rows)
    tuning.out.write_text("\n".join(lines) + "\n")
    console.print(f"wrote {tuning.out}")
    return 0


if __name__ == "__main__":
    run_cli(TuningConfig)
