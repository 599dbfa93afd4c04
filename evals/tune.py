"""`python -m evals.tune`: equal tuning. Every method gets the same number of validation trials, drawn from
the range its paper states (``configs/search_spaces.toml``), over every split seed x training seed, and the
trial with the best mean validation metric becomes the method's settings file, ``configs/<dataset>/<method>.toml``,
with a ``[tuning]`` table saying how it was chosen.

Trial 0 of every method is the code's defaults; the others are distinct points of the method's range,
drawn by a generator seeded by the method's name, so a re-run draws the same trials and reads the stored
ones back (a killed tuning run resumes). The test split is never read: the report shows validation only.
"""

from __future__ import annotations

import random
import sys
import zlib
from itertools import product
from pathlib import Path
from typing import Any

import pandas as pd
import tomllib
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.cells import NOISE_HELP, check_noise, option_values, parse_noise, train_or_read
from evals.harness.paths import CONFIGS_DIR, REPORTS_DIR, shown
from evals.harness.tables import markdown_table, mean_std
from pipeline.config_files import config_file_text
from pipeline.registry import METHODS, method_settings
from pipeline.train import TrainConfig
from recsys.cli import run_cli
from recsys.store import DEFAULT_STORE_PATH, Store
from recsys.store.reports import valid_at_best_epoch

SEARCH_SPACES = CONFIGS_DIR / "search_spaces.toml"
# What a settings file leaves out: where and how a run is recorded, and what varies between the runs of
# one setting (the noise, the split and training seeds), so that one file serves every noise setting.
NOT_IN_SETTINGS_FILE = {"store", "progress", "threads", "store_flush_seconds", "config", "seed", "train_seed",
                        "noise_kind", "noise_ratio", "model", "edit_graph"}


