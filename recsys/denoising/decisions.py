"""Module 2 of LLMHNI: judge decisions on candidate pairs, the augmented graph G', and its audit.

A decision is hard (C_H) or noise (C_N) per candidate pair:
* a low-score training positive judged noise is removed from G;
* a high-score negative judged hard (a likely false negative) is added to G.
Every other pair leaves G as it is, and so does a pair without a usable verdict (a failed call).

Decisions come from the LLM verdicts in the store (both views, combined by a rule), or from the
*oracle*, an analysis upper bound that reads the ground truth: a candidate positive is noise exactly
when it was injected. The oracle adds no negatives: every unobserved item the user rated >= the
positive threshold sits in validation or test, so adding it would leak evaluation labels.

A *simulated* judge of known accuracy is the oracle with set error rates: it catches an injected
positive (judges it noise) with probability ``tpr`` and keeps a clean one (judges it hard) with
probability ``tnr``; ``tpr = tnr = 1`` is the oracle. Like the oracle it reads ground truth, adds
no negatives, and is an analysis judge, never a result.

Two *control* judges read no ground truth and no text, and remove a set share of the candidate
positives: *random* edits (each with the same chance) and *score-only* (the lowest-scored). A judge's
value is what it gains over them at the share it removes: the candidates alone already hold more noise
than the training graph, so deleting some of them at random already helps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
import torch

from recsys.data.datasets import MOVIELENS_SCALE
from recsys.data.ingest import split_scale
from recsys.data.scale import RatingScale
from recsys.data.split import SplitData
from recsys.models.graph import edit_graph
from recsys.store import Store
from recsys.store.candidates import (
    confusion_by_pair,
    injected_train_edges,
    judged_pairs,
    llm_verdict_pairs,
    oracle_decision_pairs,
)

JudgeSource = Literal["llm", "oracle", "simulated", "random", "score"]
GROUND_TRUTH_JUDGES = ("oracle", "simulated")  # analysis judges: they read the injected-noise flags
CONTROL_JUDGES = ("random", "score")  # remove --judge-remove-share of the candidate positives, reading nothing

DECISION_COLUMNS = ["user_idx", "item_idx", "kind", "decision"]
INJECTED_PAIR = "positive: injected noise"


def pair_buckets(scale: RatingScale) -> dict[str, str]:
    """The confusion's row labels on this rating scale (on MovieLens: >= 4, 3, <= 2), by role."""
    like, dislike = f"{scale.like:g}", f"{scale.dislike:g}"
    return {"injected": INJECTED_PAIR,
            "clean_liked": f"positive: clean, rating >= {like}",
            "clean_other": f"positive: clean, rating < {like}",
            "negative_liked": f"negative: rating >= {like}",
            "negative_between": f"negative: rating {dislike}-{like} (exclusive)",
            "negative_disliked": f"negative: rating <= {dislike}",
            "negative_implicit": "negative: implicit (no rating)",
            "negative_unrated": "negative: unrated"}


def llm_decisions(store: Store, candidate_set: str, lm_id: str, prompt_hash: str,
                  is_hard: Callable[[str, str], bool]) -> pd.DataFrame:
    """One row per candidate pair with an ok verdict from both views; ``is_hard(user_label, item_label)``
    is the rule (e.g. :func:`judge.programs.is_hard` with both_high)."""
    pairs = llm_verdict_pairs(store, candidate_set, lm_id, prompt_hash)
    pairs["decision"] = [
        "hard" if is_hard(u, i) else "noise" for u, i in zip(pairs.user_label, pairs.item_label)
    ]
    return pairs[DECISION_COLUMNS]


def oracle_decisions(store: Store, candidate_set: str) -> pd.DataFrame:
    """Ground truth on the candidate positives (injected = noise); candidate negatives are never added."""
    pairs = oracle_decision_pairs(store, candidate_set)
    return pairs[DECISION_COLUMNS]


