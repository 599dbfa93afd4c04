"""HNLMRec-style semantic negatives (docs/design.md's related methods) as a training method.

The LM (:func:`judge.baseline_jobs.run_contrast_negatives`) writes, per user, a short description of
an item they would *not* like although it resembles their history. Here the description is embedded
with the same encoder as the items' own texts and mapped through FAISS to its nearest real items
that the user has no training edge with; those are the user's hard negatives, mixed into BPR.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel, Field

from judge.config import LMConfig, RunnerConfig
from judge.embeddings import Encoder, EncoderConfig
from pipeline.options import BackboneOptions, ProfileOptions, RunOptions
from pipeline.registry import Method, register
from pipeline.stages import Stages
from recsys.data.split import DataConfig, SplitData
from recsys.denoising.semantic import SemanticIndex, cached_encode, entity_texts
from recsys.models.graph import edge_keys, normalized_adjacency
from recsys.training.sampling import MixedNegativeSampler, UniformNegativeSampler
from recsys.training.trainer import BPRObjective, OptimConfig, build_model


class HNLMRecConfig(BaseModel):
    """How many real items each generated negative maps to, and how often BPR uses them."""

    hnlmrec_negatives: int = Field(10, gt=0, description="HNLMRec: nearest real items per generated negative "
                                   "(excluding the user's training items) used as hard negatives.")
    hnlmrec_share: float = Field(0.2, ge=0, le=1, description="HNLMRec: share of BPR negatives drawn from a user's "
                                 "mapped items (as LLMHNI's semantic_share); users without one get uniform negatives.")


def _normalized(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def map_to_items(description_vecs: dict[int, np.ndarray], item_vecs: np.ndarray, train: torch.Tensor,
                 num_users: int, k: int) -> torch.Tensor:
    """[U, k] each user's ``k`` nearest real items to their generated negative (cosine, FAISS), skipping
    the user's training items; -1 pads users without a description (or with too few items left)."""
    hard = torch.full((num_users, k), -1, dtype=torch.long)
    if not description_vecs:
        return hard
    users = sorted(description_vecs)
    observed: dict[int, set[int]] = {}
    for u, i in train.T.tolist():
        observed.setdefault(u, set()).add(i)
    reach = min(len(item_vecs), k + max(len(observed.get(u, ())) for u in users))
    _, nearest = SemanticIndex(_normalized(item_vecs)).search(
        _normalized(np.stack([description_vecs[u] for u in users])), reach)
    for row, u in enumerate(users):
        kept = [i for i in nearest[row].tolist() if i >= 0 and i not in observed.get(u, ())][:k]
        hard[u, : len(kept)] = torch.as_tensor(kept, dtype=torch.long)
    return hard


def negative_stats(hard: torch.Tensor, data: SplitData) -> dict[str, float]:
    """How many negatives were mapped, and the share that are the user's held-out (valid/test) positives."""
    found = hard >= 0
    mapped = hard[found]
    users = torch.arange(data.num_users)[:, None].expand_as(hard)[found]
    held_out = edge_keys(torch.cat([data.valid, data.test], dim=1), data.num_items)
    in_held_out = torch.isin(users * data.num_items + mapped, held_out)
    return {"users_with_negatives": int(found.any(1).sum()), "mapped_negatives": int(mapped.numel()),
            "distinct_items": int(mapped.unique().numel()),
            "heldout_positive_share": float(in_held_out.sum() / max(mapped.numel(), 1))}


class FixedHardNegativeSampler:
    """Draws uniformly from each user's fixed hard negatives ([U, k], -1 padded); -1 for users without any."""

    def __init__(self, hard: torch.Tensor):
        self.hard = hard
        self.counts = (hard >= 0).sum(1)

    def refresh(self, user_emb: torch.Tensor, item_emb: torch.Tensor) -> None:
        """The negatives do not depend on the model."""

    def sample(self, users: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # a user without negatives draws column 0, which is padding (-1)
        column = (torch.rand(users.shape, generator=generator, device=users.device) * self.counts[users]).long()
        return self.hard[users, column]


def generated_negatives(stages, data: SplitData, program) -> torch.Tensor:
    """[U, k] the real items nearest to each user's generated negative (-1 padded)."""
    from judge.baseline_jobs import contrast_negative_texts, run_contrast_negatives
    from judge.lm import lm_identity

    config = stages.config
    with stages.stage("generated negatives"):
        stats = run_contrast_negatives(stages.store, data.split_id, program, config, config, config.max_users,
                                       config.max_history, config.seed, lm_setup=stages.lm_setup)
        stages.raise_if_stopped([stats], "generated negatives")
        texts = contrast_negative_texts(stages.store, data.split_id, lm_identity(config), program.prompt_hash)
        stages.note("generated negatives", f"{len(texts)} users with a description ({stats.n_ok} new ok, "
                                         f"{stats.n_failed} failed, {stats.lm_calls} LM calls)")
    with stages.stage("negative mapping"):
        encoder = Encoder(config)
        items_text = entity_texts(stages.store, data.split_id)[1]
        users = sorted(texts)
        item_vecs = cached_encode(stages.store, encoder, items_text)
        description_vecs = cached_encode(stages.store, encoder, [texts[u] for u in users]) if users else []
        hard = map_to_items(dict(zip(users, description_vecs)), item_vecs, data.train, data.num_users,
                            config.hnlmrec_negatives)
        stats = stages.report.metrics["negatives"] = negative_stats(hard, data)
        stages.note("negative mapping", f"{encoder.identity} + FAISS: {stats['mapped_negatives']} negatives "
                  f"({stats['distinct_items']} distinct items) for {stats['users_with_negatives']} users; "
                  f"{stats['heldout_positive_share']:.1%} are held-out positives")
        return hard


def run(config, console) -> tuple:
    """HNLMRec-style negatives: each user's generated negative, mapped to real items, mixed into BPR."""
    stages = Stages(config, console)
    data = stages.data()
    program = stages.programs(("contrast_negative",))["contrast_negative"]
    hard = generated_negatives(stages, data, program)
    torch.manual_seed(config.training_seed)
    model = build_model(data, config.backbone, config.optim_config())
    sampler = MixedNegativeSampler(UniformNegativeSampler(data.train, data.num_items),
                                   FixedHardNegativeSampler(hard), config.hnlmrec_share)
    objective = BPRObjective(data.train, normalized_adjacency(data.train, data.num_users, data.num_items), sampler,
                             config.optim_config().reg)
    run_id, result = stages.fit("hnlmrec", data, model, objective)
    return run_id, result, stages.report


METHOD = register(Method(
    "hnlmrec", "LLM-generated negatives mapped to real items through FAISS, mixed into BPR's negatives.",
    (HNLMRecConfig, ProfileOptions, BackboneOptions, RunOptions, EncoderConfig, LMConfig, RunnerConfig, OptimConfig,
     DataConfig),
    ("data", "generated negatives", "negative mapping", "train"), run, uses_lm=True, lm_work=("generated negatives",)))
