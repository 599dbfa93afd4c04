"""Candidate pairs for the judge, from a backbone trained on the noisy data.

For each user: the lowest-scored training positives (possibly noise, possibly hard positives) and
the highest-scored items without a training edge (hard negatives or false negatives), plus the
highest-scored training positives, which the item-view judge reads as the user's history.
Only training edges and model scores are used: validation and test labels never choose a pair.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import torch
from pydantic import BaseModel, Field

from recsys.data.split import DataConfig, SplitData
from recsys.store import Store
from recsys.store.candidates import (
    candidate_set_exists,
    insert_candidate_rows,
    insert_candidate_set,
    top_positive_items,
)
from recsys.training.runs import config_hash, record_training
from recsys.training.trainer import OptimConfig, TrainResult, train_bpr


class CandidateConfig(BaseModel):
    """How many pairs per user go to the judge."""

    low_positives: int = Field(2, ge=0, description="Lowest-scored training positives per user.")
    high_negatives: int = Field(2, ge=0, description="Highest-scored non-interacted items per user.")
    top_positives: int = Field(5, ge=1, description="Highest-scored training positives shown to the item view.")
    max_users: int | None = Field(None, gt=0, description="Only the first N users (by id), to bound LLM work.")
    candidate_share: float | None = Field(
        None, gt=0, le=1, description="Instead of low_positives per user: this share of each user's training "
        "positives (rounded up), lowest-scored first; 1 judges every positive. Takes precedence over the budget."
    )
    candidate_budget: int | None = Field(
        None, gt=0, description="Instead of per-user counts: this many pairs over all users, the most suspicious "
        "first (split between the kinds as low_positives : high_negatives). Pairs are ranked by their score's "
        "z-score among the user's scores over all items (lowest for positives, highest for negatives), or by "
        "score variance with prune_by_variance."
    )
    prune_by_variance: bool = Field(
        False, description="LLMHD's pruning: of prune_pool_factor x the counts above, keep the pairs whose score "
        "varied most over the last variance_window pretraining epochs (hard samples fluctuate; fewer LLM calls)."
    )
    prune_pool_factor: int = Field(3, ge=1, description="Pool size, as a multiple of the counts, that pruning ranks.")
    variance_window: int = Field(10, ge=2, description="Pretraining epochs whose scores the variance is taken over.")


class ScoreSnapshots:
    """The (user, item) embeddings of the last ``window`` epochs, for LLMHD's score variance.

    Pass it as ``after_epoch`` to :func:`recsys.training.trainer.fit`."""

    def __init__(self, window: int):
        self.embeddings: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=window)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module, adj: torch.Tensor) -> None:
        # a CPU copy whatever the training device (per epoch, not per batch)
        self.embeddings.append(tuple(e.detach().to("cpu", copy=True) for e in model.user_item_embeddings(adj)))

    def variance(self, user: int, items: torch.Tensor) -> torch.Tensor:
        """Variance of s(user, i) across the stored epochs, per item."""
        scores = torch.stack([item_emb[items] @ user_emb[user] for user_emb, item_emb in self.embeddings])
        return scores.var(dim=0)


def budget_split(config: CandidateConfig) -> tuple[int, int]:
    """The global budget's (low-score positives, high-score negatives), as low_positives : high_negatives."""
    budget, low, high = config.candidate_budget, config.low_positives, config.high_negatives
    if low + high == 0:
        return 0, 0
    n_low = int(budget * low / (low + high) + 0.5)
    return n_low, budget - n_low


