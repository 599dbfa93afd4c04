"""Module 2 of LLMHNI: judge decisions on candidate pairs, the augmented graph G', and its audit.

A decision is hard (C_H) or noise (C_N) per candidate pair:
* a low-score training positive judged noise is removed from G;
* a high-score negative judged hard (a likely false negative) is added to G.
Every other pair leaves G as it is, and so does a pair without a usable verdict (a failed call).

Decisions come from the LLM verdicts in the store (both views, combined by a rule), or from the
*oracle*, an analysis upper bound that reads the ground truth: a candidate positive is noise exactly
when it was injected. The oracle adds no negatives: every unobserved item the user rated >= the
positive threshold sits in validation or test, so adding it would leak evaluation labels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pandas as pd
import torch

from recsys.graph import edit_graph
from recsys.split import SplitData
from recsys.store import Store

JudgeSource = Literal["llm", "oracle"]

DECISION_COLUMNS = ["user_idx", "item_idx", "kind", "decision"]
PAIR_ORDER = ("positive: injected noise", "positive: clean, rating >= 4", "positive: clean, rating 3",
              "negative: rating >= 4", "negative: rating 3", "negative: rating <= 2", "negative: unrated")


def llm_decisions(store: Store, candidate_set: str, lm_id: str, prompt_hash: str,
                  is_hard: Callable[[str, str], bool]) -> pd.DataFrame:
    """One row per candidate pair with an ok verdict from both views; ``is_hard(user_label, item_label)``
    is the rule (e.g. :func:`judge.programs.is_hard` with both_high)."""
    with store.connect() as con:
        pairs = con.execute(
            "SELECT c.user_idx, c.item_idx, c.kind, u.label AS user_label, i.label AS item_label "
            "FROM candidates c "
            "JOIN verdicts u ON u.candidate_set = c.candidate_set AND u.user_idx = c.user_idx "
            " AND u.item_idx = c.item_idx AND u.view = 'user' AND u.status = 'ok' AND u.lm = ? AND u.prompt_hash = ? "
            "JOIN verdicts i ON i.candidate_set = c.candidate_set AND i.user_idx = c.user_idx "
            " AND i.item_idx = c.item_idx AND i.view = 'item' AND i.status = 'ok' AND i.lm = ? AND i.prompt_hash = ? "
            "WHERE c.candidate_set = ? AND c.kind IN ('low_score_positive', 'high_score_negative') "
            "ORDER BY c.user_idx, c.item_idx",
            [lm_id, prompt_hash, lm_id, prompt_hash, candidate_set]).df()
    pairs["decision"] = [
        "hard" if is_hard(u, i) else "noise" for u, i in zip(pairs.user_label, pairs.item_label)
    ]
    return pairs[DECISION_COLUMNS]


def oracle_decisions(store: Store, candidate_set: str) -> pd.DataFrame:
    """Ground truth on the candidate positives (injected = noise); candidate negatives are never added."""
    with store.connect() as con:
        pairs = con.execute(
            "SELECT c.user_idx, c.item_idx, c.kind, "
            " CASE WHEN c.kind = 'low_score_positive' AND NOT x.is_injected_noise THEN 'hard' ELSE 'noise' END "
            " AS decision "
            "FROM candidates c JOIN candidate_sets USING (candidate_set) "
            "LEFT JOIN interactions x ON x.split_id = c.split_id AND x.user_idx = c.user_idx "
            " AND x.item_idx = c.item_idx AND x.split = 'train' "
            "WHERE c.candidate_set = ? AND c.kind IN ('low_score_positive', 'high_score_negative') "
            "ORDER BY c.user_idx, c.item_idx", [candidate_set]).df()
    return pairs[DECISION_COLUMNS]


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
    by the user's rating of the item (>= 4, 3, <= 2, unrated); columns: judged, removed/added, kept,
    no verdict. The first row also counts the injected edges no candidate reached.
    """
    with store.connect() as con:
        con.register("decided", decisions)
        frame = con.execute(
            "WITH cand AS ("
            " SELECT c.user_idx, c.item_idx, c.kind, d.decision, x.is_injected_noise, r.rating "
            " FROM candidates c "
            " JOIN splits s ON s.split_id = c.split_id "
            " LEFT JOIN decided d ON d.user_idx = c.user_idx AND d.item_idx = c.item_idx AND d.kind = c.kind "
            " LEFT JOIN interactions x ON x.split_id = c.split_id AND x.user_idx = c.user_idx "
            "  AND x.item_idx = c.item_idx AND x.split = 'train' "
            " LEFT JOIN ratings r ON r.dataset_id = s.dataset_id AND r.user_idx = c.user_idx AND r.item_idx = c.item_idx "
            " WHERE c.candidate_set = ? AND c.kind IN ('low_score_positive', 'high_score_negative')) "
            "SELECT CASE WHEN kind = 'low_score_positive' THEN "
            "  CASE WHEN is_injected_noise THEN 'positive: injected noise' "
            "       WHEN rating >= 4 THEN 'positive: clean, rating >= 4' ELSE 'positive: clean, rating 3' END "
            " ELSE CASE WHEN rating IS NULL THEN 'negative: unrated' WHEN rating >= 4 THEN 'negative: rating >= 4' "
            "  WHEN rating >= 3 THEN 'negative: rating 3' ELSE 'negative: rating <= 2' END END AS pair, "
            " count(*) AS candidates, count(decision) AS judged, "
            " count(*) FILTER (WHERE (kind = 'low_score_positive' AND decision = 'noise') "
            "  OR (kind = 'high_score_negative' AND decision = 'hard')) AS edited, "
            " count(*) FILTER (WHERE decision IS NOT NULL) - edited AS unchanged, "
            " count(*) - count(decision) AS no_verdict "
            "FROM cand GROUP BY pair", [candidate_set]).df()
        con.unregister("decided")
        injected = con.execute(
            "SELECT count(*) FROM interactions WHERE split_id = ? AND split = 'train' AND is_injected_noise",
            [split_id]).fetchone()[0]
    frame = frame.set_index("pair").reindex([p for p in PAIR_ORDER if p in set(frame.pair)]).reset_index()
    frame.attrs["injected_in_train"] = int(injected)
    return frame


def confusion_metrics(confusion: pd.DataFrame) -> dict[str, float]:
    """The headline counts of :func:`hard_noise_confusion`, flat, for the run's metrics."""
    by_pair = confusion.set_index("pair")

    def get(pair: str, column: str) -> int:
        return int(by_pair[column].get(pair, 0))

    clean = ("positive: clean, rating >= 4", "positive: clean, rating 3")
    negatives = [p for p in by_pair.index if p.startswith("negative")]
    return {
        "injected_in_train": confusion.attrs.get("injected_in_train", 0),
        "injected_candidates": get("positive: injected noise", "candidates"),
        "injected_removed": get("positive: injected noise", "edited"),
        "clean_candidates": sum(get(p, "candidates") for p in clean),
        "clean_removed": sum(get(p, "edited") for p in clean),
        "negatives_added": sum(get(p, "edited") for p in negatives),
        "negatives_added_rated_4plus": get("negative: rating >= 4", "edited"),
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
