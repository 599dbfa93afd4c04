"""Speed benchmark of the LightGCN backbone: seconds per epoch, per full-ranking evaluation, peak memory.

    python -m evals.oneoff.bench_backbone               # ml-100k and ml-1m, writes evals/reports/backbone_speed.md

Each dataset runs in its own process so that its peak memory (max RSS) is its own. This is a
benchmark, not a test: it records what this machine does, it asserts nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import time
from pathlib import Path

import torch
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from evals.harness.tables import markdown_table
from recsys.cli import run_cli
from recsys.data.split import DataConfig, load_split, make_split
from recsys.store import DEFAULT_STORE_PATH, Store
from recsys.training.runs import peak_memory_mb
from recsys.training.trainer import OptimConfig, train_bpr


class BenchConfig(BaseSettings):
    """Time LightGCN training epochs and full-ranking evaluation on each dataset."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.bench_backbone", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    datasets: list[str] = Field(["ml-100k", "ml-1m"], description="Datasets to time.")
    epochs: int = Field(5, gt=0, description="Timed training epochs per dataset (each followed by a validation).")
    noise_ratio: float = Field(0.1, description="Realistic noise ratio of the split.")
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store (splits are reused).")
    report: Path = Field(Path("evals/reports/backbone_speed.md"), description="Markdown report to write.")

    def cli_cmd(self) -> None:
        main(self)


def bench_one(dataset: str, config: BenchConfig, queue) -> None:
    store = Store(config.store)
    started = time.perf_counter()
    data = load_split(store, make_split(store, DataConfig(dataset=dataset, noise_ratio=config.noise_ratio)))
    prepare = time.perf_counter() - started
    result = train_bpr(data, "lightgcn", OptimConfig(epochs=config.epochs, patience=config.epochs + 1),
                       seed=0, progress=False)
    queue.put({
        "dataset": dataset, "users": data.num_users, "items": data.num_items, "train_edges": data.num_train,
        "prepare_s": prepare, "epoch_s": result.timings["seconds_per_epoch"],
        "eval_s": result.timings["seconds_per_eval"], "peak_mb": peak_memory_mb(),
    })


def main(config: BenchConfig) -> None:
    context = multiprocessing.get_context("spawn")
    rows = []
    for dataset in config.datasets:
        queue = context.Queue()
        process = context.Process(target=bench_one, args=(dataset, config, queue))
        process.start()
        rows.append(queue.get())
        process.join()
        print(rows[-1], flush=True)
    lines = [
        "# LightGCN backbone speed",
        "",
        (f"Command: `python -m evals.oneoff.bench_backbone --epochs {config.epochs}`. Machine: {os.cpu_count()} cores, "
        f"{platform.machine()}, torch {torch.__version__} (CPU, {torch.get_num_threads()} threads). "
        f"LightGCN d=64, 3 layers, batch 4096, {config.noise_ratio:.0%} realistic noise; "
        "one epoch is one pass over the training edges (one full propagation per batch). "
        "The evaluation ranks every item for every validation user with training items masked. "
        "'prepare' is ingest + split on a fresh store, or loading them when the store has them."),
        "",
        *markdown_table(
            ["dataset", "users", "items", "train edges", "prepare (s)", "s / epoch", "s / full-ranking eval",
             "peak RSS (MB)"],
            [[r["dataset"], r["users"], r["items"], r["train_edges"], f"{r['prepare_s']:.1f}", f"{r['epoch_s']:.3f}",
              f"{r['eval_s']:.3f}", f"{r['peak_mb']:.0f}"] for r in rows], "lrrrrrrr"),
    ]
    config.report.write_text("\n".join(lines) + "\n")
    print(f"wrote {config.report}")


if __name__ == "__main__":
    run_cli(BenchConfig)
