"""The labeled hard/noise sets of the judge: ``label_sets`` and ``labeled_pairs`` (built by
:mod:`judge.labels`), plus what building one reads from a split and what an audit adds to its
candidate set."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import duckdb

from recsys.store.database import Store


class TrainEdge(NamedTuple):
    user_idx: int
    item_idx: int
    rating: float | None
    is_injected_noise: bool


class UnobservedRating(NamedTuple):
    """A rated pair outside train, valid and test; ``reserved`` for a held-out label positive."""

    user_idx: int
    item_idx: int
    rating: float
    reserved: bool


class LabeledPair(NamedTuple):
    user_idx: int
    item_idx: int
    kind: str
    part: str
    label: str


class LabelCount(NamedTuple):
    part: str
    kind: str
    origin: str
    label: str
    n: int


# ---------------------------------------------------------------------------------------------
# what a labeled set is drawn from (read on one connection)


def train_edges(con: duckdb.DuckDBPyConnection, split_id: str) -> list[TrainEdge]:
    """The split's training interactions, with their ratings and ground-truth noise flags."""
    rows = con.execute(
        "SELECT user_idx, item_idx, rating, is_injected_noise FROM interactions "
        "WHERE split_id = ? AND split = 'train'", [split_id]).fetchall()
    return [TrainEdge(*row) for row in rows]


def unobserved_ratings(con: duckdb.DuckDBPyConnection, split_id: str, dataset_id: str) -> list[UnobservedRating]:
    """Rated pairs outside train, valid and test: reserved positives and never-injected low ratings."""
    rows = con.execute(
        "SELECT r.user_idx, r.item_idx, r.rating, p.user_idx IS NOT NULL FROM ratings r "
        "LEFT JOIN interactions i ON i.split_id = ? AND i.user_idx = r.user_idx AND i.item_idx = r.item_idx "
        "LEFT JOIN reserved_pairs p ON p.split_id = ? AND p.user_idx = r.user_idx AND p.item_idx = r.item_idx "
        "WHERE r.dataset_id = ? AND i.user_idx IS NULL", [split_id, split_id, dataset_id]).fetchall()
    return [UnobservedRating(*row) for row in rows]


# ---------------------------------------------------------------------------------------------
# label_sets and labeled_pairs


def label_set_exists(store: Store, label_set: str) -> bool:
    with store.connect() as con:
        return con.execute("SELECT 1 FROM label_sets WHERE label_set = ?", [label_set]).fetchone() is not None


def insert_labeled_pairs(con: duckdb.DuckDBPyConnection, label_set: str, labels: Sequence[tuple]) -> None:
    """Rating labels: rows (user, item, kind, origin, rating, part, label)."""
    con.executemany(
        "INSERT INTO labeled_pairs (label_set, user_idx, item_idx, kind, origin, rating, part, label, source)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'rating')", [(label_set, *row) for row in labels])


def insert_label_set(con: duckdb.DuckDBPyConnection, label_set: str, split_id: str, params_json: str) -> None:
    con.execute("INSERT INTO label_sets (label_set, split_id, params) VALUES (?, ?, ?)",
                [label_set, split_id, params_json])


def label_set_split(con: duckdb.DuckDBPyConnection, label_set: str) -> str:
    split_id, = con.execute("SELECT split_id FROM label_sets WHERE label_set = ?", [label_set]).fetchone()
    return split_id


def labeled_pairs(con: duckdb.DuckDBPyConnection, label_set: str, parts: Sequence[str]) -> list[LabeledPair]:
    """The labeled pairs of ``parts``, by part, user, kind and item."""
    rows = con.execute(
        "SELECT user_idx, item_idx, kind, part, label FROM labeled_pairs WHERE label_set = ? AND part IN ? "
        "ORDER BY part, user_idx, kind, item_idx", [label_set, list(parts)]).fetchall()
    return [LabeledPair(*row) for row in rows]


def labeled_user_items(store: Store, label_set: str, parts: Sequence[str]) -> list[tuple[int, int]]:
    """(user, item) of the labeled pairs of ``parts``, in no particular order."""
    with store.connect() as con:
        return con.execute("SELECT user_idx, item_idx FROM labeled_pairs WHERE label_set = ? AND part IN ?",
                           [label_set, list(parts)]).fetchall()


