"""`python -m recsys.train`: the full LLMHNI model end to end, or a backbone or floor alone.

With no arguments it runs every stage of :mod:`recsys.pipeline` on ml-100k with 10% realistic noise
and the embedded LM, reusing whatever the store already holds. Every option is a field of
:class:`TrainConfig`; `--help` lists them with their defaults, and each can also come from an
environment variable ``RECSYS_<FIELD>``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from judge.config import PROMPTS_DIR, HardRule, LMConfig, RunnerConfig, VerdictModeConfig
from judge.embeddings import EncoderConfig
from recsys.baselines import PopularityRanking, RandomRanking
from recsys.candidates import CandidateConfig
from recsys.cli import run_cli
from recsys.datasets import DataValidationError
from recsys.hnlmrec import HNLMRecConfig
from recsys.llmhd import LLMHDConfig
from recsys.llmhni import LLMHNIConfig
from recsys.objectives import BaselineConfig
from recsys.pipeline import (
    BudgetExhausted,
    PipelineReport,
    confusion_table,
    run_baseline,
    run_edited_backbone,
    run_hnlmrec,
    run_llmhd,
    run_llmhni,
    stage_table,
)
from recsys.runs import record_training
from recsys.semantic import AlignmentConfig
from recsys.split import DataConfig, load_split, make_split, split_summary
from recsys.store import DEFAULT_STORE_PATH, Store, StoreLockedError, discard_if_empty
from recsys.trainer import OptimConfig, TrainResult, evaluate_fixed, train_bpr

BASELINES = ("dns", "tce", "rce", "sgl", "simgcl", "rlmrec_con")
LLM_BASELINES = ("llmhd", "hnlmrec")
MODELS = ("llmhni", "lightgcn", "ngcf", *BASELINES, *LLM_BASELINES, "popularity", "random")


class TrainConfig(BaseSettings, LLMHNIConfig, LLMHDConfig, HNLMRecConfig, BaselineConfig, AlignmentConfig, CandidateConfig, EncoderConfig, LMConfig,
                  RunnerConfig, VerdictModeConfig, OptimConfig, DataConfig):
    """Train and evaluate a recommender on a noisy split (default: the full LLMHNI model on ml-100k
    with 10% realistic noise and the embedded LM).

    llmhni runs every stage (profiles, embeddings, alignment, pretrain + candidates, verdicts, graph
    edit, training), reusing what the store holds. The --no-* switches give the ablations, and
    --judge oracle gives the analysis upper bound. lightgcn/ngcf train a backbone alone with BPR;
    dns, tce, rce, sgl, simgcl and rlmrec_con are baselines on --backbone, and llmhd and hnlmrec
    the LLM baselines (their LM work is stored and resumed like the judge's); popularity/random are
    untrained floors. Every run is recorded in the DuckDB store.
    """

    model_config = SettingsConfigDict(
        cli_prog_name="python -m recsys.train",
        cli_kebab_case=True,
        cli_implicit_flags=True,
        cli_avoid_json=True,
        env_prefix="RECSYS_",
    )

    model: Literal[MODELS] = Field(
        "llmhni", description="llmhni: the full pipeline; lightgcn/ngcf: a backbone alone with BPR; "
        "dns: dynamic hard negatives; tce/rce: ADT's truncated/reweighted loss; sgl/simgcl: graph "
        "contrastive learning; rlmrec_con: alignment to LLM profile embeddings; llmhd: an LLM scorer of "
        "variance-pruned positives over T-CE; hnlmrec: LLM-generated negatives mapped to real items; "
        "popularity/random: floors."
    )
    backbone: Literal["lightgcn", "ngcf"] = Field(
        "lightgcn", description="The graph encoder of the full model and of the baselines.")
    train_seed: int | None = Field(
        None, description="Seed of initialisation and sampling (default: --seed). Vary it to repeat training "
        "on one split, reusing its profiles, candidates and verdicts."
    )
    judge: Literal["llm", "oracle", "simulated"] = Field(
        "llm", description="llm: verdicts from --lm. oracle: the injected-noise flags (an analysis upper "
        "bound that reads ground truth; never a real result). simulated: a judge of known accuracy "
        "(--judge-accuracy, or --judge-tpr/--judge-tnr) drawn from the same flags (analysis only)."
    )
    judge_accuracy: float | None = Field(
        None, ge=0, le=1, description="--judge simulated: the chance of a right decision on each candidate "
        "positive (both rates below; 1 is the oracle)."
    )
    judge_tpr: float | None = Field(
        None, ge=0, le=1, description="--judge simulated: chance an injected positive is judged noise "
        "(noise caught; default --judge-accuracy)."
    )
    judge_tnr: float | None = Field(
        None, ge=0, le=1, description="--judge simulated: chance a clean positive is judged hard "
        "(clean kept; default --judge-accuracy)."
    )
    judge_seed: int | None = Field(None, description="Seed of the simulated judge's draws (default: the training seed).")
    judge_rule: HardRule = Field("both_high", description="How the two views' labels make a pair hard.")
    max_users: int | None = Field(
        100, gt=0, description="Users profiled by the LLM (the first N by id; unset for all). With the LLM "
        "judge, every user with a judged pair is profiled too. One profile call per user."
    )
    judge_users: int | None = Field(
        None, gt=0, description="Users whose pairs are candidates (the first N by id; unset for all)."
    )
    candidate_budget: int | None = Field(
        300, gt=0, description="Pairs judged over all users, the most suspicious first (see the candidates "
        "options; --candidate-share takes precedence; None for --low-positives per user). About 2 verdict calls each."
    )
    gate_break_even: float = Field(
        0.8, ge=0, le=1, description="The judge gate: below this balanced accuracy on the dataset's labeled "
        "pairs the judge does not edit the graph (G' = G). 0.8 was measured on ml-100k with 20% random noise "
        "(evals/judge_value.md)."
    )
    force_edit: bool = Field(False, description="Edit the graph with the judge's decisions even below the gate.")
    edit_graph: bool = Field(
        False, description="lightgcn/ngcf: train BPR on the judge-edited graph G' (--judge, the candidates "
        "options and the gate as for llmhni) instead of G."
    )
    max_items: int | None = Field(
        150, gt=0, description="Items profiled by the LLM (the most popular N); the rest use their own text."
    )
    profiles: Literal["llm", "imported"] = Field(
        "llm", description="llm: profiles written by --lm. imported: the profiles a pre-split dataset shipped with "
        "(RLMRec's usr_prf.pkl / itm_prf.pkl), with no LM call; the judge's user view reads them too.")
    max_history: int = Field(15, gt=0, description="Training items shown per user profile (most recent first).")
    max_takers: int = Field(3, ge=0, description="User profiles shown per item profile.")
    low_positives: int = Field(2, ge=0, description="Lowest-scored training positives per judged user.")
    high_negatives: int = Field(1, ge=0, description="Highest-scored non-interacted items per judged user.")
    prompts_dir: Path = Field(PROMPTS_DIR, description="Folder of the saved DSPy programs.")
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file (created if missing).")
    progress: bool = Field(True, description="Show progress bars.")
    store_flush_seconds: float = Field(5.0, gt=0, description="Write buffered metrics to the store this often.")

    @model_validator(mode="after")
    def _simulated_judge_has_rates(self) -> "TrainConfig":
        if self.judge == "simulated":
            self.judge_rates()
        return self

    def judge_rates(self) -> tuple[float, float]:
        """(tpr, tnr) of the simulated judge: noise caught, clean kept."""
        if self.judge == "oracle":
            return 1.0, 1.0
        tpr = self.judge_tpr if self.judge_tpr is not None else self.judge_accuracy
        tnr = self.judge_tnr if self.judge_tnr is not None else self.judge_accuracy
        if tpr is None or tnr is None:
            raise ValueError("--judge simulated needs --judge-accuracy (or both --judge-tpr and --judge-tnr)")
        return tpr, tnr

    @property
    def simulated_seed(self) -> int:
        return self.judge_seed if self.judge_seed is not None else self.training_seed

    @property
    def training_seed(self) -> int:
        """Seed of initialisation and sampling: --train-seed, else the split's --seed."""
        return self.train_seed if self.train_seed is not None else self.seed

    def optim_config(self) -> OptimConfig:
        return OptimConfig.model_validate(self.model_dump(include=set(OptimConfig.model_fields)))

    def cli_cmd(self) -> None:
        sys.exit(main(self))


# Fields that change how a run looks or how fast it goes, not what it computes.
NON_RESULT_FIELDS = {"store", "progress", "store_flush_seconds", "parallel", "retries", "backoff_s",
                     "retry_failed", "embedded_threads", "embedded_slots", "prompts_dir", "encoder_batch_size"}


def run(config: TrainConfig, console: Console | None = None) -> tuple[str, TrainResult]:
    """Train and evaluate as configured; return the run id and its result."""
    run_id, result, _ = run_with_report(config, console)
    return run_id, result


def run_with_report(config: TrainConfig, console: Console | None = None
                    ) -> tuple[str, TrainResult, PipelineReport | None]:
    console = console or Console(stderr=True)
    if config.model == "llmhni":
        return run_llmhni(config, console, NON_RESULT_FIELDS)
    if config.model in BASELINES:
        return run_baseline(config, console, NON_RESULT_FIELDS)
    if config.model == "llmhd":
        return run_llmhd(config, console, NON_RESULT_FIELDS)
    if config.model == "hnlmrec":
        return run_hnlmrec(config, console, NON_RESULT_FIELDS)
    if config.edit_graph and config.model in ("lightgcn", "ngcf"):
        return run_edited_backbone(config, console, NON_RESULT_FIELDS)
    store = Store(config.store)
    with console.status("Preparing the dataset and split...", spinner="dots"):
        split_id = make_split(store, config.data_config(), report=lambda message: console.print(
            f"[yellow]data:[/] {escape(message)}", soft_wrap=True))
    summary = split_summary(store, split_id)
    dropped = ("given split, no user dropped" if "|given" in split_id else
               f"{summary['n_users_dropped']} dropped (< {config.min_user_interactions} positives)")
    console.print(
        f"[bold]{escape(split_id)}[/]: {summary['n_users_kept']} users kept, {dropped}; train "
        f"{summary['n_train_clean']} clean + {summary['n_train_noise']} injected, valid {summary['n_valid']}, "
        f"test {summary['n_test']}."
    )
    data = load_split(store, split_id)
    seed = config.training_seed

    def train(on_epoch) -> TrainResult:
        if config.model in ("popularity", "random"):
            score = (PopularityRanking(data.train, data.num_items) if config.model == "popularity"
                     else RandomRanking(data.num_items, seed))
            valid, test = evaluate_fixed(data, score, config.ks, config.eval_batch_size)
            return TrainResult(0, valid, test, 0)
        return train_bpr(data, config.model, config.optim_config(), seed, on_epoch, config.progress)

    run_id, result = record_training(store, split_id, config.model, config, train,
                                     hash_exclude=NON_RESULT_FIELDS, flush_seconds=config.store_flush_seconds)
    return run_id, result, None


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
    new_store = not Path(config.store).exists()
    try:
        run_id, result, report = run_with_report(config, console)
    except (DataValidationError, StoreLockedError, BudgetExhausted) as error:
        console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
        if new_store and isinstance(error, DataValidationError):
            discard_if_empty(config.store)  # a failed first command leaves no store file behind
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the run is marked 'interrupted' in the store; "
                      "every stage's stored work is kept, so a re-run resumes.")
        return 130
    out = Console() if sys.stdout.isatty() else Console(width=160)  # tables are unreadable at 80 columns
    if report is not None:
        if "judge" in report.notes:
            console.print(f"[yellow]{report.notes['judge']}[/]")
        if report.confusion is not None:
            out.print(confusion_table(report.confusion, config.judge))
        out.print(stage_table(report))
    title = f"{config.model} on {config.dataset}, {config.noise_ratio:.0%} {config.noise_kind} noise"
    if result.epochs_run:
        title += f": best valid epoch {result.best_epoch} of {result.epochs_run}"
    out.print(metrics_table(title, result))
    timings = ", ".join(f"{key} {value:.3f}" for key, value in result.timings.items() if not key.startswith("stage_"))
    console.print(f"run {run_id} recorded in {config.store} ({timings})")
    return 0


if __name__ == "__main__":
    run_cli(TrainConfig)
