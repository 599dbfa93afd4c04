"""Queries on ``candidate_sets`` and ``candidates``, and the reads that join them to ``verdicts``,
``interactions`` and ``ratings``: judge decisions, the hard-vs-noise confusion and a set's reach."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import duckdb
import pandas as pd

from recsys.store.database import Store

if TYPE_CHECKING:
    from recsys.data.scale import RatingScale


# -- writing a candidate set -------------------------------------------------------------------
def candidate_set_exists(con: duckdb.DuckDBPyConnection, candidate_set: str) -> bool:
    return bool(con.execute("SELECT 1 FROM candidate_sets WHERE candidate_set = ?", [candidate_set]).fetchone())


def insert_candidate_rows(con: duckdb.DuckDBPyConnection, candidate_set: str, split_id: str,
                          rows: Sequence[tuple]) -> None:
    """Candidate pairs, each row (user_idx, item_idx, kind, score, rank)."""
    con.executemany(
        "INSERT INTO candidates (candidate_set, split_id, user_idx, item_idx, kind, score, rank)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(candidate_set, split_id, *row) for row in rows],
    )


def insert_candidate_set(con: duckdb.DuckDBPyConnection, candidate_set: str, split_id: str, backbone_run: str,
                         params: str) -> None:
    """The candidate set's own row; ``params`` is its config's JSON."""
    con.execute(
        "INSERT INTO candidate_sets (candidate_set, split_id, backbone_run, params) VALUES (?, ?, ?, ?)",
        [candidate_set, split_id, backbone_run, params],
    )


# -- reading a candidate set -------------------------------------------------------------------
def top_positive_items(store: Store, candidate_set: str) -> dict[int, list[int]]:
    """Each user's ``top_positive`` items, by rank."""
    with store.connect() as con:
        return dict(con.execute(
            "SELECT user_idx, list(item_idx ORDER BY rank) FROM candidates WHERE candidate_set = ? "
            "AND kind = 'top_positive' GROUP BY user_idx", [candidate_set]).fetchall())


def candidate_counts_by_kind(store: Store, candidate_set: str) -> dict[str, int]:
    """How many candidate rows of each kind (top positives included)."""
    with store.connect() as con:
        return dict(con.execute("SELECT kind, count(*) FROM candidates WHERE candidate_set = ? "
                                "GROUP BY kind", [candidate_set]).fetchall())


class CandidateReach(NamedTuple):
    """Over the pairs the judge reads (low-score positives and high-score negatives)."""

    users: int  # distinct users with such a pair
    injected: int  # of those pairs, the injected-noise training edges


def candidate_reach(store: Store, candidate_set: str) -> CandidateReach:
    with store.connect() as con:
        return CandidateReach(*con.execute(
            "SELECT count(DISTINCT c.user_idx), count(*) FILTER (WHERE x.is_injected_noise) FROM candidates c "
            "LEFT JOIN interactions x ON x.split_id = c.split_id AND x.user_idx = c.user_idx "
            " AND x.item_idx = c.item_idx AND x.split = 'train' "
            "WHERE c.candidate_set = ? AND c.kind IN ('low_score_positive', 'high_score_negative')",
            [candidate_set]).fetchone())


def judged_candidate_users(store: Store, candidate_set: str) -> list[int]:
    """The users with a pair for the judge (a low-score positive or a high-score negative), ascending."""
    with store.connect() as con:
        return [user for user, in con.execute(
            "SELECT DISTINCT user_idx FROM candidates WHERE candidate_set = ? "
            "AND kind IN ('low_score_positive', 'high_score_negative') ORDER BY user_idx", [candidate_set]).fetchall()]


# -- decisions and their audit -----------------------------------------------------------------
def llm_verdict_pairs(store: Store, candidate_set: str, lm_id: str, prompt_hash: str) -> pd.DataFrame:
    """The judged pairs with an ok verdict of this LM and prompt from both views, by (user, item):
    columns user_idx, item_idx, kind, user_label, item_label."""
    with store.connect() as con:
        return con.execute(
            "SELECT c.user_idx, c.item_idx, c.kind, u.label AS user_label, i.label AS item_label "
            "FROM candidates c "
            "JOIN verdicts u ON u.candidate_set = c.candidate_set AND u.user_idx = c.user_idx "
            " AND u.item_idx = c.item_idx AND u.view = 'user' AND u.status = 'ok' AND u.lm = ? AND u.prompt_hash = ? "
            "JOIN verdicts i ON i.candidate_set = c.candidate_set AND i.user_idx = c.user_idx "
            " AND i.item_idx = c.item_idx AND i.view = 'item' AND i.status = 'ok' AND i.lm = ? AND i.prompt_hash = ? "
            "WHERE c.candidate_set = ? AND c.kind IN ('low_score_positive', 'high_score_negative') "
            "ORDER BY c.user_idx, c.item_idx",
            [lm_id, prompt_hash, lm_id, prompt_hash, candidate_set]).df()