def pair_uniforms(users, items, seed: int) -> np.ndarray:
    """A uniform draw in [0, 1) per (user, item) pair, a hash of (seed, user, item) (splitmix64).

    A pair's draw does not depend on which other pairs are candidates, and one seed gives coupled
    judges: a pair a judge of accuracy p gets wrong, every judge below p gets wrong too."""
    with np.errstate(over="ignore"):
        x = (np.asarray(users, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
             ^ np.asarray(items, dtype=np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
             ^ np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(0x165667B19E3779F9))
        for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            x = (x ^ (x >> np.uint64(shift))) * np.uint64(multiplier)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def simulated_decisions(store: Store, candidate_set: str, tpr: float, tnr: float, seed: int) -> pd.DataFrame:
    """A judge of known accuracy on the candidate positives: an injected one is judged noise with
    probability ``tpr`` (noise caught), a clean one hard with probability ``tnr`` (clean kept).
    Candidate negatives are never added, as with the oracle. Seeded per pair (:func:`pair_uniforms`)."""
    truth = oracle_decisions(store, candidate_set)
    draw = pair_uniforms(truth.user_idx.to_numpy(), truth.item_idx.to_numpy(), seed)
    positive = (truth.kind == "low_score_positive").to_numpy()
    injected = positive & (truth.decision == "noise").to_numpy()
    clean = positive & ~injected
    hard = (clean & (draw < tnr)) | (injected & (draw >= tpr))
    return truth.assign(decision=np.where(hard, "hard", "noise"))[DECISION_COLUMNS]


def random_edit_decisions(store: Store, candidate_set: str, share: float, seed: int) -> pd.DataFrame:
    """Control judge *random edits*: each candidate positive is judged noise with probability ``share``,
    reading nothing (no text, no score, no ground truth). What a judge gains over it at the same removal
    share is the judge's own information, net of the candidate selection. Negatives are never added."""
    pairs = judged_pairs(store, candidate_set)
    draw = pair_uniforms(pairs.user_idx.to_numpy(), pairs.item_idx.to_numpy(), seed)
    kept = (pairs.kind == "low_score_positive").to_numpy() & (draw >= share)
    return pairs.assign(decision=np.where(kept, "hard", "noise"))[DECISION_COLUMNS]


def score_only_decisions(store: Store, candidate_set: str, share: float) -> pd.DataFrame:
    """Control judge *score-only*: the lowest-scored ``share`` of the candidate positives (by the candidate
    pretraining's score, ties by user and item) are judged noise, with no judge at all (T-CE-like).
    Negatives are never added."""
    pairs = judged_pairs(store, candidate_set)
    positives = pairs[pairs.kind == "low_score_positive"].sort_values(["score", "user_idx", "item_idx"])
    removed = pairs.index.isin(positives.index[:round(share * len(positives))])
    kept = (pairs.kind == "low_score_positive").to_numpy() & ~removed
    return pairs.assign(decision=np.where(kept, "hard", "noise"))[DECISION_COLUMNS]


def decision_edges(frame: pd.DataFrame) -> torch.Tensor:
    return torch.as_tensor(frame[["user_idx", "item_idx"]].to_numpy().T.copy(), dtype=torch.long).reshape(2, -1)


def augmented_graph(data: SplitData, decisions: pd.DataFrame) -> tuple[torch.Tensor, dict[str, int]]:
    """G' from G and the decisions; returns its edges and the counts removed and added."""
    remove = decisions[(decisions.kind == "low_score_positive") & (decisions.decision == "noise")]
    add = decisions[(decisions.kind == "high_score_negative") & (decisions.decision == "hard")]
    edges = edit_graph(data.train, decision_edges(remove), decision_edges(add), data.num_items)
    return edges, {"edges_removed": len(remove), "edges_added": len(add), "edges_in_g_prime": edges.size(1)}


def hard_noise_confusion(store: Store, split_id: str, candidate_set: str, decisions: pd.DataFrame) -> pd.DataFrame:
    """What the denoising step did, against the ground truth only evaluation may read.

    Rows: candidate positives by truth (injected noise, or clean by rating), and candidate negatives
    by the user's rating of the item (liked, in between, disliked, implicit, unrated, with the
    thresholds of the dataset's rating scale); columns: judged, removed/added, kept, no verdict.
    The first row also counts the injected edges no candidate reached.
    """
    scale = split_scale(store, split_id)
    bucket = pair_buckets(scale)
    with store.connect() as con:
        frame = confusion_by_pair(con, candidate_set, decisions, scale, bucket)
        injected = injected_train_edges(con, split_id)
    order = list(bucket.values())
    frame = frame.set_index("pair").reindex([p for p in order if p in set(frame.pair)]).reset_index()
    frame.attrs["injected_in_train"] = int(injected)
    frame.attrs["buckets"] = bucket
    return frame


def confusion_metrics(confusion: pd.DataFrame) -> dict[str, float]:
    """The headline counts of :func:`hard_noise_confusion`, flat, for the run's metrics."""
    by_pair = confusion.set_index("pair")

    def get(pair: str, column: str) -> int:
        return int(by_pair[column].get(pair, 0))

    bucket = confusion.attrs.get("buckets") or pair_buckets(MOVIELENS_SCALE)
    clean = (bucket["clean_liked"], bucket["clean_other"])
    negatives = [p for p in by_pair.index if p.startswith("negative")]
    return {
        "injected_in_train": confusion.attrs.get("injected_in_train", 0),
        "injected_candidates": get(INJECTED_PAIR, "candidates"),
        "injected_removed": get(INJECTED_PAIR, "edited"),
        "clean_candidates": sum(get(p, "candidates") for p in clean),
        "clean_removed": sum(get(p, "edited") for p in clean),
        "negatives_added": sum(get(p, "edited") for p in negatives),
        # added negatives the user liked: held-out positives (on MovieLens, rated >= 4)
        "negatives_added_liked": get(bucket["negative_liked"], "edited"),
        "pairs_without_verdict": int(confusion.no_verdict.sum()),
    }


def down_weighting(edge_report: dict[str, torch.Tensor], is_noise: torch.Tensor) -> dict[str, float]:
    """What a loss-based denoiser did to injected against clean training edges: the mean share of
    batches it dropped an edge from (T-CE) or the mean weight it gave it (R-CE)."""
    metrics = {}
    for name in ("dropped_share", "mean_weight"):
        if name in edge_report:
            values = edge_report[name].float()
            metrics[f"{name}_injected"] = float(values[is_noise].mean()) if is_noise.any() else float("nan")
            metrics[f"{name}_clean"] = float(values[~is_noise].mean()) if (~is_noise).any() else float("nan")
    return metrics