def select_candidates(data: SplitData, user_emb: torch.Tensor, item_emb: torch.Tensor,
                      config: CandidateConfig, snapshots: ScoreSnapshots | None = None,
                      ) -> list[tuple[int, int, str, float, int]]:
    """Rows (user, item, kind, score, rank) for every user with training edges (the first
    ``max_users``), by per-user counts, a share of each user's positives, or a global budget.

    With ``config.prune_by_variance`` (and ``snapshots`` from pretraining), each kind's pool of
    ``prune_pool_factor`` times its count is cut to the pairs with the highest score variance."""
    pruning = config.prune_by_variance
    if pruning and (snapshots is None or len(snapshots.embeddings) < 2):
        raise ValueError("prune_by_variance needs score snapshots of at least two pretraining epochs")
    if config.candidate_budget is not None and config.candidate_share is None:
        return _select_by_budget(data, user_emb, item_emb, config, snapshots)
    factor = config.prune_pool_factor if pruning else 1

    def prune(user: int, pool: torch.Tensor, count: int) -> torch.Tensor:
        if not pruning or pool.numel() <= count:
            return pool[:count]
        keep = snapshots.variance(user, pool).topk(count).indices.sort().values  # keep the score order
        return pool[keep]

    users = torch.unique(data.train[0])
    if config.max_users is not None:
        users = users[: config.max_users]
    rows: list[tuple[int, int, str, float, int]] = []
    order = torch.argsort(data.train[0], stable=True)
    train_users, train_items = data.train[0][order], data.train[1][order]
    starts = torch.searchsorted(train_users, users)
    ends = torch.searchsorted(train_users, users, right=True)
    for user, start, end in zip(users.tolist(), starts.tolist(), ends.tolist()):
        scores = item_emb @ user_emb[user]
        positives = train_items[start:end]
        positive_scores = scores[positives]
        ranked = positives[torch.argsort(positive_scores)]  # ascending
        count = (config.low_positives if config.candidate_share is None
                 else math.ceil(config.candidate_share * positives.numel() - 1e-9))
        low = prune(user, ranked[: count * factor], count)
        for rank, item in enumerate(low.tolist()):
            rows.append((user, item, "low_score_positive", float(scores[item]), rank))
        for rank, item in enumerate(ranked.flip(0)[: config.top_positives].tolist()):
            rows.append((user, item, "top_positive", float(scores[item]), rank))
        masked = scores.clone()
        masked[positives] = float("-inf")
        top = torch.topk(masked, min(config.high_negatives * factor, masked.numel())).indices
        top = prune(user, top, config.high_negatives)
        for rank, item in enumerate(top.tolist()):
            rows.append((user, item, "high_score_negative", float(scores[item]), rank))
    return rows


def _users_and_positives(data: SplitData, config: CandidateConfig):
    users = torch.unique(data.train[0])
    if config.max_users is not None:
        users = users[: config.max_users]
    order = torch.argsort(data.train[0], stable=True)
    train_users, train_items = data.train[0][order], data.train[1][order]
    starts = torch.searchsorted(train_users, users)
    ends = torch.searchsorted(train_users, users, right=True)
    for user, start, end in zip(users.tolist(), starts.tolist(), ends.tolist()):
        yield user, train_items[start:end]


def _select_by_budget(data: SplitData, user_emb: torch.Tensor, item_emb: torch.Tensor, config: CandidateConfig,
                      snapshots: ScoreSnapshots | None) -> list[tuple[int, int, str, float, int]]:
    """The global budget: the most suspicious pairs over all users. A raw score is not comparable
    across users (embedding norms differ), so each pair is ranked by its z-score among the user's
    scores over every item; with pruning, a pool of ``prune_pool_factor`` x the budget by z-score is
    cut to the pairs whose score varied most."""
    n_low, n_high = budget_split(config)
    factor = config.prune_pool_factor if config.prune_by_variance else 1
    low_pool, high_pool, top_rows = [], [], []  # (z, user, item, score)
    for user, positives in _users_and_positives(data, config):
        scores = item_emb @ user_emb[user]
        mean, std = scores.mean(), scores.std().clamp_min(1e-12)
        z = (scores - mean) / std
        positive_z = z[positives]
        for item, value in zip(positives.tolist(), positive_z.tolist()):
            low_pool.append((value, user, item, float(scores[item])))
        ranked = positives[torch.argsort(scores[positives])]
        for rank, item in enumerate(ranked.flip(0)[: config.top_positives].tolist()):
            top_rows.append((user, item, "top_positive", float(scores[item]), rank))
        if n_high:
            masked = z.clone()
            masked[positives] = float("-inf")
            top = torch.topk(masked, min(n_high * factor, masked.numel()))
            high_pool += [(-value, user, item, float(scores[item]))
                          for value, item in zip(top.values.tolist(), top.indices.tolist()) if value > float("-inf")]

    def take(pool: list[tuple], count: int) -> list[tuple]:
        chosen = sorted(pool)[: count * factor]
        if config.prune_by_variance and len(chosen) > count:
            variance = [float(snapshots.variance(user, torch.tensor([item]))[0]) for _, user, item, _ in chosen]
            keep = sorted(range(len(chosen)), key=lambda k: -variance[k])[:count]
            chosen = [chosen[k] for k in sorted(keep)]
        return chosen[:count]

    rows = []
    for kind, chosen, ascending in (("low_score_positive", take(low_pool, n_low), True),
                                    ("high_score_negative", take(high_pool, n_high), False)):
        by_user: dict[int, list[tuple[int, float]]] = {}
        for _, user, item, score in chosen:
            by_user.setdefault(user, []).append((item, score))
        for user, pairs in by_user.items():
            pairs.sort(key=lambda pair: pair[1] if ascending else -pair[1])
            rows += [(user, item, kind, score, rank) for rank, (item, score) in enumerate(pairs)]
    judged = {row[0] for row in rows}
    return sorted(rows + [row for row in top_rows if row[0] in judged], key=lambda row: (row[0], row[2], row[4]))