def judged_pairs(store: Store, candidate_set: str) -> pd.DataFrame:
    """The pairs a judge reads, without any ground truth: columns user_idx, item_idx, kind, score (the
    candidate pretraining's score)."""
    with store.connect() as con:
        return con.execute(
            "SELECT user_idx, item_idx, kind, score FROM candidates WHERE candidate_set = ? "
            "AND kind IN ('low_score_positive', 'high_score_negative') ORDER BY user_idx, item_idx",
            [candidate_set]).df()


def oracle_decision_pairs(store: Store, candidate_set: str) -> pd.DataFrame:
    """The judged pairs by (user, item) with the ground-truth decision: a clean low-score positive is
    hard, everything else noise. Columns user_idx, item_idx, kind, decision."""
    with store.connect() as con:
        return con.execute(
            "SELECT c.user_idx, c.item_idx, c.kind, "
            " CASE WHEN c.kind = 'low_score_positive' AND NOT x.is_injected_noise THEN 'hard' ELSE 'noise' END "
            " AS decision "
            "FROM candidates c JOIN candidate_sets USING (candidate_set) "
            "LEFT JOIN interactions x ON x.split_id = c.split_id AND x.user_idx = c.user_idx "
            " AND x.item_idx = c.item_idx AND x.split = 'train' "
            "WHERE c.candidate_set = ? AND c.kind IN ('low_score_positive', 'high_score_negative') "
            "ORDER BY c.user_idx, c.item_idx", [candidate_set]).df()


def confusion_by_pair(con: duckdb.DuckDBPyConnection, candidate_set: str, decisions: pd.DataFrame,
                      scale: RatingScale, buckets: dict[str, str]) -> pd.DataFrame:
    """The judged pairs grouped by truth bucket (``buckets``' labels, on ``scale``'s thresholds), one
    row per bucket present, in no set order: columns pair, candidates, judged, edited, unchanged,
    no_verdict. ``decisions`` (user_idx, item_idx, kind, decision) is read as the view ``decided``."""
    implicit = "FALSE" if scale.implicit is None else f"rating = {float(scale.implicit)!r}"
    pair_sql = (
        "CASE WHEN kind = 'low_score_positive' THEN "
        f"  CASE WHEN is_injected_noise THEN '{buckets['injected']}' "
        f"       WHEN rating >= {float(scale.like)!r} THEN '{buckets['clean_liked']}' ELSE '{buckets['clean_other']}' END "
        f" ELSE CASE WHEN rating IS NULL THEN '{buckets['negative_unrated']}' "
        f"  WHEN {implicit} THEN '{buckets['negative_implicit']}' "
        f"  WHEN rating >= {float(scale.like)!r} THEN '{buckets['negative_liked']}' "
        f"  WHEN rating > {float(scale.dislike)!r} THEN '{buckets['negative_between']}' "
        f"  ELSE '{buckets['negative_disliked']}' END END AS pair")
    con.register("decided", decisions)  # decision is cast: with no verdict yet, pandas types it float
    frame = con.execute(
        "WITH cand AS ("
        " SELECT c.user_idx, c.item_idx, c.kind, CAST(d.decision AS VARCHAR) AS decision, "
        "  x.is_injected_noise, r.rating "
        " FROM candidates c "
        " JOIN splits s ON s.split_id = c.split_id "
        " LEFT JOIN decided d ON d.user_idx = c.user_idx AND d.item_idx = c.item_idx AND d.kind = c.kind "
        " LEFT JOIN interactions x ON x.split_id = c.split_id AND x.user_idx = c.user_idx "
        "  AND x.item_idx = c.item_idx AND x.split = 'train' "
        " LEFT JOIN ratings r ON r.dataset_id = s.dataset_id AND r.user_idx = c.user_idx AND r.item_idx = c.item_idx "
        " WHERE c.candidate_set = ? AND c.kind IN ('low_score_positive', 'high_score_negative')) "
        f"SELECT {pair_sql}, count(*) AS candidates, count(decision) AS judged, "
        " count(*) FILTER (WHERE (kind = 'low_score_positive' AND decision = 'noise') "
        "  OR (kind = 'high_score_negative' AND decision = 'hard')) AS edited, "
        " count(*) FILTER (WHERE decision IS NOT NULL) - edited AS unchanged, "
        " count(*) - count(decision) AS no_verdict "
        "FROM cand GROUP BY pair", [candidate_set]).df()
    con.unregister("decided")
    return frame


def injected_train_edges(con: duckdb.DuckDBPyConnection, split_id: str) -> int:
    """How many training edges of the split are injected noise."""
    return con.execute(
        "SELECT count(*) FROM interactions WHERE split_id = ? AND split = 'train' AND is_injected_noise",
        [split_id]).fetchone()[0]
