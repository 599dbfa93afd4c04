"""Datasets into the store: which reader a `--dataset` names, its rows indexed, and one write.

`--dataset` is a built-in name (:data:`recsys.data.datasets.BUILTIN_DATASETS`), a ratings file, or a
pre-split folder (:mod:`recsys.data.presplit`). :func:`prepare_dataset` reads and indexes it in memory;
the caller writes it with :func:`write_dataset` in the same transaction as whatever is derived
from it (the split), so that a failure at any step leaves no dataset rows behind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.datasets import (
    BUILTIN_DATASETS,
    MOVIELENS_SCALE,
    DataValidationError,
    RawDataset,
    ReadOptions,
    builtin_dataset_id,
    load_builtin,
    load_user_files,
)
from recsys.data.presplit import load_presplit_folder
from recsys.data.scale import RatingScale
from recsys.store import Store
from recsys.store.datasets import (
    dataset_content_hash,
    dataset_exists,
    dataset_scale_row,
    insert_dataset,
    insert_dataset_embeddings,
    insert_dataset_profiles,
    insert_items,
    insert_ratings,
    insert_users,
)
from recsys.store.splits import split_dataset_id


def read_dataset(dataset: str, items_file: Path | None = None, options: ReadOptions | None = None) -> RawDataset:
    """A built-in dataset by name, a ratings file, or a pre-split folder; nothing is written."""
    options = options or ReadOptions()
    if dataset in BUILTIN_DATASETS:
        return load_builtin(dataset, options)
    path = Path(dataset)
    if path.is_dir():
        return load_presplit_folder(path, items_file, options)
    if not path.exists():
        raise DataValidationError(
            f"--dataset {dataset!r} is neither a built-in dataset ({', '.join(BUILTIN_DATASETS)}) nor an existing "
            "file or folder."
        )
    return load_user_files(path, items_file, options=options)


def _index_order(ids: pd.Series) -> np.ndarray:
    """Unique ids in a stable order: numeric order when every id is an integer, else lexical.

    Ids stay strings: "01" and "1" are two ids (ordered by value, then text), and ids past 64 bits
    sort as Python integers."""
    unique = pd.unique(ids)
    if all(re.fullmatch(r"-?\d+", value) for value in unique):
        return np.array(sorted(unique, key=lambda value: (int(value), value)), dtype=object)
    return np.sort(unique.astype(str)).astype(object)


@dataclass
class DatasetTables:
    """A dataset indexed for the store: the rows of every table it fills, not yet written."""

    dataset_id: str
    source: str
    content_hash: str
    scale: RatingScale
    users: pd.DataFrame
    items: pd.DataFrame
    ratings: pd.DataFrame
    profiles: pd.DataFrame | None
    embeddings: pd.DataFrame | None
    warnings: list[str]

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)


def dataset_id_for(raw: RawDataset) -> str:
    """The name for built-in datasets, name plus a content hash for the user's data, so that an edited
    file never mixes with results computed on the old one."""
    return raw.name if raw.builtin else f"{raw.name}-{raw.content_hash()[:8]}"


def index_dataset(raw: RawDataset, dataset_id: str | None = None) -> DatasetTables:
    """Give users and items dense indices and build the store's rows (in memory)."""
    dataset_id = dataset_id or dataset_id_for(raw)
    scale = raw.scale or RatingScale.infer(raw.ratings["rating"].to_numpy(dtype=float))
    user_ids = _index_order(raw.ratings["user_id"])
    item_ids = _index_order(raw.items["item_id"])
    user_index = pd.Series(np.arange(len(user_ids), dtype=np.int32), index=user_ids)
    item_index = pd.Series(np.arange(len(item_ids), dtype=np.int32), index=item_ids)
    items = raw.items.set_index("item_id").loc[item_ids].reset_index()
    items_table = pd.DataFrame(
        {
            "dataset_id": dataset_id,
            "item_idx": item_index.loc[items["item_id"]].to_numpy(),
            "raw_id": items["item_id"].astype(str),
            "title": items["title"].astype("string"),
            "year": items["year"].astype("Int64"),
            "genres": items["genres"].astype("string"),
            "text": items["text"].astype("string"),
        }
    )
    users_table = pd.DataFrame({"dataset_id": dataset_id, "user_idx": user_index.to_numpy(),
                                "raw_id": user_ids.astype(str)})
    ratings = raw.ratings
    timestamp = ratings["timestamp"] if "timestamp" in ratings else pd.Series(pd.NA, index=ratings.index)
    given = ratings["given_split"] if "given_split" in ratings else pd.Series(None, index=ratings.index, dtype=object)
    ratings_table = pd.DataFrame(
        {
            "dataset_id": dataset_id,
            "user_idx": user_index.loc[ratings["user_id"]].to_numpy(),
            "item_idx": item_index.loc[ratings["item_id"]].to_numpy(),
            "rating": ratings["rating"].to_numpy(dtype=float),
            "ts": timestamp.astype("Int64").to_numpy(),
            "given_split": given.astype(object).to_numpy(),
        }
    )
    index_by_kind = {"user": user_index, "item": item_index}
    profiles_table = None
    if raw.profiles is not None and len(raw.profiles):
        frames = []
        for kind, rows in raw.profiles.groupby("kind"):
            known = rows[rows.raw_id.isin(index_by_kind[kind].index)]
            frames.append(pd.DataFrame({"dataset_id": dataset_id, "kind": kind,
                                        "entity_idx": index_by_kind[kind].loc[known.raw_id].to_numpy(),
                                        "text": known.text.to_numpy(), "profile": known.profile.to_numpy()}))
        profiles_table = pd.concat(frames, ignore_index=True)
    embeddings_table = None
    if raw.embeddings:
        frames = []
        for kind, (ids, vectors) in raw.embeddings.items():
            known = np.isin(ids, index_by_kind[kind].index)
            frames.append(pd.DataFrame({"dataset_id": dataset_id, "kind": kind,
                                        "entity_idx": index_by_kind[kind].loc[ids[known]].to_numpy(),
                                        "vector": list(np.asarray(vectors, dtype=np.float32)[known])}))
        embeddings_table = pd.concat(frames, ignore_index=True)
    return DatasetTables(dataset_id, raw.source, raw.content_hash(), scale, users_table, items_table, ratings_table,
                         profiles_table, embeddings_table, list(raw.warnings))


