"""`python -m evals.oneoff.bench_scale`: what one benchmark run costs on a larger dataset (default ml-1m).

    python -m evals.oneoff.bench_scale --store store/scale.duckdb      # writes evals/reports/scale_ml-1m.md

Each method trains a few epochs on the larger dataset through the same objectives, models and
stages as `python -m recsys.train`; the measured seconds per epoch times the epochs each method ran
before early stopping in the reference benchmark (ml-100k, read from its store) projects one full
run. The full model also needs its LM stages, which are bounded by --max-users/--max-items and so
cost about what they cost on the reference, plus one BPR pretraining run for its candidates.

Its own timed epochs are not the full model's exactly: without LM profiles for this split, the
texts are the users' histories and the items' titles, and G' = G (no judge edits), which costs the
same per epoch as a G' a few dozen edges away. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.cells import LLM_METHODS, lm_work
from evals.harness.paths import REPORTS_DIR
from evals.harness.tables import markdown_table
from pipeline.methods import build_objective, objective_methods, options_of
from pipeline.methods.llmhni import LLMHNIObjective
from pipeline.stages import Stages
from pipeline.train import TrainConfig
from recsys.cli import run_cli
from recsys.store import Store
from recsys.store.reports import finished_runs_at_noise, max_llmhni_parallel
from recsys.training.sampling import SemanticNegativeSampler
from recsys.training.trainer import build_model, fit

BaselineOptions = options_of(objective_methods())
# The benchmark's model name of each timed method (plain BPR is recorded as the backbone's name).
BENCH_NAMES = {"bpr": "lightgcn", "dns": "dns", "sgl": "sgl", "llmhni": "llmhni"}


class ScaleConfig(BaseSettings):
    """Time a few training epochs of each method on a larger dataset and project one full run."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.bench_scale", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    dataset: str = Field("ml-1m", description="The larger dataset to time.")
    noise_ratio: float = Field(0.1, description="Realistic noise ratio of its split.")
    methods: list[Literal["bpr", "dns", "sgl", "llmhni"]] = Field(
        ["bpr", "dns", "sgl", "llmhni"], description="Methods to time (bpr is LightGCN with uniform negatives).")
    epochs: int = Field(3, gt=0, description="Timed epochs per method (each followed by a validation).")
    store: Path = Field(Path("store/scale.duckdb"), description="Store for the larger dataset's split.")
    reference_store: Path = Field(Path("store/bench.duckdb"),
                                  description="The reference benchmark's store: epochs to stop, LM seconds.")
    reference_dataset: str = Field("ml-100k", description="The reference benchmark's dataset.")
    report: Path = Field(REPORTS_DIR / "scale_ml-1m.md", description="Markdown report to write; the timings go "
                         "beside it as JSON.")
    run: bool = Field(True, description="Time the methods (--no-run rewrites the report from the saved timings).")
    remark: str = Field("", description="A note on the conditions of the measurement, printed in the report.")
    device: Literal["auto", "cpu", "cuda"] = Field("cpu", description="Where the timed methods train.")

    def cli_cmd(self) -> None:
        main(self)


def time_method(method: str, config: ScaleConfig, console: Console) -> dict:
    """Train ``config.epochs`` epochs of ``method``; its seconds per epoch and per evaluation, the
    seconds of its other stages, and the load average around it (other jobs on the CPU)."""
    train = TrainConfig(model=BENCH_NAMES[method], dataset=config.dataset, noise_ratio=config.noise_ratio,
                        store=config.store, epochs=config.epochs, patience=config.epochs + 1, progress=False,
                        device=config.device)
    stages = Stages(train, console)
    data = stages.data()
    optim = train.optim_config()
    torch.manual_seed(train.training_seed)
    model = build_model(data, train.backbone, optim)
    if method == "llmhni":
        programs = stages.programs()
        user_sem, item_sem, neighbours = stages.alignment(data, *stages.embeddings(data, programs))
        sampler = SemanticNegativeSampler(data.train, user_sem, item_sem, neighbours, train.pool_size,
                                          train.hard_keep)
        objective = LLMHNIObjective(data.train, data.train, data.num_users, data.num_items, train, optim.reg, sampler)
    else:
        objective = build_objective(BENCH_NAMES[method], data, BaselineOptions.model_validate(train.model_dump(
            include=set(BaselineOptions.model_fields))), optim.reg, model)
    load_before = os.getloadavg()[0]
    with stages.stage("train"):
        result = fit(model, data, objective, optim, train.training_seed, progress=True, desc=method)
    return {"method": method, "users": data.num_users, "items": data.num_items, "train_edges": data.num_train,
            "epoch_s": result.timings["seconds_per_epoch"], "eval_s": result.timings["seconds_per_eval"],
            "stages_s": {name: s for name, s in stages.report.stage_seconds.items() if name != "train"},
            "load": (load_before, os.getloadavg()[0])}


