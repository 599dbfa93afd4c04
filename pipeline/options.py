"""The option groups the methods share; each method's command line is its own groups plus these.

A method lists the groups it reads (:class:`pipeline.registry.Method`), so `python -m recsys.train
<method> --help` shows only those options. The defaults are the full model's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from judge.config import PROMPTS_DIR, HardRule
from recsys.denoising.candidates import CandidateConfig
from recsys.store import DEFAULT_STORE_PATH
from recsys.training.trainer import OptimConfig


class RunOptions(BaseModel):
    """Where a run is recorded, how it shows, and its training seed."""

    train_seed: int | None = Field(
        None, description="Seed of initialisation and sampling (default: --seed). Vary it to repeat training "
        "on one split, reusing its profiles, candidates and verdicts."
    )
    config: Path | None = Field(
        None, description="A settings file (TOML, e.g. configs/ml-100k/dns.toml): its keys are this method's options, "
        "below the command line and the environment; the run records the file.")
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file (created if missing).")
    progress: bool = Field(True, description="Show progress bars.")
    threads: int | None = Field(
        None, gt=0, description="CPU threads for torch (default: the CPUs this process may use, less those other "
        "processes keep busy, at least 1: on a shared CPU, torch's one-thread-per-core default runs 12-17x slower).")
    store_flush_seconds: float = Field(5.0, gt=0, description="Write buffered metrics to the store this often.")

    @property
    def training_seed(self) -> int:
        """Seed of initialisation and sampling: --train-seed, else the split's --seed."""
        return self.train_seed if self.train_seed is not None else self.seed

    def optim_config(self) -> OptimConfig:
        return OptimConfig.model_validate(self.model_dump(include=set(OptimConfig.model_fields)))


class BackboneOptions(BaseModel):
    backbone: Literal["lightgcn", "ngcf"] = Field(
        "lightgcn", description="The graph encoder the method trains.")


class ProfileOptions(BaseModel):
    """What the LLM profiles (one call per user or item) and where its prompts are."""

    max_users: int | None = Field(
        100, gt=0, description="Users profiled by the LLM (the first N by id; unset for all). With the LLM "
        "judge, every user with a judged pair is profiled too. One profile call per user."
    )
    max_items: int | None = Field(
        150, gt=0, description="Items profiled by the LLM (the most popular N); the rest use their own text."
    )
    profiles: Literal["llm", "imported"] = Field(
        "llm", description="llm: profiles written by --lm. imported: the profiles a pre-split dataset shipped with "
        "(RLMRec's usr_prf.pkl / itm_prf.pkl), with no LM call; the judge's user view reads them too.")
    max_history: int = Field(15, gt=0, description="Training items shown per user profile (most recent first).")
    max_takers: int = Field(3, ge=0, description="User profiles shown per item profile.")
    prompts_dir: Path = Field(PROMPTS_DIR, description="Folder of the saved DSPy programs.")


class CandidateOptions(CandidateConfig):
    """Which pairs are judged: the full model's reach (its defaults differ from the bare candidate job's)."""

    judge_users: int | None = Field(
        None, gt=0, description="Users whose pairs are candidates (the first N by id; unset for all)."
    )
    candidate_budget: int | None = Field(
        300, gt=0, description="Pairs judged over all users, the most suspicious first (see the candidates "
        "options; --candidate-share takes precedence; None for --low-positives per user). About 2 verdict calls each."
    )
    low_positives: int = Field(2, ge=0, description="Lowest-scored training positives per judged user.")
    high_negatives: int = Field(1, ge=0, description="Highest-scored non-interacted items per judged user.")


class JudgeOptions(BaseModel):
    """Who decides hard vs noise, and the gate a judge must pass before it edits the graph."""

    judge: Literal["llm", "oracle", "simulated", "random", "score"] = Field(
        "llm", description="llm: verdicts from --lm. oracle: the injected-noise flags (an analysis upper "
        "bound that reads ground truth; never a real result). simulated: a judge of known accuracy "
        "(--judge-accuracy, or --judge-tpr/--judge-tnr) drawn from the same flags (analysis only). "
        "random, score: control judges that read nothing and remove --judge-remove-share of the candidate "
        "positives, at random or the lowest-scored."
    )
    judge_remove_share: float | None = Field(
        None, ge=0, le=1, description="--judge random/score: the share of the candidate positives they remove.")
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
    gate_break_even: float = Field(
        0.8, ge=0, le=1, description="The judge gate: below this balanced accuracy on the dataset's labeled "
        "pairs the judge does not edit the graph (G' = G), where the lab has no break-even for the dataset and "
        "noise setting (see --gate-lab). 0.8: plain BPR on G' paid from 0.77 on ml-100k with 20% random noise "
        "(evals/reports/judge_value_single_split.md)."
    )
    gate_lab: bool = Field(
        True, description="Gate at the break-even accuracy the judge-value lab measured for this dataset and "
        "noise setting (pipeline/break_even.json, written by python -m evals.judge_value) where it has one; "
        "--no-gate-lab always uses --gate-break-even."
    )
    force_edit: bool = Field(False, description="Edit the graph with the judge's decisions even below the gate.")
    allow_partial: bool = Field(
        False, description="Edit the graph even when some candidate pairs lack "
        "an ok verdict from both views (failed or skipped calls); by default it refuses and says how many."
    )

    @model_validator(mode="after")
    def _simulated_judge_has_rates(self):
        if self.judge == "simulated":
            self.judge_rates()
        if self.judge in ("random", "score") and self.judge_remove_share is None:
            raise ValueError(f"--judge {self.judge} needs --judge-remove-share (the share of candidate positives "
                             "it removes)")
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
