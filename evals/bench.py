"""`python -m evals.bench`: methods x noise ratios x seeds under one protocol, with plots.

Every cell is one `python -m recsys.train` run (the same splits, noise, evaluation and early
stopping for every method), recorded in the store. A cell whose config hash already has a finished
run is read back, not trained again, so a killed benchmark resumes where it stopped; profiles,
embeddings and verdicts are reused through the store as in any run. The report holds:

* test NDCG@20 / Recall@20 (mean ± std over the training seeds) per method and noise ratio;
* a noise-robustness plot: each metric against the noise ratio, one line per method (PNG);
* what each denoiser did to injected against clean edges (T-CE's drop share, R-CE's weight, the
  LLM judge's removals among its candidates);
* efficiency: seconds per epoch, total seconds per run, LM calls and tokens of the LLM stages.
"""

from __future__ import annotations

import json
import sys
import time
from itertools import product
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.backbones import mean_std
from recsys.cli import run_cli
from recsys.data.store import DEFAULT_STORE_PATH, Store
from recsys.train import MODELS, TrainConfig, run_with_report

EVALS_DIR = Path(__file__).resolve().parent
# The stored LM work each method's run reads (per split): see lm_work.
LLM_METHODS = {"llmhni": ("user profiles", "item profiles", "verdicts"),
               "rlmrec_con": ("user profiles", "item profiles"),
               "llmhd": ("user profiles", "llmhd scores and updates"),
               "hnlmrec": ("generated negatives",)}


