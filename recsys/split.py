"""Per-user train/valid/test split of clean positives, and noise injected into train only.

Positives are ratings at or above ``positive_threshold``. Each kept user's positives are shuffled
with the seed and cut 3:1:1 (by default). Noise is added to the training edges only:

* realistic: X% of the training edge count, drawn from kept users' own ratings below the threshold
  (the LLMHD protocol): real interactions the user did not like;
* random: X% uniformly random items the user never rated, users drawn in proportion to their
  training degree.

Every injected edge carries ``is_injected_noise = TRUE``. Validation and test stay clean.

With ``label_reserve`` > 0, that share of each user's positives is held out before the cut, in
``reserved_pairs``: the judge's labeled eval set reads them, and no model trains or is ranked on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, Field, field_validator

from recsys.datasets import DataValidationError, ensure_dataset
from recsys.store import Store


class DataConfig(BaseModel):
    """What data to train on, and how to split it and inject noise."""

    dataset: str = Field(
        "ml-100k",
        description="A built-in dataset (ml-100k, ml-1m) or the path of your ratings file "
        "(CSV/TSV/Parquet/JSON with user_id, item_id, rating and an optional timestamp).",
    )
    items_file: Path | None = Field(
        None, description="Optional item file for your own data: item_id plus title, year, genres, text."
    )
    positive_threshold: float = Field(3.0, description="Ratings at or above this are positives.")
    min_user_interactions: int = Field(
        5, ge=3, description="Users with fewer positives are dropped (each split needs one)."
    )
    split_ratios: tuple[int, int, int] = Field((3, 1, 1), description="Train:valid:test proportions per user.")
    noise_kind: Literal["realistic", "random"] = Field(
        "realistic", description="realistic: the user's own low ratings; random: unobserved items."
    )
    noise_ratio: float = Field(0.10, ge=0.0, le=0.5, description="Injected edges as a share of the training edges.")
    seed: int = Field(2026, description="Seed for the split, the noise and training (unless a train seed is given).")
    label_reserve: float = Field(
        0.0, ge=0.0, lt=0.5, description="Share of each user's positives held out of train/valid/test as "
        "labels for the judge's eval set (python -m evals.labels); 0 keeps every positive for the recommender."
    )

    @field_validator("split_ratios")
    @classmethod
    def _positive_ratios(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) <= 0:
            raise ValueError("every split ratio must be positive")
        return value

    def data_config(self) -> "DataConfig":
        """Just the data fields, from any config that extends this one."""
        return DataConfig.model_validate(self.model_dump(include=set(DataConfig.model_fields)))

    def split_id(self, dataset_id: str) -> str:
        """A readable key: every field that changes the split is in it."""
        ratios = "-".join(map(str, self.split_ratios))
        reserve = f"|reserve={self.label_reserve:g}" if self.label_reserve else ""  # old ids stay valid
        return (
            f"{dataset_id}|seed={self.seed}|{self.noise_kind}={self.noise_ratio:g}"
            f"|pos>={self.positive_threshold:g}|min={self.min_user_interactions}|ratios={ratios}{reserve}"
        )


@dataclass
class SplitData:
    """One split as tensors, ready for training. Node ids: users 0..U-1, items 0..I-1."""

    split_id: str
    dataset_id: str
    num_users: int
    num_items: int
    train: torch.Tensor  # [2, E] (user, item), clean and injected edges
    train_is_noise: torch.Tensor  # [E] bool, ground truth: evaluation code only
    valid: torch.Tensor  # [2, E_valid]
    test: torch.Tensor  # [2, E_test]

    @property
    def num_train(self) -> int:
        return self.train.size(1)


def _shuffled_rank_per_user(users: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by user in a random order within each user: (order, rank within the user, user's row count)."""
    order = np.lexsort((rng.random(len(users)), users))
    sorted_users = users[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    counts = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, counts)
    return order, rank, np.repeat(counts, counts)


