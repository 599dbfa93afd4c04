"""LLMHD (Hard samples vs. noise with an LLM scorer, docs/design.md's related methods) as a training method.

The LM work (:mod:`judge.baseline_jobs`) scores the variance-pruned low-score positives 1-10 against
the user's summarized preference. Here the scores become decisions and the training objective:

* a candidate scored at least ``llmhd_keep_score`` is a hard sample: it stays in the graph and the
  loss-based denoiser (T-CE, the baseline LLMHD is built on) may never truncate it;
* a candidate scored below is noise and leaves the training graph;
* every other edge trains under T-CE's schedule as in the ``tce`` baseline.
"""

from __future__ import annotations

import pandas as pd
import torch

from judge.config import LLMHDConfig, LMConfig, RunnerConfig
from pipeline.methods.tce import TCEConfig, TCEObjective
from pipeline.options import BackboneOptions, CandidateOptions, ProfileOptions, RunOptions
from pipeline.registry import Method, register
from pipeline.stages import Stages
from recsys.data.split import DataConfig, SplitData
from recsys.denoising.decisions import DECISION_COLUMNS, augmented_graph, decision_edges
from recsys.models.graph import edge_keys, normalized_adjacency
from recsys.training.sampling import UniformNegativeSampler
from recsys.training.trainer import OptimConfig, build_model


def llmhd_decisions(scores: dict[tuple[int, int], float], keep_score: int) -> pd.DataFrame:
    """One row per scored candidate positive: hard when its score is at least ``keep_score``."""
    rows = [(u, i, "low_score_positive", "hard" if score >= keep_score else "noise")
            for (u, i), score in sorted(scores.items())]
    return pd.DataFrame(rows, columns=DECISION_COLUMNS)


def llmhd_objective(data: SplitData, decisions: pd.DataFrame, config: TCEConfig, reg: float
                    ) -> tuple[TCEObjective, dict[str, int]]:
    """T-CE on G minus the LLM's noise, with its hard samples protected from truncation; negatives are
    drawn against the original G (an edge judged noise is still an interaction, not a negative)."""
    edges, counts = augmented_graph(data, decisions)
    hard = decisions[decisions.decision == "hard"]
    protected = torch.isin(edge_keys(edges, data.num_items), edge_keys(decision_edges(hard), data.num_items))
    objective = TCEObjective(edges, normalized_adjacency(edges, data.num_users, data.num_items),
                             UniformNegativeSampler(data.train, data.num_items), reg, data.num_items,
                             config.tce_max_drop_rate, config.tce_num_gradual, protected=protected,
                             ramp_epochs=config.tce_ramp_epochs)
    return objective, counts | {"edges_protected": int(protected.sum())}


def score_candidates(stages, candidate_set: str, programs) -> dict[tuple[int, int], float]:
    from judge.baseline_jobs import llmhd_hash, llmhd_scores, run_llmhd
    from judge.lm import lm_identity

    config = stages.config
    with stages.stage("llmhd scoring"):
        stats = run_llmhd(stages.store, candidate_set, programs["llmhd_score"], programs["llmhd_update"],
                          programs["profile_user"].prompt_hash, config, config,
                          config,
                          config.seed, lm_setup=stages.lm_setup)
        stages.raise_if_stopped(stats, "llmhd scoring")
        scores = llmhd_scores(stages.store, candidate_set, lm_identity(config), llmhd_hash(
            programs["llmhd_score"], programs["llmhd_update"], programs["profile_user"].prompt_hash))
        stages.report.metrics["llm"] = {"lm_calls_new": sum(s.lm_calls for s in stats), "scored_pairs": len(scores)}
        stages.note("llmhd scoring", f"{len(scores)} candidates scored, {sum(s.n_ok for s in stats)} new ok, "
                                   f"{sum(s.n_failed for s in stats)} failed, {sum(s.lm_calls for s in stats)} "
                                   f"LM calls over {config.llmhd_rounds} update round(s)")
        return scores


def run(config, console) -> tuple:
    """LLMHD: variance-pruned low-score positives, scored by the LM against the (updated) preference
    summary; the noise leaves G and T-CE never truncates the hard ones ."""
    stages = Stages(config, console)
    data = stages.data()
    programs = stages.programs(("profile_user", "llmhd_score", "llmhd_update"))
    stages.profiles(data.split_id, programs, kinds=("user",))
    # LLMHD keeps its reach: the first --max-users users, --low-positives each.
    candidate_set = stages.candidates(data, prune_by_variance=True, high_negatives=0, max_users=config.max_users,
                                      candidate_budget=None, candidate_share=None)
    scores = score_candidates(stages, candidate_set, programs)
    with stages.stage("graph edit"):
        decisions = llmhd_decisions(scores, config.llmhd_keep_score)
        objective, counts = llmhd_objective(data, decisions, config, config.optim_config().reg)
        stages.record_confusion(data, candidate_set, decisions, counts)
        stages.note("graph edit", f"removed {counts['edges_removed']} edges judged noise; "
                                  f"{counts['edges_protected']} judged hard are never truncated")
    torch.manual_seed(config.training_seed)
    model = build_model(data, config.backbone, config.optim_config())
    run_id, result = stages.fit("llmhd", data, model, objective)
    return run_id, result, stages.report


METHOD = register(Method(
    "llmhd", "an LLM scorer of variance-pruned low-score positives over T-CE: noise leaves G, hard samples are "
    "never truncated.",
    (LLMHDConfig, TCEConfig, ProfileOptions, CandidateOptions, BackboneOptions, RunOptions, LMConfig, RunnerConfig,
     OptimConfig, DataConfig),
    ("data", "profiles", "pretrain + candidates", "llmhd scoring", "graph edit", "train"), run, uses_lm=True, lm_work=("user profiles", "llmhd scores and updates")))