def write_dataset(con, tables: DatasetTables) -> None:
    """Insert a dataset's rows inside the caller's transaction."""
    insert_users(con, tables.users)
    insert_items(con, tables.items)
    insert_ratings(con, tables.ratings)
    if tables.profiles is not None:
        insert_dataset_profiles(con, tables.profiles)
    if tables.embeddings is not None:
        insert_dataset_embeddings(con, tables.embeddings)
    insert_dataset(con, tables.dataset_id, tables.source, tables.content_hash, tables.n_users, tables.n_items,
                   len(tables.ratings), tables.scale.model_dump_json())


def stored_content_hash(store: Store, dataset_id: str) -> str | None:
    with store.connect() as con:
        return dataset_content_hash(con, dataset_id)


def stored_scale(store: Store, dataset_id: str) -> RatingScale:
    """The dataset's scale; datasets ingested before scales were stored are MovieLens-like (1-5)."""
    with store.connect() as con:
        row = dataset_scale_row(con, dataset_id)
    if row is None:
        raise DataValidationError(f"the store has no dataset {dataset_id!r}.")
    return RatingScale.model_validate(json.loads(row.scale)) if row.scale else MOVIELENS_SCALE


def split_scale(store: Store, split_id: str) -> RatingScale:
    with store.connect() as con:
        dataset_id = split_dataset_id(con, split_id)
    return stored_scale(store, dataset_id)


def prepare_dataset(store: Store, dataset: str, items_file: Path | None = None, options: ReadOptions | None = None
                    ) -> tuple[str, DatasetTables | None]:
    """The dataset id, and its rows when the store does not hold it yet (nothing is written here)."""
    options = options or ReadOptions()
    if dataset in BUILTIN_DATASETS:
        dataset_id = builtin_dataset_id(dataset, options)
        if stored_content_hash(store, dataset_id) is not None:
            return dataset_id, None
    raw = read_dataset(dataset, items_file, options)
    dataset_id = dataset_id_for(raw)
    stored = stored_content_hash(store, dataset_id)
    if stored is None:
        return dataset_id, index_dataset(raw, dataset_id)
    if stored != raw.content_hash():
        raise DataValidationError(
            f"the store already holds a different dataset named {dataset_id!r}; use another --store.")
    return dataset_id, None


def ingest(store: Store, raw: RawDataset, dataset_id: str | None = None) -> str:
    """Write a dataset once; a second call with the same content is a no-op. Returns its id."""
    dataset_id = dataset_id or dataset_id_for(raw)
    stored = stored_content_hash(store, dataset_id)
    if stored is not None:
        if stored != raw.content_hash():
            raise DataValidationError(
                f"the store already holds a different dataset named {dataset_id!r}; use another --store.")
        return dataset_id
    tables = index_dataset(raw, dataset_id)
    with store.transaction() as con:
        # Re-check inside the transaction: another process may have ingested it meanwhile.
        if not dataset_exists(con, dataset_id):
            write_dataset(con, tables)
    return dataset_id


def ensure_dataset(store: Store, dataset: str, items_file: Path | None = None, options: ReadOptions | None = None) -> str:
    """Ingest a built-in dataset by name, or the user's ratings file or pre-split folder by path; return its id."""
    dataset_id, tables = prepare_dataset(store, dataset, items_file, options)
    if tables is not None:
        with store.transaction() as con:
            if not dataset_exists(con, dataset_id):
                write_dataset(con, tables)
    return dataset_id
