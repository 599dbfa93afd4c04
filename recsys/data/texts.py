"""Text views of a split, read from the store: item texts, user histories and item takers.

Shared by the judge (prompt inputs) and the semantic module (texts to encode).
"""

from __future__ import annotations

import random

import numpy as np

from recsys.store import Store
from recsys.store.texts import (
    entity_count,
    imported_profile_texts,
    imported_vector_rows,
    item_text_rows,
    lm_profile_texts,
    train_items_by_user,
    train_user_counts,
    train_users_by_item,
)


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
        rows = item_text_rows(con, split_id)
    return {item: compose_item_text(title, year, genres, text) or raw_id
            for item, title, year, genres, text, raw_id in rows}


def user_histories(store: Store, split_id: str, max_items: int) -> dict[int, list[int]]:
    """Each user's training items, most recent first (implicit feedback: ratings are not shown)."""
    with store.connect() as con:
        rows = train_items_by_user(con, split_id)
    return {user: items[:max_items] for user, items in rows}


def item_takers(store: Store, split_id: str, max_takers: int, seed: int) -> dict[int, list[int]]:
    """A seeded sample of each item's training users."""
    with store.connect() as con:
        rows = train_users_by_item(con, split_id)
    rng = random.Random(seed)
    return {item: sorted(rng.sample(users, min(max_takers, len(users)))) for item, users in rows}


def item_popularity(store: Store, split_id: str) -> dict[int, int]:
    """Training users per item (items without training edges are absent)."""
    with store.connect() as con:
        return train_user_counts(con, split_id)


IMPORTED = "imported"  # the LM, prompt and encoder identity of what a dataset ships (RLMRec's usr_prf.pkl, ...)


def profile_texts(store: Store, split_id: str, kind: str, lm: str, prompt_hash: str) -> dict[int, str]:
    """The stored LLM profile texts of one kind ('user' or 'item') for an LM and a prompt, by entity;
    with ``lm`` = :data:`IMPORTED`, the profiles the dataset shipped with."""
    if lm == IMPORTED:
        with store.connect() as con:
            return imported_profile_texts(con, split_id, kind)
    with store.connect() as con:
        return lm_profile_texts(con, split_id, kind, lm, prompt_hash)


def imported_vectors(store: Store, split_id: str, kind: str) -> np.ndarray | None:
    """[N, d] the text embeddings the dataset shipped with (RLMRec's usr_emb_np.pkl / itm_emb_np.pkl), one
    row per user or item index; None when it shipped none."""
    with store.connect() as con:
        count = entity_count(con, split_id, kind)
        rows = imported_vector_rows(con, split_id, kind)
    if not rows:
        return None
    vectors = np.zeros((count, len(rows[0].vector)), dtype=np.float32)
    for index, vector in rows:
        vectors[index] = vector
    return vectors
