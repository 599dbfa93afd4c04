"""Text reads of a split: item texts (``items``), training histories (``interactions``, ``ratings``),
LLM and imported profiles (``profiles``, ``dataset_profiles``) and imported vectors (``dataset_embeddings``).

Each takes the caller's open connection."""

from __future__ import annotations

from typing import NamedTuple

import duckdb

from recsys.store.splits import split_size


class ItemTextRow(NamedTuple):
    item_idx: int
    title: str | None
    year: int | None
    genres: str | None
    text: str | None
    raw_id: str


class UserItems(NamedTuple):
    user_idx: int
    item_idxs: list[int]


class ItemUsers(NamedTuple):
    item_idx: int
    user_idxs: list[int]


class EntityVector(NamedTuple):
    entity_idx: int
    vector: list[float]


def item_text_rows(con: duckdb.DuckDBPyConnection, split_id: str) -> list[ItemTextRow]:
    """The text columns of every item of the split's dataset."""
    rows = con.execute(
        "SELECT i.item_idx, i.title, i.year, i.genres, i.text, i.raw_id FROM items i "
        "JOIN splits s ON s.dataset_id = i.dataset_id WHERE s.split_id = ?",
        [split_id],
    ).fetchall()
    return [ItemTextRow(*row) for row in rows]


def train_items_by_user(con: duckdb.DuckDBPyConnection, split_id: str) -> list[UserItems]:
    """Each user's training items, most recent rating first (then by item index), users in index order."""
    rows = con.execute(
        "SELECT i.user_idx, list(i.item_idx ORDER BY r.ts DESC NULLS LAST, i.item_idx) FROM interactions i "
        "JOIN splits s USING (split_id) "
        "LEFT JOIN ratings r ON r.dataset_id = s.dataset_id AND r.user_idx = i.user_idx AND r.item_idx = i.item_idx "
        "WHERE i.split_id = ? AND i.split = 'train' GROUP BY i.user_idx ORDER BY i.user_idx",
        [split_id],
    ).fetchall()
    return [UserItems(*row) for row in rows]


def train_users_by_item(con: duckdb.DuckDBPyConnection, split_id: str) -> list[ItemUsers]:
    """Each item's training users in index order, items in index order (items without training edges absent)."""
    rows = con.execute(
        "SELECT item_idx, list(user_idx ORDER BY user_idx) FROM interactions "
        "WHERE split_id = ? AND split = 'train' GROUP BY item_idx ORDER BY item_idx",
        [split_id],
    ).fetchall()
    return [ItemUsers(*row) for row in rows]


def train_user_counts(con: duckdb.DuckDBPyConnection, split_id: str) -> dict[int, int]:
    """Training users per item (items without training edges are absent)."""
    return dict(con.execute(
        "SELECT item_idx, count(*) FROM interactions WHERE split_id = ? AND split = 'train' GROUP BY item_idx",
        [split_id]).fetchall())


def imported_profile_texts(con: duckdb.DuckDBPyConnection, split_id: str, kind: str) -> dict[int, str]:
    """The profile texts of one kind ('user' or 'item') that the split's dataset shipped with, by entity."""
    return dict(con.execute(
        "SELECT p.entity_idx, p.text FROM dataset_profiles p JOIN splits s ON s.dataset_id = p.dataset_id "
        "WHERE s.split_id = ? AND p.kind = ?", [split_id, kind]).fetchall())


def lm_profile_texts(con: duckdb.DuckDBPyConnection, split_id: str, kind: str, lm: str,
                     prompt_hash: str) -> dict[int, str]:
    """The texts of the ok LLM profiles of one kind for an LM and a prompt, by entity."""
    return dict(con.execute(
        "SELECT entity_idx, text FROM profiles WHERE split_id = ? AND kind = ? AND lm = ? "
        "AND prompt_hash = ? AND status = 'ok'", [split_id, kind, lm, prompt_hash]).fetchall())


def entity_count(con: duckdb.DuckDBPyConnection, split_id: str, kind: str) -> int:
    """The number of users (kind 'user') or items (any other kind) of the split's dataset."""
    size = split_size(con, split_id)
    return size.n_users if kind == "user" else size.n_items


def imported_vector_rows(con: duckdb.DuckDBPyConnection, split_id: str, kind: str) -> list[EntityVector]:
    """The text embeddings of one kind that the split's dataset shipped with, in entity order."""
    rows = con.execute(
        "SELECT e.entity_idx, e.vector FROM dataset_embeddings e JOIN splits s ON s.dataset_id = e.dataset_id "
        "WHERE s.split_id = ? AND e.kind = ? ORDER BY e.entity_idx", [split_id, kind]).fetchall()
    return [EntityVector(*row) for row in rows]