def reference_runs(config: ScaleConfig) -> dict[str, dict]:
    """Per benchmark model on the reference dataset at this noise ratio: mean epochs run, seconds per
    epoch, and the seconds and calls of the LM work it read (on its split)."""
    store = Store(config.reference_store)
    with store.connect() as con:
        runs = finished_runs_at_noise(con, config.reference_dataset, config.noise_ratio, BENCH_NAMES.values())
        parallel = max_llmhni_parallel(con) or 1
    reference = {}
    for model, split_id, timings in runs:
        t = json.loads(timings)
        reference.setdefault(model, {"epochs": [], "epoch_s": [], "split_id": split_id})
        reference[model]["epochs"].append(t["train_seconds"] / t["seconds_per_epoch"])
        reference[model]["epoch_s"].append(t["seconds_per_epoch"])
    for model, ref in reference.items():
        work = lm_work(store, [ref["split_id"]])[ref["split_id"]]
        kinds = LLM_METHODS.get(model, ())
        ref["lm_calls"] = sum(work[kind]["calls"] for kind in kinds)
        # Wall time: the stored latencies overlap, `parallel` calls were in flight at once.
        ref["lm_s"] = sum(work[kind]["seconds"] for kind in kinds) / parallel
    return reference


def projected_seconds(row: dict, ref: dict) -> float:
    epochs = sum(ref["epochs"]) / len(ref["epochs"])
    return epochs * (row["epoch_s"] + row["eval_s"]) + sum(row["stages_s"].values())


def main(config: ScaleConfig) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    console = Console()
    saved = config.report.with_suffix(".json")
    if config.run:
        rows = []
        for method in config.methods:
            console.rule(f"[bold]{method} on {config.dataset}", align="left")
            rows.append(time_method(method, config, console))
        saved.write_text(json.dumps(rows, indent=1))
    else:
        rows = json.loads(saved.read_text())
    reference = reference_runs(config)
    first = rows[0]
    lines = [
        f"# What one run costs on {config.dataset}",
        "",
        (f"Command: `python -m evals.oneoff.bench_scale --store {config.store} --epochs {config.epochs}`. Machine: "
        f"{os.cpu_count()} cores, {platform.machine()}, torch {torch.__version__} (CPU, {torch.get_num_threads()} "
        f"threads), no GPU. {config.dataset}: {first['users']} users, {first['items']} items, "
        f"{first['train_edges']} training edges with {config.noise_ratio:.0%} realistic noise; LightGCN d=64, "
        f"3 layers, batch 4096, the defaults of `python -m recsys.train`."),
        "",
        (f"Each method trained {config.epochs} epochs here. 'Projected' multiplies its seconds per epoch (plus one "
        f"validation) by the epochs it ran before early stopping on {config.reference_dataset} at the same "
        f"noise (mean over the seeds in `{config.reference_store}`) and adds its measured stages. That is an "
        "estimate: a larger dataset may stop after a different number of epochs. 'load' is the 1-minute load "
        "average before and after the timed epochs; above 2 other jobs shared the 2 cores and the seconds are "
        "inflated by up to that factor."),
    ]
    rows_out = []
    projections = {}
    for row in rows:
        ref = reference.get(BENCH_NAMES[row["method"]])
        stages = ", ".join(f"{name} {s:.0f}" for name, s in row["stages_s"].items()) or "–"
        if ref:
            projections[row["method"]] = projected_seconds(row, ref)
            ref_cells = [f"{sum(ref['epochs']) / len(ref['epochs']):.0f}",
                         f"{sum(ref['epoch_s']) / len(ref['epoch_s']):.2f}", f"{projections[row['method']]:.0f}"]
        else:
            ref_cells = ["–", "–", "–"]
        rows_out.append([row["method"], f"{row['epoch_s']:.2f}", f"{row['eval_s']:.2f}", stages,
                         f"{row['load'][0]:.1f} → {row['load'][1]:.1f}", *ref_cells])
    lines += ["", *markdown_table(
        ["method", "s / epoch", "s / eval", "other stages (s)", "load", f"{config.reference_dataset} epochs",
         f"{config.reference_dataset} s / epoch", "projected s / run"], rows_out, "lrrllrrr")]
    # The full model also pays one BPR pretraining run (for its candidates) and its LM stages.
    full_model_extra = (projections["bpr"] + reference["llmhni"]["lm_s"]
                        if "llmhni" in projections and "bpr" in projections else None)
    if full_model_extra is not None:
        ref = reference["llmhni"]
        lines += [
            "",
            (f"The full model's run adds a BPR pretraining run for its candidates (projected "
             f"{projections['bpr']:.0f} s, the bpr row) and its LM stages: {ref['lm_calls']} calls took "
             f"{ref['lm_s']:.0f} s (wall) on {config.reference_dataset} with the embedded SmolLM2-135M, and the "
             f"same --max-users/--max-items bound the count here. One full-model run on {config.dataset}: about "
             f"{(projections['llmhni'] + full_model_extra) / 3600:.1f} h on this machine."),
        ]
    if projections:
        total = sum(projections.values()) + (full_model_extra or 0)
        lines += ["", (f"The {len(projections)} methods, one seed each: about {total / 3600:.1f} h of projected "
                       f"time ({', '.join(projections)}).")]
    config.report.write_text("\n".join(lines) + "\n")
    console.print(f"wrote {config.report}")


if __name__ == "__main__":
    run_cli(ScaleConfig)
