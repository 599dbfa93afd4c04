"""Queries on ``text_embeddings``, the encoded-text cache keyed by (encoder, text hash), and on the
split's shape (``datasets`` joined to ``splits``) that entity vectors are laid out by."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from recsys.store.database import Store


def cached_text_vectors(store: Store, encoder: str, text_hashes: Iterable[str]) -> dict[str, list[float]]:
    """The stored vector of each of these text hashes that ``encoder`` has encoded, by hash."""
    with store.connect() as con:
        return dict(con.execute(
            "SELECT text_hash, vector FROM text_embeddings WHERE encoder = ? AND text_hash IN ?",
            [encoder, sorted(set(text_hashes))]).fetchall())


def insert_text_vectors(store: Store, encoder: str, vectors: Iterable[tuple[str, np.ndarray]]) -> None:
    """Store (text hash, vector) pairs for ``encoder`` in one transaction; a hash it has is left as is."""
    with store.transaction() as con:
        con.executemany(
            "INSERT INTO text_embeddings (encoder, text_hash, vector) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(encoder, text_hash, vector.tolist()) for text_hash, vector in vectors])
