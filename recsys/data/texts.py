"""Text views of a split, read from the store: item texts, user histories and item takers.

Shared by the judge (prompt inputs) and the semantic module (texts to encode).
"""

from __future__ import annotations

import random

import numpy as np

from recsys.store import Store


def item_header(title: str | None, year: int | None, genres: str | None) -> str | None:
    """'Title (year). Genres: g.' from the parts present (None when none is)."""
    head = " ".join(part for part in (title, f"({year})" if year is not None else None) if part)
    parts = [f"{head}." if head else None, f"Genres: {genres}." if genres else None]
    return " ".join(part for part in parts if part) or None


def compose_item_text(title: str | None, year: int | None, genres: str | None, text: str | None) -> str | None:
    """An item as prompts and encoders see it: title, year and genres, then its own text.

    A text that already holds the title and every present year and genre (the built-in datasets
    compose theirs so) is kept as it is; otherwise the header goes before it, so that an items
    file's ``text`` column never hides its title, year and genres."""
    header = item_header(title, year, genres)
    if not text:
        return header
    if header is None or (title and title in text and (year is None or str(year) in text)
                          and (not genres or genres in text)):
        return text
    return f"{header} {text}"


def item_texts(store: Store, split_id: str) -> dict[int, str]:
    with store.connect() as con:
        rows = con.execute(
            "SELECT i.item_idx, i.title, i.year, i.genres, i.text, i.raw_id FROM items i "
            "JOIN splits s ON s.dataset_id = i.dataset_id WHERE s.split_id = ?",
            [split_id],
        ).fetchall()
    return {item: compose_item_text(title, year, genres, text) or raw_id
            for item, title, year, genres, text, raw_id in rows}


def user_histories(store: Store, split_id: str, max_items: int) -> dict[int, list[int]]:
    """Each user's training items, most recent first (implicit feedback: ratings are not shown)."""
    with store.connect() as con:
        rows = con.execute(
            "SELECT i.user_idx, list(i.item_idx ORDER BY r.ts DESC NULLS LAST, i.item_idx) FROM interactions i "
            "JOIN splits s USING (split_id) "
            "LEFT JOIN ratings r ON r.dataset_id = s.dataset_id AND r.user_idx = i.user_idx AND r.item_idx = i.item_idx "
            "WHERE i.split_id = ? AND i.split = 'train' GROUP BY i.user_idx ORDER BY i.user_idx",
            [split_id],
        ).fetchall()
    return {user: items[:max_items] for user, items in rows}


def item_takers(store: Store, split_id: str, max_takers: int, seed: int) -> dict[int, list[int]]:
    """A seeded sample of each item's training users."""
    with store.connect() as con:
        rows = con.execute(
            "SELECT item_idx, list(user_idx ORDER BY user_idx) FROM interactions "
            "WHERE split_id = ? AND split = 'train' GROUP BY item_idx ORDER BY item_idx",
            [split_id],
        ).fetchall()
    rng = random.Random(seed)
    return {item: sorted(rng.sample(users, min(max_takers, len(users)))) for item, users in rows}


def item_popularity(store: Store, split_id: str) -> dict[int, int]:
    """Training users per item (items without training edges are absent)."""
    with store.connect() as con:
        return dict(con.execute(
            "SELECT item_idx, count(*) FROM interactions WHERE split_id = ? AND split = 'train' GROUP BY item_idx",
            [split_id]).fetchall())


IMPORTED = "imported"  # the LM, prompt and encoder identity of what a dataset ships (RLMRec's usr_prf.pkl, ...)


def profile_texts(store: Store, split_id: str, kind: str, lm: str, prompt_hash: str) -> dict[int, str]:
    """The stored LLM profile texts of one kind ('user' or 'item') for an LM and a prompt, by entity;
    with ``lm`` = :data:`IMPORTED`, the profiles the dataset shipped with."""
    if lm == IMPORTED:
        with store.connect() as con:
            return dict(con.execute(
                "SELECT p.entity_idx, p.text FROM dataset_profiles p JOIN splits s ON s.dataset_id = p.dataset_id "
                "WHERE s.split_id = ? AND p.kind = ?", [split_id, kind]).fetchall())
    with store.connect() as con:
        return dict(con.execute(
            "SELECT entity_idx, text FROM profiles WHERE split_id = ? AND kind = ? AND lm = ? "
            "AND prompt_hash = ? AND status = 'ok'", [split_id, kind, lm, prompt_hash]).fetchall())


def imported_vectors(store: Store, split_id: str, kind: str) -> np.ndarray | None:
    """[N, d] the text embeddings the dataset shipped with (RLMRec's usr_emb_np.pkl / itm_emb_np.pkl), one
    row per user or item index; None when it shipped none."""
    with store.connect() as con:
        count, = con.execute(
            f"SELECT {'n_users' if kind == 'user' else 'n_items'} FROM datasets JOIN splits USING (dataset_id) "
            "WHERE split_id = ?", [split_id]).fetchone()
        rows = con.execute(
            "SELECT e.entity_idx, e.vector FROM dataset_embeddings e JOIN splits s ON s.dataset_id = e.dataset_id "
            "WHERE s.split_id = ? AND e.kind = ? ORDER BY e.entity_idx", [split_id, kind]).fetchall()
    if not rows:
        return None
    vectors = np.zeros((count, len(rows[0][1])), dtype=np.float32)
    for index, vector in rows:
        vectors[index] = vector
    return vectors
