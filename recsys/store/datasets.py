"""Queries on ``datasets``, ``users``, ``items``, ``ratings``, ``dataset_profiles`` and ``dataset_embeddings``.

Each takes the caller's open connection, so a dataset's rows land in the caller's transaction."""

from __future__ import annotations

from typing import NamedTuple

import duckdb
import pandas as pd


class DatasetSize(NamedTuple):
    n_users: int
    n_items: int


class ScaleRow(NamedTuple):
    """A dataset's ``scale`` column: its RatingScale as JSON; None for datasets ingested before scales were stored."""

    scale: str | None


def dataset_exists(con: duckdb.DuckDBPyConnection, dataset_id: str) -> bool:
    return con.execute("SELECT 1 FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone() is not None


def dataset_content_hash(con: duckdb.DuckDBPyConnection, dataset_id: str) -> str | None:
    """The stored dataset's content hash; None when the store has no such dataset."""
    row = con.execute("SELECT content_hash FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone()
    return row[0] if row else None


def dataset_scale_row(con: duckdb.DuckDBPyConnection, dataset_id: str) -> ScaleRow | None:
    """The dataset's scale column; None when the store has no such dataset."""
    row = con.execute("SELECT scale FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone()
    return ScaleRow(*row) if row is not None else None


def dataset_size(con: duckdb.DuckDBPyConnection, dataset_id: str) -> DatasetSize:
    """Users and items of a stored dataset (a missing dataset raises TypeError)."""
    n_users, n_items = con.execute("SELECT n_users, n_items FROM datasets WHERE dataset_id = ?",
                                   [dataset_id]).fetchone()
    return DatasetSize(n_users, n_items)


def dataset_item_count(con: duckdb.DuckDBPyConnection, dataset_id: str) -> int:
    return con.execute("SELECT n_items FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone()[0]


def has_given_split(con: duckdb.DuckDBPyConnection, dataset_id: str) -> bool:
    """Whether any of the dataset's ratings came in a given (pre-split) train/valid/test part."""
    return con.execute("SELECT count(*) FROM ratings WHERE dataset_id = ? AND given_split IS NOT NULL",
                       [dataset_id]).fetchone()[0] > 0


def ratings_frame(con: duckdb.DuckDBPyConnection, dataset_id: str) -> pd.DataFrame:
    """user_idx, item_idx, rating, given_split of every rating, ordered by user and item."""
    return con.execute(
        "SELECT user_idx, item_idx, rating, given_split FROM ratings WHERE dataset_id = ? "
        "ORDER BY user_idx, item_idx", [dataset_id]).df()


def items_frame(con: duckdb.DuckDBPyConnection, dataset_id: str) -> pd.DataFrame:
    """item_id (the item index), title, year, genres, text of every item, ordered by index."""
    return con.execute("SELECT item_idx AS item_id, title, year, genres, text FROM items WHERE dataset_id = ? "
                       "ORDER BY item_idx", [dataset_id]).df()


# The inserts below read their DataFrame argument by name (DuckDB's replacement scan of Python locals).

def insert_users(con: duckdb.DuckDBPyConnection, users_table: pd.DataFrame) -> None:
    """Rows of (dataset_id, user_idx, raw_id), in that column order."""
    con.execute("INSERT INTO users (dataset_id, user_idx, raw_id) SELECT * FROM users_table")


def insert_items(con: duckdb.DuckDBPyConnection, items_table: pd.DataFrame) -> None:
    """Rows in the ``items`` table's column order (dataset_id, item_idx, raw_id, title, year, genres, text)."""
    con.execute("INSERT INTO items SELECT * FROM items_table")


def insert_ratings(con: duckdb.DuckDBPyConnection, ratings_table: pd.DataFrame) -> None:
    """Rows of (dataset_id, user_idx, item_idx, rating, ts, given_split), in that column order."""
    con.execute("INSERT INTO ratings (dataset_id, user_idx, item_idx, rating, ts, given_split) "
                "SELECT * FROM ratings_table")


def insert_dataset_profiles(con: duckdb.DuckDBPyConnection, profiles_table: pd.DataFrame) -> None:
    """Rows of (dataset_id, kind, entity_idx, text, profile), in that column order."""
    con.execute("INSERT INTO dataset_profiles (dataset_id, kind, entity_idx, text, profile) "
                "SELECT * FROM profiles_table")


def insert_dataset_embeddings(con: duckdb.DuckDBPyConnection, embeddings_table: pd.DataFrame) -> None:
    """Rows with columns dataset_id, kind, entity_idx, vector (cast to FLOAT[])."""
    con.execute("INSERT INTO dataset_embeddings (dataset_id, kind, entity_idx, vector) "
                "SELECT dataset_id, kind, entity_idx, vector::FLOAT[] FROM embeddings_table")


def insert_dataset(con: duckdb.DuckDBPyConnection, dataset_id: str, source: str, content_hash: str, n_users: int,
                   n_items: int, n_ratings: int, scale: str) -> None:
    """The ``datasets`` row; ``scale`` is the RatingScale as JSON."""
    con.execute(
        "INSERT INTO datasets (dataset_id, source, content_hash, n_users, n_items, n_ratings, scale) "
        "VALUES (?,?,?,?,?,?,?)",
        [dataset_id, source, content_hash, n_users, n_items, n_ratings, scale],
    )
