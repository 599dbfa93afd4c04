"""Backbone results table: models x noise ratios x seeds on one dataset, mean ± std of test metrics.

    python -m evals.oneoff.backbones                          # ml-100k, 0% and 10% realistic noise, 3 seeds
    python -m evals.oneoff.backbones --dataset book-crossing  # its own section of the same report

Every run goes through `pipeline.train.run` (the same split, early stopping and evaluation as the
CLI) and is recorded in the store; the table goes to the dataset's section of evals/reports/backbones.md
(other datasets' sections are kept).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.tables import markdown_table, mean_std
from pipeline.train import TrainConfig, run
from recsys.cli import run_cli
from recsys.data.ingest import split_scale
from recsys.store import DEFAULT_STORE_PATH, Store
from recsys.store.reports import run_split_id

REPORTED = ("recall@20", "ndcg@20", "recall@10", "ndcg@10")


class BackbonesConfig(BaseSettings):
    """Run every model at every noise ratio with every seed and tabulate test metrics."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.backbones", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    dataset: str = Field("ml-100k", description="Dataset name or ratings file.")
    models: list[str] = Field(["random", "popularity", "lightgcn", "ngcf"], description="Models to run.")
    noise_ratios: list[float] = Field([0.0, 0.1], description="Noise ratios.")
    noise_kind: Literal["realistic", "random"] = Field("realistic", description="Kind of injected noise.")
    seeds: list[int] = Field([1, 2, 3], description="Seeds (each changes the split, the noise and training).")
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store.")
    report: Path = Field(Path("evals/reports/backbones.md"), description="Markdown report to write.")

    def cli_cmd(self) -> None:
        main(self)


def main(config: BackbonesConfig) -> None:
    console = Console(stderr=True)
    rows = []
    for noise in config.noise_ratios:
        for model in config.models:
            results = []
            for seed in config.seeds:
                train_config = TrainConfig(dataset=config.dataset, model=model, noise_ratio=noise, seed=seed,
                                           noise_kind=config.noise_kind, store=config.store, progress=False)
                run_id, result = run(train_config, console)
                results.append(result)
                split_id = run_split_id(Store(config.store), run_id)
                console.print(f"{model} noise={noise:g} seed={seed}: run {run_id} test {result.test}")
            rows.append((model, noise, results))
    seeds = ", ".join(map(str, config.seeds))
    scale = split_scale(Store(config.store), split_id)
    positive = scale.positive
    noise_text = (f"Realistic noise: injected training edges drawn from the user's own explicit ratings < {positive:g}"
                  if config.noise_kind == "realistic" else "Random noise: injected edges to items the user never rated")
    command = "python -m evals.oneoff.backbones" + (f" --dataset {config.dataset}" if config.dataset != "ml-100k" else "")
    if config.noise_kind != "realistic":
        command += f" --noise-kind {config.noise_kind}"
    lines = [
        f"## Backbones on {config.dataset}",
        "",
        (f"Command: `{command}` (seeds {seeds}; each seed re-draws the split, the noise and "
        f"the initialisation). Rating scale: {scale.describe()}. {noise_text}. "
        "Full ranking over all items with training items masked; test at the best validation Recall@20 epoch "
        "(patience 20). LightGCN/NGCF: d=64, 3 layers, batch 4096, Adam lr 5e-3, reg 1e-6, uniform negatives. "
        "'s / epoch' is wall-clock while other jobs may share the 2 cores; clean timings are in "
        "backbone_speed.md."),
        "",
    ]
    table = []
    for model, noise, results in rows:
        cells = [mean_std([r.test[metric] for r in results]) for metric in REPORTED]
        best = statistics.mean(r.best_epoch for r in results)
        per_epoch = statistics.mean(r.timings.get("seconds_per_epoch", 0.0) for r in results)
        epochs = f"{best:.0f}" if best else "–"
        table.append([model, f"{noise:.0%}", *cells, epochs, f"{per_epoch:.2f}" if per_epoch else "–"])
    lines += markdown_table(["model", "noise", *(f"test {m}" for m in REPORTED), "epochs (best)", "s / epoch"], table,
                            "lr" + "r" * (len(REPORTED) + 2))
    write_section(config.report, lines[0], "\n".join(lines) + "\n")
    console.print(f"wrote {config.report}")


def write_section(report: Path, heading: str, body: str) -> None:
    """Replace (or append) the section that starts with ``heading``; keep every other section."""
    text = report.read_text() if report.exists() else "# Backbones\n\n"
    sections = text.split("\n## ")
    head, rest = sections[0], ["## " + part for part in sections[1:]]
    kept = [part for part in rest if not part.startswith(heading)]
    report.write_text("\n".join([head.rstrip() + "\n", *[part.rstrip() + "\n" for part in kept], body]))


if __name__ == "__main__":
    run_cli(BackbonesConfig)
