"""Plain BPR on the judge-edited graph G': the full model's candidates, judge and gate, nothing else of it.

It isolates what the graph edit alone buys (evals/reports/judge_value.md's lightgcn_edited rows).
"""

from __future__ import annotations

import torch

from judge.config import LMConfig, RunnerConfig, VerdictModeConfig
from pipeline.options import BackboneOptions, CandidateOptions, JudgeOptions, ProfileOptions, RunOptions
from pipeline.registry import Method, register
from pipeline.stages import Stages
from recsys.data.split import DataConfig
from recsys.models.graph import normalized_adjacency
from recsys.training.sampling import UniformNegativeSampler
from recsys.training.trainer import BPRObjective, OptimConfig, build_model


def run(config, console) -> tuple:
    """Plain BPR (a lightgcn/ngcf backbone, uniform negatives) on the judge-edited graph G': the
    candidates, the judge's decisions and the gate exactly as the full model's, nothing else of it."""
    stages = Stages(config, console)
    data = stages.data()
    programs = stages.programs() if config.judge == "llm" else None
    edits = stages.judge_may_edit(data, programs, lab_curve="bpr_on_g_prime")
    candidate_set = stages.candidates(data) if edits else None
    if edits and config.judge == "llm":
        stages.profiles(data.split_id, programs, kinds=("user",), judged_users=stages.judged_users(candidate_set))
        stages.verdicts(candidate_set, programs)
    g_prime = stages.graph_edit(data, candidate_set, programs, lab_curve="bpr_on_g_prime")
    optim = config.optim_config()
    torch.manual_seed(config.training_seed)
    model = build_model(data, config.backbone, optim)
    objective = BPRObjective(g_prime, normalized_adjacency(g_prime, data.num_users, data.num_items),
                             UniformNegativeSampler(torch.cat([data.train, g_prime], dim=1), data.num_items), optim.reg)
    run_id, result = stages.fit("bpr_edited", data, model, objective)
    return run_id, result, stages.report


METHOD = register(Method(
    "bpr_edited", "--backbone with BPR on the judge-edited graph G' (the full model's --judge, candidates and gate).",
    (JudgeOptions, ProfileOptions, CandidateOptions, BackboneOptions, RunOptions, LMConfig, RunnerConfig,
     VerdictModeConfig, OptimConfig,
     DataConfig),
    ("data", "pretrain + candidates", "profiles", "verdicts", "graph edit", "train"), run, uses_lm=True))