def write_candidates(store: Store, candidate_set: str, split_id: str, backbone_run: str,
                     config: CandidateConfig, rows: list[tuple]) -> None:
    with store.transaction() as con:
        insert_candidates(con, candidate_set, split_id, backbone_run, config, rows)


def insert_candidates(con, candidate_set: str, split_id: str, backbone_run: str, config: BaseModel,
                      rows: list[tuple]) -> bool:
    """Insert a candidate set inside the caller's transaction, unless it exists; True if inserted."""
    if candidate_set_exists(con, candidate_set):
        return False
    insert_candidate_rows(con, candidate_set, split_id, rows)
    insert_candidate_set(con, candidate_set, split_id, backbone_run, config.model_dump_json())
    return True


def candidate_set_id(split_id: str, backbone_hash: str, config: CandidateConfig) -> str:
    users = "all" if config.max_users is None else str(config.max_users)
    pruning = (f"|variance={config.prune_pool_factor}x{config.variance_window}"
               if config.prune_by_variance else "")
    # Later options are appended only when set, so earlier candidate sets keep their ids.
    reach = (f"|share={config.candidate_share:g}" if config.candidate_share is not None else "") + \
        (f"|budget={config.candidate_budget}" if config.candidate_budget is not None
         and config.candidate_share is None else "")
    return (f"{split_id}|backbone={backbone_hash}|low={config.low_positives}|high={config.high_negatives}"
            f"|top={config.top_positives}|users={users}{pruning}{reach}")


def candidate_top_items(store: Store, candidate_set: str) -> dict[int, list[int]]:
    """Each user's highest-scored training positives in a candidate set (what the item view reads)."""
    return top_positive_items(store, candidate_set)


# -- the candidate-picking backbone ------------------------------------------------------------
class PretrainConfig(OptimConfig, DataConfig):
    """What the candidate-picking backbone depends on; its hash keys the candidate set. The pipeline
    and `python -m judge candidates` both use the default schedule, so they share candidate sets."""

    model: Literal["lightgcn", "ngcf"] = "lightgcn"


def pretrain_backbone(store: Store, data: SplitData, pretrain: PretrainConfig, progress: bool = True,
                      flush_seconds: float = 5.0, after_epoch=None) -> tuple[str, TrainResult]:
    """The candidate-picking backbone: BPR on the noisy split, recorded as a run."""
    return record_training(
        store, data.split_id, pretrain.model, pretrain,
        lambda on_epoch: train_bpr(data, pretrain.model, pretrain, pretrain.seed, on_epoch, progress,
                                   after_epoch=after_epoch),
        flush_seconds=flush_seconds)


def pretrain_candidates(store: Store, data: SplitData, pretrain: PretrainConfig, candidates: CandidateConfig,
                        progress: bool = True, flush_seconds: float = 5.0) -> tuple[str, bool]:
    """Train the backbone on the noisy split and store its candidate pairs, unless the store has them.

    Returns the candidate set id and whether it was created now."""
    candidate_set = candidate_set_id(data.split_id, config_hash(pretrain), candidates)
    with store.connect() as con:
        if candidate_set_exists(con, candidate_set):
            return candidate_set, False
    snapshots = ScoreSnapshots(candidates.variance_window) if candidates.prune_by_variance else None
    run_id, result = pretrain_backbone(store, data, pretrain, progress, flush_seconds, snapshots)
    rows = select_candidates(data, *result.embeddings, candidates, snapshots)
    write_candidates(store, candidate_set, data.split_id, run_id, candidates, rows)
    return candidate_set, True
