"""`python -m recsys.train`: split the data, train a backbone, evaluate, and record the run.

Every option is a field of :class:`TrainConfig`; `--help` lists them with their defaults, and each
can also come from an environment variable ``RECSYS_<FIELD>``.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, CliApp, SettingsConfigDict
from rich.console import Console
from rich.table import Table

from recsys.baselines import PopularityRanking, RandomRanking
from recsys.datasets import DataValidationError
from recsys.runs import RunRecorder
from recsys.split import DataConfig, load_split, make_split, split_summary
from recsys.store import DEFAULT_STORE_PATH, Store, StoreLockedError
from recsys.trainer import OptimConfig, TrainResult, evaluate_fixed, train_bpr

MODELS = ("lightgcn", "ngcf", "popularity", "random")


class TrainConfig(BaseSettings, OptimConfig, DataConfig):
    """Train and evaluate a recommender on a noisy split (default: ml-100k with 10% realistic noise).

    The split, the run, its per-epoch validation metrics and the final test metrics at the best
    validation epoch are recorded in the DuckDB store.
    """

    model_config = SettingsConfigDict(
        cli_prog_name="python -m recsys.train",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_avoid_json=True,
        env_prefix="RECSYS_",
    )

    model: Literal["lightgcn", "ngcf", "popularity", "random"] = Field(
        "lightgcn", description="Backbone to train, or an untrained ranking (popularity, random) as a floor."
    )
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file (created if missing).")
    progress: bool = Field(True, description="Show progress bars.")
    store_flush_seconds: float = Field(5.0, gt=0, description="Write buffered metrics to the store this often.")

    def optim_config(self) -> OptimConfig:
        return OptimConfig.model_validate(self.model_dump(include=set(OptimConfig.model_fields)))

    def cli_cmd(self) -> None:
        sys.exit(main(self))


# Fields that change how a run looks, not what it computes.
NON_RESULT_FIELDS = {"store", "progress", "store_flush_seconds"}


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(config: TrainConfig, console: Console | None = None) -> tuple[str, TrainResult]:
    """Train and evaluate as configured; return the run id and its result."""
    console = console or Console(stderr=True)
    store = Store(config.store)
    with console.status("Preparing the dataset and split...", spinner="dots"):
        split_id = make_split(store, config.data_config())
    summary = split_summary(store, split_id)
    console.print(
        f"[bold]{split_id}[/]: {summary['n_users_kept']} users kept, {summary['n_users_dropped']} dropped "
        f"(< {config.min_user_interactions} positives); train {summary['n_train_clean']} clean + "
        f"{summary['n_train_noise']} injected, valid {summary['n_valid']}, test {summary['n_test']}."
    )
    data = load_split(store, split_id)
    recorder = RunRecorder(store, split_id, config.model, config, hash_exclude=NON_RESULT_FIELDS,
                           flush_seconds=config.store_flush_seconds)
    started = time.perf_counter()
    try:
        if config.model in ("popularity", "random"):
            score = (PopularityRanking(data.train, data.num_items) if config.model == "popularity"
                     else RandomRanking(data.num_items, config.seed))
            valid, test = evaluate_fixed(data, score, config.ks, config.eval_batch_size)
            result = TrainResult(0, valid, test, 0)
        else:
            def on_epoch(epoch: int, loss: float, valid: dict | None) -> None:
                recorder.log(epoch, "train", {"loss": loss})
                if valid is not None:
                    recorder.log(epoch, "valid", valid)

            result = train_bpr(data, config.model, config.optim_config(), config.seed, on_epoch, config.progress)
        recorder.log(result.best_epoch, "test", result.test)
    except KeyboardInterrupt:
        recorder.finish("interrupted")
        raise
    except BaseException:
        recorder.finish("failed")
        raise
    result.timings |= {"total_seconds": time.perf_counter() - started, "peak_memory_mb": peak_memory_mb()}
    recorder.finish("finished", result.best_epoch, result.timings)
    return recorder.run_id, result


def metrics_table(title: str, result: TrainResult) -> Table:
    table = Table(title=title)
    table.add_column("split")
    names = list(result.test)
    for name in names:
        table.add_column(name, justify="right")
    table.add_row("valid", *(f"{result.valid.get(name, float('nan')):.4f}" for name in names))
    table.add_row("test", *(f"{result.test[name]:.4f}" for name in names))
    return table


def main(config: TrainConfig) -> int:
    console = Console(stderr=True)
    try:
        run_id, result = run(config, console)
    except (DataValidationError, StoreLockedError) as error:
        console.print(f"[red]error:[/] {error}")
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the run is marked 'interrupted' in the store.")
        return 130
    title = f"{config.model} on {config.dataset}, {config.noise_ratio:.0%} {config.noise_kind} noise"
    if result.epochs_run:
        title += f": best valid epoch {result.best_epoch} of {result.epochs_run}"
    Console().print(metrics_table(title, result))
    timings = ", ".join(f"{key} {value:.3f}" for key, value in result.timings.items())
    console.print(f"run {run_id} recorded in {config.store} ({timings})")
    return 0


if __name__ == "__main__":
    CliApp.run(TrainConfig)