class TuneConfig(BaseSettings):
    """Tune every method with the same number of validation trials; write its settings file and a report."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.tune", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    dataset: str = Field("ml-100k", description="Dataset (python -m recsys.train --dataset).")
    name: str | None = Field(None, description="The dataset's folder under configs/ (default: the dataset's "
                             "last path part, e.g. rlmrec-amazon).")
    noise: str = Field("random:0.2", description=NOISE_HELP.replace("settings", "setting") + " One setting.")
    methods: list[str] = Field(["lightgcn", "dns", "tce", "rce", "sgl", "simgcl"],
                               description="Methods to tune (each needs a table in --spaces).")
    trials: int = Field(4, gt=0, description="Validation trials per method (the same for every method; trial 0 "
                        "is the defaults).")
    split_seeds: list[int] = Field([2026, 7], description="Split seeds (--seed): each trial runs on each split. "
                                   "A pre-split dataset has one split whatever the seed.")
    seeds: list[int] = Field([0], description="Training seeds (--train-seed) per split.")
    set: list[str] = Field([], description="recsys.train options fixed for every trial, as key=value "
                           "(e.g. epochs=40); they go into the settings files too.")
    analysis_set: list[str] = Field(
        [], description="recsys.train options of every trial that stay out of the settings files: the analysis "
        "judge that tunes LLMHNI's module 2 (e.g. judge=simulated judge_accuracy=1 force_edit=true).")
    metric: str = Field("recall@20", description="Validation metric that chooses.")
    spaces: Path = Field(SEARCH_SPACES, description="The methods' tuning ranges (TOML).")
    configs_dir: Path = Field(CONFIGS_DIR, description="Where <name>/<method>.toml are written.")
    write_configs: bool = Field(True, description="Write each method's chosen settings file.")
    store: Path = Field(DEFAULT_STORE_PATH.parent / "tuning.duckdb", description="DuckDB store of the trials.")
    out: Path | None = Field(None, description="The markdown report (default evals/reports/tuning/<name>.md).")
    run: bool = Field(True, description="Train missing trials (--no-run only reports what is stored).")

    _check_noise = field_validator("noise")(lambda value: check_noise([value])[0])

    @property
    def folder(self) -> str:
        return self.name or Path(self.dataset).name

    def cli_cmd(self) -> None:
        sys.exit(main(self))


def read_spaces(path: Path, methods: list[str]) -> dict[str, dict[str, Any]]:
    """Each method's table of ``path``: ``source`` and option -> list of values."""
    spaces = tomllib.loads(Path(path).read_text())
    missing = [m for m in methods if m not in spaces]
    if missing:
        raise ValueError(f"{path} has no range for {', '.join(missing)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"not a method: {', '.join(unknown)}")
    return {m: spaces[m] for m in methods}


def draw_trials(method: str, space: dict[str, Any], trials: int) -> list[dict[str, Any]]:
    """``trials`` settings for ``method``: {} (the defaults) first, then distinct points of ``space`` other
    than the defaults, drawn by a generator seeded by the method's name (the same draws on every run)."""
    options = {key: values for key, values in space.items() if key != "source"}
    fields = method_settings(method).model_fields
    unknown = [key for key in options if key not in fields]
    if unknown:
        raise ValueError(f"configs/search_spaces.toml [{method}]: {method} has no option {', '.join(unknown)}")
    defaults = {key: fields[key].get_default(call_default_factory=True) for key in options}
    points = [point for values in product(*options.values())
              if (point := dict(zip(options, values))) != defaults]
    random.Random(zlib.crc32(method.encode())).shuffle(points)
    return [{}, *points[:trials - 1]]


def trial_config(tune: TuneConfig, method: str, trial: dict[str, Any], split_seed: int, seed: int) -> TrainConfig:
    kind, ratio = parse_noise(tune.noise)
    fixed = option_values([*tune.set, *tune.analysis_set])
    return TrainConfig(model=method, dataset=tune.dataset, noise_kind=kind, noise_ratio=ratio, seed=split_seed,
                       train_seed=seed, store=tune.store, progress=False, **fixed, **trial)


def describe(trial: dict[str, Any]) -> str:
    return " ".join(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                    for key, value in trial.items()) or "(defaults)"


def main(tune: TuneConfig) -> int:
    console = Console(stderr=True)
    try:
        spaces = read_spaces(tune.spaces, tune.methods)
        trials = {method: draw_trials(method, spaces[method], tune.trials) for method in tune.methods}
    except (OSError, ValueError, tomllib.TOMLDecodeError) as error:
        console.print(f"[red]error:[/] {error}")
        return 2
    store = Store(tune.store)
    rows = []
    total = len(tune.methods) * tune.trials * len(tune.split_seeds) * len(tune.seeds)
    number = 0
    for method in tune.methods:
        for index, trial in enumerate(trials[method]):
            for split_seed, seed in product(tune.split_seeds, tune.seeds):
                number += 1
                config = trial_config(tune, method, trial, split_seed, seed)
                label = f"[{number}/{total}] {method} trial {index} ({describe(trial)}) split {split_seed} seed {seed}"
                run_id = train_or_read(store, config, label, tune.run, console)
                rows.append({"method": method, "trial": index, "settings": describe(trial), "values": trial,
                             "split_seed": split_seed, "seed": seed, "run_id": run_id})
    frame = pd.DataFrame(rows)
    valid = valid_at_best_epoch(store, [r for r in frame.run_id if r], tune.metric)
    frame["valid"] = frame.run_id.map(valid)
    chosen = choose(frame, tune)
    if tune.write_configs:
        for method, row in chosen.items():
            write_settings_file(tune, method, row, frame[frame.method == method], spaces[method])
    out = report_path(tune)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(tune, frame, chosen, spaces))
    console.print(f"wrote {out}")
    return 0


def choose(frame: pd.DataFrame, tune: TuneConfig) -> dict[str, dict[str, Any]]:
    """Per method, the trial with the best mean validation metric over all its runs (complete trials only)."""
    runs = len(tune.split_seeds) * len(tune.seeds)
    chosen = {}
    for method, part in frame.groupby("method", sort=False):
        stats = part.groupby("trial").agg(mean=("valid", "mean"), std=("valid", "std"), n=("valid", "count"))
        complete = stats[stats.n == runs]
        if complete.empty:
            continue
        best = complete["mean"].idxmax()
        first = part[part.trial == best].iloc[0]
        chosen[method] = {"trial": int(best), "values": first["values"], "settings": first["settings"],
                          "valid": mean_std(part[part.trial == best].valid.tolist()),
                          "defaults_mean": float(stats.loc[0, "mean"]) if 0 in complete.index else None}
    return chosen