class BenchConfig(BaseSettings):
    """Run (or read back) a benchmark matrix and write its report."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.bench", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    dataset: str = Field("ml-100k", description="The dataset every cell trains on.")
    methods: list[str] = Field(
        ["lightgcn", "dns", "tce", "rce", "sgl", "simgcl", "rlmrec_con", "llmhd", "hnlmrec", "llmhni"],
        description=f"Methods (python -m recsys.train --model), any of {', '.join(MODELS)}.")
    noise_ratios: list[float] = Field([0.0, 0.1, 0.2], description="Injected noise ratios.")
    noise_kinds: list[Literal["realistic", "random"]] = Field(["realistic"], description="Noise kinds.")
    seeds: list[int] = Field([0, 1, 2], description="Training seeds, each on the same split per noise setting.")
    backbone: Literal["lightgcn", "ngcf"] = Field("lightgcn", description="The baselines' graph encoder.")
    metrics: list[str] = Field(["ndcg@20", "recall@20"], description="Test metrics to report.")
    set: list[str] = Field([], description="Extra recsys.train options as key=value (e.g. max_users=50).")
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file.")
    out: Path = Field(EVALS_DIR / "bench.md", description="The markdown report; plots go beside it.")
    run: bool = Field(True, description="Train missing cells (--no-run only reports what is stored).")
    progress: bool = Field(False, description="Show per-run progress bars.")

    def cli_cmd(self) -> None:
        sys.exit(main(self))


def cell_config(bench: BenchConfig, method: str, kind: str, ratio: float, seed: int) -> TrainConfig:
    overrides = dict(item.split("=", 1) for item in bench.set)
    return TrainConfig(model=method, dataset=bench.dataset, noise_kind=kind, noise_ratio=ratio, train_seed=seed,
                       backbone=bench.backbone, store=bench.store, progress=bench.progress, **overrides)


def stored_run(store: Store, config: TrainConfig) -> str | None:
    with store.connect() as con:
        row = con.execute("SELECT run_id FROM runs WHERE model = ? AND config_hash = ? AND status = 'finished' "
                          "ORDER BY finished_at DESC LIMIT 1",
                          list(config.recorded_as())).fetchone()
    return row[0] if row else None


def train_or_read(store: Store, config: TrainConfig, label: str, run: bool, console: Console) -> str | None:
    """The run id of ``config``'s finished cell: read back from the store, else trained now (unless
    ``run`` is off, then None), so a killed benchmark resumes where it stopped."""
    run_id = stored_run(store, config)
    if run_id is None and run:
        start = time.perf_counter()
        console.rule(label, align="left")
        run_id, _, _ = run_with_report(config, console)
        console.print(f"{label}: trained in {time.perf_counter() - start:.0f} s")
    else:
        console.print(f"{label}: {'stored' if run_id else 'missing'}")
    return run_id


def run_matrix(bench: BenchConfig, console: Console) -> pd.DataFrame:
    """One row per cell: its run id (None where missing and --no-run)."""
    store = Store(bench.store)
    cells = list(product(bench.noise_kinds, bench.noise_ratios, bench.methods, bench.seeds))
    rows = []
    for number, (kind, ratio, method, seed) in enumerate(cells, 1):
        label = f"[{number}/{len(cells)}] {method} {kind} {ratio:g} seed {seed}"
        run_id = train_or_read(store, cell_config(bench, method, kind, ratio, seed), label, bench.run, console)
        rows.append({"noise_kind": kind, "noise_ratio": ratio, "method": method, "seed": seed, "run_id": run_id})
    return pd.DataFrame(rows)


def read_results(store: Store, cells: pd.DataFrame) -> pd.DataFrame:
    """Test metrics, denoising metrics, timings and split of every stored cell (one row per run)."""
    run_ids = [run for run in cells.run_id if run]
    if not run_ids:
        return cells.assign(split_id=None)
    with store.connect() as con:
        metrics = con.execute("SELECT run_id, split || '/' || name AS name, value FROM metrics WHERE run_id IN ? "
                              "AND split IN ('test', 'denoise')", [run_ids]).df()
        runs = con.execute("SELECT run_id, split_id, timings, best_epoch FROM runs WHERE run_id IN ?", [run_ids]).df()
    wide = metrics.pivot(index="run_id", columns="name", values="value").reset_index()
    timings = pd.DataFrame([json.loads(t) if t else {} for t in runs.timings])
    runs = pd.concat([runs.drop(columns="timings"), timings], axis=1)
    return cells.merge(runs, on="run_id", how="left").merge(wide, on="run_id", how="left")


def lm_work(store: Store, split_ids: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """LM calls, tokens and seconds of each kind of stored LM work (the keys of LLM_METHODS' values) per split."""
    in_split_sets = ("IN (SELECT candidate_set FROM candidate_sets WHERE split_id = ? "
                     "AND candidate_set NOT LIKE 'labels|%')")
    sources = {
        "user profiles": ("profiles", "split_id = ? AND kind = 'user'"),
        "item profiles": ("profiles", "split_id = ? AND kind = 'item'"),
        "verdicts": ("verdicts", f"candidate_set {in_split_sets}"),
        "llmhd scores and updates": ("method_outputs", f"task LIKE 'llmhd%' AND scope {in_split_sets}"),
        "generated negatives": ("method_outputs", "task = 'hnlmrec_negative' AND scope = ?"),
    }
    work = {}
    with store.connect() as con:
        for split_id in split_ids:
            work[split_id] = {}
            for name, (table, where) in sources.items():
                calls, tokens, seconds = con.execute(
                    f"SELECT coalesce(sum(attempts), 0), coalesce(sum(prompt_tokens + completion_tokens), 0), "
                    f"coalesce(sum(latency_s), 0) FROM {table} WHERE {where}", [split_id]).fetchone()
                work[split_id][name] = {"calls": int(calls), "tokens": int(tokens), "seconds": float(seconds)}
    return work


def metric_table(results: pd.DataFrame, bench: BenchConfig) -> list[str]:
    ratios = sorted(results.noise_ratio.unique())
    header = [f"{kind} {ratio:.0%} {metric}" for kind in bench.noise_kinds for ratio in ratios for metric in bench.metrics]
    lines = ["| method | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    for method in bench.methods:
        cells = []
        for kind, ratio, metric in product(bench.noise_kinds, ratios, bench.metrics):
            values = results.loc[(results.method == method) & (results.noise_kind == kind)
                                 & (results.noise_ratio == ratio), f"test/{metric}"].dropna() \
                if f"test/{metric}" in results else pd.Series(dtype=float)
            cell = mean_std(values.tolist()) if len(values) else "–"
            cells.append(cell + (f" (n={len(values)})" if 0 < len(values) < len(bench.seeds) else ""))
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return lines


def denoising_table(results: pd.DataFrame) -> list[str]:
    lines = ["| method | noise | what it measures | on injected edges | on clean edges |", "|---|---|---|---|---|"]
    measures = (
        ("denoise/dropped_share_injected", "denoise/dropped_share_clean", "share of batches the edge was dropped from"),
        ("denoise/mean_weight_injected", "denoise/mean_weight_clean", "mean loss weight"),
    )
    for (method, kind, ratio), group in results.groupby(["method", "noise_kind", "noise_ratio"]):
        for injected, clean, text in measures:
            if injected in group and group[injected].notna().any():
                lines.append(f"| {method} | {kind} {ratio:.0%} | {text} | {group[injected].mean():.3f} | "
                             f"{group[clean].mean():.3f} |")
        if "denoise/injected_candidates" in group and group["denoise/injected_candidates"].notna().any():
            row = group.iloc[0]
            lines.append(
                f"| {method} | {kind} {ratio:.0%} | judge removals among its candidates | "
                f"{row['denoise/injected_removed']:.0f} of {row['denoise/injected_candidates']:.0f} "
                f"({row['denoise/injected_in_train']:.0f} injected in train) | "
                f"{row['denoise/clean_removed']:.0f} of {row['denoise/clean_candidates']:.0f} |")
    return lines


def efficiency_table(results: pd.DataFrame, work: dict) -> list[str]:
    lines = ["| method | s / epoch | best epoch | total s / run | LM calls | LM tokens |", "|---|---|---|---|---|---|"]
    for method, group in results.groupby("method", sort=False):
        calls = tokens = 0
        for split_id in group.split_id.dropna().unique():
            for kind in LLM_METHODS.get(method, ()):
                calls += work[split_id][kind]["calls"]
                tokens += work[split_id][kind]["tokens"]
        per_epoch = group.seconds_per_epoch.mean() if "seconds_per_epoch" in group else float("nan")
        lines.append(f"| {method} | {per_epoch:.2f} | {group.best_epoch.mean():.0f} | "
                     f"{group.total_seconds.mean():.0f} | {calls} | {tokens} |")
    return lines


def plot_robustness(results: pd.DataFrame, bench: BenchConfig, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = list(product(bench.noise_kinds, bench.metrics))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4), squeeze=False)
    for ax, (kind, metric) in zip(axes[0], panels):
        column = f"test/{metric}"
        for method in bench.methods:
            subset = results[(results.method == method) & (results.noise_kind == kind)]
            if column not in subset or subset[column].isna().all():
                continue
            stats = subset.groupby("noise_ratio")[column].agg(["mean", "std"]).reset_index()
            ax.errorbar(stats.noise_ratio * 100, stats["mean"], yerr=stats["std"].fillna(0), marker="o",
                        capsize=3, label=method)
        ax.set_xlabel(f"{kind} noise (% of training edges)")
        ax.set_ylabel(f"test {metric}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{bench.dataset}: robustness to injected noise (mean ± std over {len(bench.seeds)} seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(bench: BenchConfig, results: pd.DataFrame, work: dict, command: str) -> Path:
    plot = bench.out.with_suffix(".png")
    plot_robustness(results, bench, plot)
    missing = int(results.run_id.isna().sum())
    lines = [
        f"# Benchmark: {bench.dataset}, {bench.backbone} backbone",
        "",
        f"Command: `{command}`. Each cell is a `python -m recsys.train` run on the same split per noise "
        "setting, validated on Recall@20 every epoch with patience 20; test metrics at the best validation "
        f"epoch, mean ± std over training seeds {bench.seeds}."
        + (f" **{missing} cells are missing** (not run yet): the command trains them and reads every "
           "finished cell back from the store." if missing else ""),
        "",
        *metric_table(results, bench),
        "",
        f"![noise robustness]({plot.name})",
        "",
        "## What the denoisers did to injected and clean edges",
        "",
        *denoising_table(results),
        "",
        "## Efficiency",
        "",
        ("Seconds on this machine's 2-core CPU; runs that shared it with another job (an LM stage, the tests) "
         "took up to about twice as long, so compare seconds within a factor of two. LM calls and tokens are the stored LM work each method reads, "
         "summed over the noise settings: it is made once per split and reused by every seed, and work that "
         "methods share (the user profiles) counts for each of them. "
         + "; ".join(f"{method}: {', '.join(kinds)}" for method, kinds in LLM_METHODS.items()) + "."),
        "",
        *efficiency_table(results, work),
        "",
    ]
    bench.out.write_text("\n".join(lines))
    return bench.out


def main(bench: BenchConfig) -> int:
    console = Console(stderr=True)
    unknown = sorted(set(bench.methods) - set(MODELS))
    if unknown:
        console.print(f"[red]error:[/] unknown methods {unknown}; choose from {', '.join(MODELS)}")
        return 2
    cells = run_matrix(bench, console)
    store = Store(bench.store)
    results = read_results(store, cells)
    work = lm_work(store, [s for s in results.split_id.dropna().unique()])
    # --no-run only reports: the command that reproduces the report (and trains what is missing) omits it
    command = "python -m evals.bench " + " ".join(arg for arg in sys.argv[1:] if arg != "--no-run")
    path = write_report(bench, results, work, command)
    console.print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    run_cli(BenchConfig)
