"""Queries on ``splits``, ``interactions`` and ``reserved_pairs``.

Each takes the caller's open connection, so a split's rows land in the caller's transaction."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from recsys.store.datasets import DatasetSize


def split_exists(con: duckdb.DuckDBPyConnection, split_id: str) -> bool:
    return con.execute("SELECT 1 FROM splits WHERE split_id = ?", [split_id]).fetchone() is not None


def split_size(con: duckdb.DuckDBPyConnection, split_id: str) -> DatasetSize:
    """(users, items) of the split's dataset: how many entities, and entity vectors, each side has."""
    return DatasetSize(*con.execute("SELECT n_users, n_items FROM datasets JOIN splits USING (dataset_id) "
                                    "WHERE split_id = ?", [split_id]).fetchone())


def split_dataset_id(con: duckdb.DuckDBPyConnection, split_id: str) -> str:
    """The dataset a stored split was cut from (a missing split raises TypeError)."""
    dataset_id, = con.execute("SELECT dataset_id FROM splits WHERE split_id = ?", [split_id]).fetchone()
    return dataset_id


def split_frame(con: duckdb.DuckDBPyConnection, split_id: str) -> pd.DataFrame:
    """The split's ``splits`` row, every column (no row when the split is not stored)."""
    return con.execute("SELECT * FROM splits WHERE split_id = ?", [split_id]).df()


def interaction_arrays(con: duckdb.DuckDBPyConnection, split_id: str) -> dict[str, np.ndarray]:
    """user_idx, item_idx, split, is_injected_noise of every interaction, ordered by user and item."""
    return con.execute(
        "SELECT user_idx, item_idx, split, is_injected_noise FROM interactions WHERE split_id = ? "
        "ORDER BY user_idx, item_idx",
        [split_id],
    ).fetchnumpy()


def interactions_frame(con: duckdb.DuckDBPyConnection, split_id: str) -> pd.DataFrame:
    """user_idx, item_idx, split of every interaction, in no set order."""
    return con.execute("SELECT user_idx, item_idx, split FROM interactions WHERE split_id = ?", [split_id]).df()


# The inserts below read their DataFrame argument by name (DuckDB's replacement scan of Python locals).

def insert_interactions(con: duckdb.DuckDBPyConnection, split_table: pd.DataFrame) -> None:
    """Rows with columns split_id, user_idx, item_idx, rating, split, is_injected_noise."""
    con.execute(
        "INSERT INTO interactions (split_id, user_idx, item_idx, rating, split, is_injected_noise) "
        "SELECT split_id, user_idx, item_idx, rating, split, is_injected_noise FROM split_table"
    )


def insert_reserved_pairs(con: duckdb.DuckDBPyConnection, reserved_table: pd.DataFrame) -> None:
    """Rows with columns split_id, user_idx, item_idx, rating."""
    con.execute("INSERT INTO reserved_pairs (split_id, user_idx, item_idx, rating) "
                "SELECT split_id, user_idx, item_idx, rating FROM reserved_table")


def insert_split(con: duckdb.DuckDBPyConnection, split_id: str, dataset_id: str, seed: int, noise_kind: str,
                 noise_ratio: float, params: str, n_users_kept: int, n_users_dropped: int, n_train_clean: int,
                 n_train_noise: int, n_valid: int, n_test: int) -> None:
    """The ``splits`` row; ``params`` is the split's config as JSON."""
    con.execute(
        "INSERT INTO splits (split_id, dataset_id, seed, noise_kind, noise_ratio, params, n_users_kept,"
        " n_users_dropped, n_train_clean, n_train_noise, n_valid, n_test) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [split_id, dataset_id, seed, noise_kind, noise_ratio, params, n_users_kept, n_users_dropped, n_train_clean,
         n_train_noise, n_valid, n_test],
    )