def report_path(tune: TuneConfig) -> Path:
    return tune.out or REPORTS_DIR / "tuning" / f"{tune.folder}.md"


def command_line(tune: TuneConfig) -> str:
    return "python -m evals.tune " + " ".join(arg for arg in sys.argv[1:] if arg != "--no-run")


def write_settings_file(tune: TuneConfig, method: str, row: dict[str, Any], part: pd.DataFrame,
                        space: dict[str, Any]) -> Path:
    analysis = set(option_values(tune.analysis_set))
    config = trial_config(tune.model_copy(update={"analysis_set": []}), method, row["values"], tune.split_seeds[0],
                          tune.seeds[0]).for_method()
    trials = "; ".join(f"{settings}: {mean_std(group.valid.dropna().tolist())}"
                       for settings, group in part.groupby("settings", sort=False))
    tuning = {
        "chosen_on": f"{tune.dataset}, {tune.noise} noise, validation {tune.metric} at the best epoch, mean over "
                     f"split seeds {tune.split_seeds} x training seeds {tune.seeds}",
        "search": f"{tune.trials} trials (the defaults, then draws from configs/search_spaces.toml [{method}]: "
                  f"{space.get('source', '')})",
        f"valid_{tune.metric.replace('@', '_at_')}": row["valid"],
        "trials": trials,
        "report": shown(report_path(tune)),
        "command": command_line(tune),
        "protocol": "equal tuning (issue 28): every method of the command had the same number of trials",
    }
    path = tune.configs_dir / tune.folder / f"{method}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {method} on {tune.folder}: settings chosen on validation by python -m evals.tune.\n"
    if analysis:
        tuning["analysis_set"] = " ".join(tune.analysis_set) + " (for the tuning only; not in these settings)"
    path.write_text(header + config_file_text(config, method, tuning, exclude=NOT_IN_SETTINGS_FILE | analysis,
                                              always={"dataset"}))
    return path


def report(tune: TuneConfig, frame: pd.DataFrame, chosen: dict[str, dict[str, Any]],
           spaces: dict[str, dict[str, Any]]) -> str:
    runs = len(tune.split_seeds) * len(tune.seeds)
    lines = [f"# Equal tuning on {tune.folder}", "",
             f"Command: `{command_line(tune)}`. Store: `{tune.store}`.", "",
             (f"{tune.dataset}, {tune.noise} noise. Every method: {tune.trials} trials (trial 0 = the code's defaults, "
              f"the rest drawn from its range in `configs/search_spaces.toml`), each over split seeds "
              f"{tune.split_seeds} x training seeds {tune.seeds} ({runs} runs). Fixed for all: "
              f"`{' '.join(tune.set) or '(none)'}`"
              + (f", and for the tuning only `{' '.join(tune.analysis_set)}`" if tune.analysis_set else "")
              + f". Validation {tune.metric} at each run's best epoch, mean ± std over "
              "the runs; the test split is not read here."), ""]
    rows = []
    unfinished = {method for method, part in frame.groupby("method") if part.valid.isna().any()}
    for (method, trial, settings), part in frame.groupby(["method", "trial", "settings"], sort=False):
        values = part.valid.dropna().tolist()
        mark = (" **chosen**" + (" (of the trials run: the budget is not complete)" if method in unfinished else "")
                if chosen.get(method, {}).get("trial") == trial else "")
        rows.append([method, trial, f"`{settings}`{mark}", mean_std(values) if values else "not run", len(values)])
    lines += markdown_table(["method", "trial", "settings", f"valid {tune.metric}", "runs"], rows)
    lines += ["", "Ranges:", ""] + [f"- {method}: {space.get('source', '')}" for method, space in spaces.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_cli(TuneConfig)