def _cut_per_user(users: np.ndarray, ratios: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Label each row train/valid/test so that every user is cut by the ratios (at least one each)."""
    order, rank, size = _shuffled_rank_per_user(users, rng)
    total = sum(ratios)
    n_test = np.maximum(1, np.floor(size * ratios[2] / total + 0.5)).astype(int)
    n_valid = np.maximum(1, np.floor(size * ratios[1] / total + 0.5)).astype(int)
    n_train = size - n_valid - n_test
    labels = np.where(rank < n_train, "train", np.where(rank < n_train + n_valid, "valid", "test"))
    out = np.empty(len(users), dtype=object)
    out[order] = labels
    return out


def _reserve_per_user(users: np.ndarray, share: float, min_left: int, rng: np.random.Generator) -> np.ndarray:
    """A mask of each user's rows held out as labels: round(share x count), leaving at least min_left."""
    order, rank, size = _shuffled_rank_per_user(users, rng)
    n_reserved = np.minimum(np.floor(size * share + 0.5), np.maximum(size - min_left, 0))
    mask = np.empty(len(users), dtype=bool)
    mask[order] = rank < n_reserved
    return mask


def _realistic_noise(ratings: pd.DataFrame, kept: np.ndarray, threshold: float, count: int, rng) -> pd.DataFrame:
    pool = ratings[(ratings.rating < threshold) & ratings.user_idx.isin(kept)]
    if count > len(pool):
        raise DataValidationError(
            f"realistic noise needs {count} low-rated (< {threshold:g}) pairs but the data has {len(pool)}; "
            "lower --noise-ratio or use --noise-kind random."
        )
    return pool.iloc[np.sort(rng.choice(len(pool), size=count, replace=False))]


def _random_noise(ratings: pd.DataFrame, train: pd.DataFrame, num_items: int, count: int, rng) -> pd.DataFrame:
    rated = set((ratings.user_idx.to_numpy(np.int64) * num_items + ratings.item_idx.to_numpy(np.int64)).tolist())
    chosen: dict[int, None] = {}
    train_users = train.user_idx.to_numpy(np.int64)
    while len(chosen) < count:
        users = train_users[rng.integers(0, len(train_users), size=2 * (count - len(chosen)) + 16)]
        items = rng.integers(0, num_items, size=len(users))
        for key in (users * num_items + items).tolist():
            if key not in rated and key not in chosen:
                chosen[key] = None
                if len(chosen) == count:
                    break
    keys = np.fromiter(chosen, dtype=np.int64, count=count)
    return pd.DataFrame({"user_idx": keys // num_items, "item_idx": keys % num_items, "rating": np.nan})


def make_split(store: Store, config: DataConfig) -> str:
    """Create the split (and ingest the dataset) unless the store already has it; return its id."""
    dataset_id = ensure_dataset(store, config.dataset, config.items_file)
    split_id = config.split_id(dataset_id)
    with store.connect() as con:
        if con.execute("SELECT 1 FROM splits WHERE split_id = ?", [split_id]).fetchone():
            return split_id
        ratings = con.execute(
            "SELECT user_idx, item_idx, rating FROM ratings WHERE dataset_id = ? ORDER BY user_idx, item_idx",
            [dataset_id],
        ).df()
        num_items = con.execute("SELECT n_items FROM datasets WHERE dataset_id = ?", [dataset_id]).fetchone()[0]

    rng = np.random.default_rng(config.seed)
    positives = ratings[ratings.rating >= config.positive_threshold]
    per_user = positives.groupby("user_idx").size()
    kept = per_user.index[per_user >= config.min_user_interactions].to_numpy()
    n_dropped = int(ratings.user_idx.nunique() - len(kept))
    if len(kept) == 0:
        raise DataValidationError(
            f"no user has {config.min_user_interactions} or more positives (rating >= {config.positive_threshold:g}); "
            "lower --min-user-interactions or --positive-threshold."
        )
    clean = positives[positives.user_idx.isin(kept)].copy()
    reserved = clean.iloc[:0]
    if config.label_reserve:
        held = _reserve_per_user(clean.user_idx.to_numpy(), config.label_reserve, config.min_user_interactions, rng)
        reserved, clean = clean[held], clean[~held].copy()
    clean["split"] = _cut_per_user(clean.user_idx.to_numpy(), config.split_ratios, rng)
    clean["is_injected_noise"] = False
    train = clean[clean.split == "train"]
    n_noise = int(np.floor(config.noise_ratio * len(train) + 0.5))
    if config.noise_kind == "realistic":
        noise = _realistic_noise(ratings, kept, config.positive_threshold, n_noise, rng)
    else:
        noise = _random_noise(ratings, train, num_items, n_noise, rng)
    noise = noise.assign(split="train", is_injected_noise=True)
    split_table = pd.concat([clean, noise[clean.columns]], ignore_index=True)
    split_table.insert(0, "split_id", split_id)
    counts = split_table.groupby(["split", "is_injected_noise"]).size()

    with store.transaction() as con:
        if con.execute("SELECT 1 FROM splits WHERE split_id = ?", [split_id]).fetchone():
            return split_id
        con.execute(
            "INSERT INTO interactions (split_id, user_idx, item_idx, rating, split, is_injected_noise) "
            "SELECT split_id, user_idx, item_idx, rating, split, is_injected_noise FROM split_table"
        )
        if len(reserved):
            reserved_table = reserved[["user_idx", "item_idx", "rating"]].assign(split_id=split_id)  # noqa: F841 (read by the SQL below)
            con.execute("INSERT INTO reserved_pairs (split_id, user_idx, item_idx, rating) "
                        "SELECT split_id, user_idx, item_idx, rating FROM reserved_table")
        con.execute(
            "INSERT INTO splits (split_id, dataset_id, seed, noise_kind, noise_ratio, params, n_users_kept,"
            " n_users_dropped, n_train_clean, n_train_noise, n_valid, n_test) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                split_id,
                dataset_id,
                config.seed,
                config.noise_kind,
                config.noise_ratio,
                json.dumps(config.model_dump(mode="json")),
                len(kept),
                n_dropped,
                int(counts.get(("train", False), 0)),
                int(counts.get(("train", True), 0)),
                int(counts.get(("valid", False), 0)),
                int(counts.get(("test", False), 0)),
            ],
        )
    return split_id


def split_summary(store: Store, split_id: str) -> dict:
    with store.connect() as con:
        row = con.execute("SELECT * FROM splits WHERE split_id = ?", [split_id]).df()
    return row.iloc[0].to_dict()


def load_split(store: Store, split_id: str) -> SplitData:
    with store.connect() as con:
        dataset_id, = con.execute("SELECT dataset_id FROM splits WHERE split_id = ?", [split_id]).fetchone()
        num_users, num_items = con.execute(
            "SELECT n_users, n_items FROM datasets WHERE dataset_id = ?", [dataset_id]
        ).fetchone()
        rows = con.execute(
            "SELECT user_idx, item_idx, split, is_injected_noise FROM interactions WHERE split_id = ? "
            "ORDER BY user_idx, item_idx",
            [split_id],
        ).fetchnumpy()

    def edges(name: str) -> tuple[torch.Tensor, np.ndarray]:
        mask = np.asarray(rows["split"]) == name
        pairs = np.stack([np.asarray(rows["user_idx"])[mask], np.asarray(rows["item_idx"])[mask]])
        return torch.as_tensor(pairs, dtype=torch.long), mask

    train, train_mask = edges("train")
    return SplitData(
        split_id=split_id,
        dataset_id=dataset_id,
        num_users=int(num_users),
        num_items=int(num_items),
        train=train,
        train_is_noise=torch.as_tensor(np.asarray(rows["is_injected_noise"])[train_mask], dtype=torch.bool),
        valid=edges("valid")[0],
        test=edges("test")[0],
    )