def labeled_pair_counts(store: Store, label_set: str) -> list[LabelCount]:
    """Labeled pairs counted by part, kind, origin and label."""
    with store.connect() as con:
        rows = con.execute(
            "SELECT part, kind, origin, label, count(*) FROM labeled_pairs WHERE label_set = ? "
            "GROUP BY ALL ORDER BY ALL", [label_set]).fetchall()
    return [LabelCount(*row) for row in rows]


def count_leaked_pairs(store: Store, label_set: str) -> int:
    """Labeled pairs that are validation or test edges of the set's split."""
    with store.connect() as con:
        return con.execute(
            "SELECT count(*) FROM labeled_pairs l JOIN label_sets s USING (label_set) JOIN interactions i "
            "ON i.split_id = s.split_id AND i.user_idx = l.user_idx AND i.item_idx = l.item_idx "
            "WHERE l.label_set = ? AND i.split IN ('valid', 'test')", [label_set]).fetchone()[0]


# ---------------------------------------------------------------------------------------------
# audits applied to a labeled set (all in the caller's transaction)


def held_out_pairs(con: duckdb.DuckDBPyConnection, split_id: str) -> set[tuple[int, int]]:
    """(user, item) of the split's validation and test edges."""
    return set(con.execute("SELECT user_idx, item_idx FROM interactions WHERE split_id = ? "
                           "AND split IN ('valid', 'test')", [split_id]).fetchall())


def user_parts(con: duckdb.DuckDBPyConnection, label_set: str) -> dict[int, str]:
    """Each labeled user's part."""
    return dict(con.execute("SELECT DISTINCT user_idx, part FROM labeled_pairs WHERE label_set = ?",
                            [label_set]).fetchall())


def has_labeled_pair(con: duckdb.DuckDBPyConnection, label_set: str, user_idx: int, item_idx: int) -> bool:
    return con.execute("SELECT 1 FROM labeled_pairs WHERE label_set = ? AND user_idx = ? AND item_idx = ?",
                       [label_set, user_idx, item_idx]).fetchone() is not None


def set_audit_label(con: duckdb.DuckDBPyConnection, label_set: str, user_idx: int, item_idx: int, label: str,
                    labeler: str, labeled_at: datetime, note: str | None) -> None:
    """An audit's label in place of a labeled pair's."""
    con.execute("UPDATE labeled_pairs SET label = ?, source = 'audit', labeler = ?, labeled_at = ?, "
                "note = ? WHERE label_set = ? AND user_idx = ? AND item_idx = ?",
                [label, labeler, labeled_at, note, label_set, user_idx, item_idx])


def add_audited_pair(con: duckdb.DuckDBPyConnection, label_set: str, split_id: str, user_idx: int, item_idx: int,
                     kind: str, audited_candidate_set: str, part: str, label: str, labeler: str,
                     labeled_at: datetime, note: str | None) -> None:
    """A pair the set lacks, labeled by an audit: a candidate of the set (score NaN, rank 0), the user's
    top positives copied from the audited candidate set (the item view reads them), and its label."""
    con.execute("INSERT INTO candidates (candidate_set, split_id, user_idx, item_idx, kind, score, rank) "
                "VALUES (?, ?, ?, ?, ?, 'NaN', 0) ON CONFLICT DO NOTHING",
                [label_set, split_id, user_idx, item_idx, kind])
    con.execute("INSERT INTO candidates SELECT ?, split_id, user_idx, item_idx, kind, score, rank "
                "FROM candidates WHERE candidate_set = ? AND user_idx = ? AND kind = 'top_positive' "
                "ON CONFLICT DO NOTHING", [label_set, audited_candidate_set, user_idx])
    con.execute("INSERT INTO labeled_pairs (label_set, user_idx, item_idx, kind, origin, part, label, "
                "source, labeler, labeled_at, note) VALUES (?, ?, ?, ?, 'audit', ?, ?, 'audit', ?, ?, ?)",
                [label_set, user_idx, item_idx, kind, part, label, labeler, labeled_at, note])
