"""A sweep's cells: noise settings as the scripts take them, and the cell runner.

Every cell is one `python -m recsys.train` run recorded in the store. :func:`train_or_read` reads a
cell whose config hash already has a finished run back instead of training it again, so a killed sweep
resumes where it stopped; :func:`read_results` reads the stored cells' metrics and timings, and
:func:`lm_work` the LM work their splits hold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from pipeline.config_files import NONE, read_config_file
from pipeline.registry import METHODS, method_settings
from pipeline.train import TrainConfig, run_with_report
from recsys.store import Store
from recsys.store.reports import cell_metrics_and_runs, finished_run_id, lm_work_per_split

# The stored LM work each method's run reads (per split), from the registry: see lm_work.
LLM_METHODS = {name: method.lm_work for name, method in METHODS.items() if method.lm_work}

NOISE_HELP = "Noise settings as kind:ratio (kind random or realistic; ratio 0 is the clean split)."


def parse_noise(value: str) -> tuple[str, float]:
    """``kind:ratio`` (e.g. ``random:0.2``) as (kind, ratio); a ValueError that says how to write it."""
    kind, _, ratio = value.partition(":")
    try:
        number = float(ratio)
    except ValueError:
        number = -1.0
    if kind not in ("random", "realistic") or not 0 <= number < 1:
        raise ValueError(f"noise {value!r}: write kind:ratio with kind random or realistic and 0 <= ratio < 1, "
                         "e.g. random:0.2 or realistic:0.2")
    return kind, number


def check_noise(values: list[str]) -> list[str]:
    """A pydantic validator of a list of noise settings (see :func:`parse_noise`)."""
    for value in values:
        parse_noise(value)
    return values


def noise_label(value: str) -> str:
    kind, ratio = parse_noise(value)
    return "clean 0%" if ratio == 0 else f"{kind} {ratio:.0%}"


def option_values(items: Iterable[str]) -> dict[str, Any]:
    """``key=value`` options (the scripts' --set) as a dict; ``None`` is None, as in a settings file."""
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"option {item!r}: write key=value with a recsys.train option, e.g. epochs=40")
        values[key.strip().replace("-", "_")] = None if value == NONE else value
    return values


def settings_file(configs_dir: Path | None, folder: str, method: str) -> Path | None:
    """``configs_dir/<folder>/<method>.toml`` where it exists (a method without a file runs at its defaults)."""
    if configs_dir is None:
        return None
    path = Path(configs_dir) / Path(folder).name / f"{method}.toml"
    return path if path.exists() else None


def settings_values(path: Path | None, method: str) -> dict[str, Any]:
    """The options of ``method``'s settings file, read and checked as ``recsys.train --config`` reads them."""
    return {} if path is None else read_config_file(path, method_settings(method), method)


def stored_run(store: Store, config: TrainConfig) -> str | None:
    """The run id of ``config``'s latest finished run in the store, or None."""
    return finished_run_id(store, *config.recorded_as())


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


def read_results(store: Store, cells: pd.DataFrame) -> pd.DataFrame:
    """Test metrics, denoising metrics, timings and split of every stored cell (one row per run)."""
    run_ids = [run for run in cells.run_id if run]
    if not run_ids:
        return cells.assign(split_id=None)
    metrics, runs = cell_metrics_and_runs(store, run_ids)
    wide = metrics.pivot(index="run_id", columns="name", values="value").reset_index()
    timings = pd.DataFrame([json.loads(t) if t else {} for t in runs.timings])
    runs = pd.concat([runs.drop(columns="timings"), timings], axis=1)
    return cells.merge(runs, on="run_id", how="left").merge(wide, on="run_id", how="left")


def lm_work(store: Store, split_ids: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """LM calls, tokens and seconds of each kind of stored LM work (the keys of LLM_METHODS' values) per split."""
    return lm_work_per_split(store, split_ids)
