"""Per-user train/valid/test split of clean positives, and noise injected into train only.

Positives are ratings at or above ``positive_threshold`` (default: the dataset's, from its
:class:`~recsys.data.scale.RatingScale`). Each kept user's positives are shuffled with the seed and cut
3:1:1 (by default). A pre-split dataset keeps its given split exactly: no user is dropped and
nothing is re-cut. Noise is added to the training edges only:

* realistic: X% of the training edge count, drawn from kept users' own explicit ratings below the
  threshold (the LLMHD protocol): real interactions the user did not like. Implicit rows (a value
  that records no judgement, e.g. Book-Crossing's 0) are never used as dislikes;
* random: X% uniformly random items the user never rated, users drawn in proportion to their
  training degree.

Every injected edge carries ``is_injected_noise = TRUE``. Validation and test stay clean.
The split is computed in memory and written in one transaction with the dataset it needs, so a
failure at any step leaves the store as it was.

With ``label_reserve`` > 0, that share of each user's positives is held out before the cut, in
``reserved_pairs``: the judge's labeled eval set reads them, and no model trains or is ranked on them.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator

from recsys.data.datasets import MOVIELENS_SCALE, DataValidationError, ReadOptions
from recsys.data.ingest import prepare_dataset, stored_scale, write_dataset
from recsys.data.scale import RatingScale
from recsys.store import Store
from recsys.store.datasets import dataset_exists, dataset_item_count, dataset_size, has_given_split, ratings_frame
from recsys.store.splits import (
    insert_interactions,
    insert_reserved_pairs,
    insert_split,
    interaction_arrays,
    split_dataset_id,
    split_exists,
    split_frame,
)


class DataWarning(UserWarning):
    """Doubtful but accepted input (negative ratings, items nobody rated, ...)."""


class DataConfig(ReadOptions):
    """What data to train on, and how to split it and inject noise."""

    dataset: str = Field(
        "ml-100k",
        description="A built-in dataset (ml-100k, ml-1m, book-crossing), the path of your ratings file "
        "(CSV/TSV/Parquet/JSON with user_id, item_id, rating and an optional timestamp), or a pre-split folder "
        "(RLMRec's trn_mat.pkl/val_mat.pkl/tst_mat.pkl, or train/valid/test rating files), used as given.",
    )
    items_file: Path | None = Field(
        None, description="Optional item file for your own data: item_id plus title, year, genres, text."
    )
    positive_threshold: float | None = Field(
        None, description="Ratings at or above this are positives (default: the dataset's: 3 on MovieLens 1-5, 7 on "
        "Book-Crossing 1-10, every interaction of a binary matrix, else the scale's midpoint).")
    min_user_interactions: int = Field(
        5, ge=3, description="Users with fewer positives are dropped (each split needs one); a given split keeps "
        "every user."
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

    def data_config(self) -> DataConfig:
        """Just the data fields, from any config that extends this one."""
        return DataConfig.model_validate(self.model_dump(include=set(DataConfig.model_fields)))

    def threshold(self, scale: RatingScale) -> float:
        """The positive threshold: --positive-threshold, else the dataset's."""
        return self.positive_threshold if self.positive_threshold is not None else scale.positive

    def read_options(self) -> ReadOptions:
        return ReadOptions.model_validate(self.model_dump(include=set(ReadOptions.model_fields)))

    def split_id(self, dataset_id: str, scale: RatingScale = MOVIELENS_SCALE, given: bool = False) -> str:
        """A readable key: every field that changes the split is in it."""
        reserve = f"|reserve={self.label_reserve:g}" if self.label_reserve else ""  # old ids stay valid
        cut = "given" if given else f"min={self.min_user_interactions}|ratios={'-'.join(map(str, self.split_ratios))}"
        return (
            f"{dataset_id}|seed={self.seed}|{self.noise_kind}={self.noise_ratio:g}"
            f"|pos>={self.threshold(scale):g}|{cut}{reserve}"
        )


def dataset_id_of(split_id: str) -> str:
    """The dataset id a split id (:meth:`SplitConfig.split_id`) starts with."""
    return split_id.split("|", 1)[0]


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


def _realistic_noise(ratings: pd.DataFrame, kept: np.ndarray, dislikes: np.ndarray, count: int, rng,
                     threshold: float, scale: RatingScale, n_train: int) -> pd.DataFrame:
    pool = ratings[dislikes & ratings.user_idx.isin(kept).to_numpy()]
    if count > len(pool):
        if scale.binary:
            raise DataValidationError(
                "realistic noise draws from the users' own low ratings, and this dataset's interactions are binary "
                "(no rating is a dislike); use --noise-kind random.")
        most = int(len(pool) / max(n_train, 1) * 100) / 100
        implicit = (" (implicit rows never count as dislikes)" if scale.implicit is not None else "")
        raise DataValidationError(
            f"realistic noise needs {count} explicit ratings below {threshold:g} from kept users, but the data has "
            f"{len(pool)}{implicit}; use --noise-ratio {most:g} or less, or --noise-kind random.")
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


def _report(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=3)


def make_split(store: Store, config: DataConfig, report: Callable[[str], None] | None = None) -> str:
    """Create the split (and ingest the dataset) unless the store already has it; return its id.

    Nothing is written unless every step succeeds: the dataset's rows and the split land in one
    transaction. ``report`` receives the dataset's scale (when it is new) and any data warnings."""
    info, warn = (report, report) if report is not None else ((lambda message: None), _report)
    dataset_id, tables = prepare_dataset(store, config.dataset, config.items_file, config.read_options())
    if tables is None:
        scale = stored_scale(store, dataset_id)
        with store.connect() as con:
            given = has_given_split(con, dataset_id)
            split_id = config.split_id(dataset_id, scale, given)
            if split_exists(con, split_id):
                return split_id
            ratings = ratings_frame(con, dataset_id)
            num_items = dataset_item_count(con, dataset_id)
    else:
        scale = tables.scale
        given = bool(tables.ratings.given_split.notna().any())
        split_id = config.split_id(dataset_id, scale, given)
        ratings = tables.ratings[["user_idx", "item_idx", "rating", "given_split"]].sort_values(
            ["user_idx", "item_idx"], ignore_index=True)
        num_items = tables.n_items
        info(f"{dataset_id}: {tables.n_users} users, {tables.n_items} items, {len(ratings)} ratings; "
               f"{scale.describe(config.threshold(scale))}")
        for message in tables.warnings:
            warn(message)

    split_table, reserved, row = _compute_split(ratings, num_items, config, scale, given, split_id)
    with store.transaction() as con:
        if tables is not None and not dataset_exists(con, dataset_id):
            write_dataset(con, tables)
        if split_exists(con, split_id):
            return split_id
        insert_interactions(con, split_table)
        if len(reserved):
            insert_reserved_pairs(con, reserved[["user_idx", "item_idx", "rating"]].assign(split_id=split_id))
        insert_split(con, split_id, dataset_id, config.seed, config.noise_kind, config.noise_ratio, *row)
    return split_id


def _compute_split(ratings: pd.DataFrame, num_items: int, config: DataConfig, scale: RatingScale, given: bool,
                   split_id: str) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """The split's interaction rows, its reserved label pairs and the rest of its ``splits`` row."""
    rng = np.random.default_rng(config.seed)
    threshold = config.threshold(scale)
    explicit = scale.explicit_mask(ratings.rating.to_numpy())
    is_positive = explicit & (ratings.rating.to_numpy() >= threshold)
    positives = ratings[is_positive]
    if given:
        kept = np.sort(positives.user_idx.unique())
        if not (positives.given_split == "train").any():
            raise DataValidationError(f"the given split has no training positive (rating >= {threshold:g}); "
                                      "lower --positive-threshold.")
    else:
        per_user = positives.groupby("user_idx").size()
        kept = per_user.index[per_user >= config.min_user_interactions].to_numpy()
        if len(kept) == 0:
            raise DataValidationError(
                f"no user has {config.min_user_interactions} or more positives (rating >= {threshold:g}); "
                "lower --min-user-interactions or --positive-threshold."
            )
    n_dropped = int(ratings.user_idx.nunique() - len(kept))
    clean = positives[positives.user_idx.isin(kept)][["user_idx", "item_idx", "rating", "given_split"]].copy()
    reserved = clean.iloc[:0]
    if given:
        clean["split"] = clean.pop("given_split").to_numpy()
        if config.label_reserve:  # labels come out of the given train part only; valid and test stay as given
            train_rows = clean[clean.split == "train"]
            held = _reserve_per_user(train_rows.user_idx.to_numpy(), config.label_reserve, 1, rng)
            reserved = train_rows[held]
            clean = clean.drop(index=reserved.index)
    else:
        clean = clean.drop(columns="given_split")
        if config.label_reserve:
            held = _reserve_per_user(clean.user_idx.to_numpy(), config.label_reserve, config.min_user_interactions,
                                     rng)
            reserved, clean = clean[held], clean[~held].copy()
        clean["split"] = _cut_per_user(clean.user_idx.to_numpy(), config.split_ratios, rng)
    clean["is_injected_noise"] = False
    train = clean[clean.split == "train"]
    n_noise = int(np.floor(config.noise_ratio * len(train) + 0.5))
    if config.noise_kind == "realistic":
        dislikes = explicit & (ratings.rating.to_numpy() < threshold)
        if given:  # a given split's valid and test rows stay where they were given
            dislikes &= ratings.given_split.to_numpy() == "train"
        noise = _realistic_noise(ratings, kept, dislikes, n_noise, rng, threshold, scale, len(train))
    else:
        noise = _random_noise(ratings, train, num_items, n_noise, rng)
    noise = noise.assign(split="train", is_injected_noise=True)
    split_table = pd.concat([clean, noise[clean.columns]], ignore_index=True)
    split_table.insert(0, "split_id", split_id)
    counts = split_table.groupby(["split", "is_injected_noise"]).size()
    row = [
        json.dumps({**config.model_dump(mode="json"), "positive_threshold": threshold, "given_split": given}),
        len(kept),
        n_dropped,
        int(counts.get(("train", False), 0)),
        int(counts.get(("train", True), 0)),
        int(counts.get(("valid", False), 0)),
        int(counts.get(("test", False), 0)),
    ]
    return split_table, reserved, row


def split_summary(store: Store, split_id: str) -> dict:
    with store.connect() as con:
        row = split_frame(con, split_id)
    return row.iloc[0].to_dict()


def load_split(store: Store, split_id: str) -> SplitData:
    with store.connect() as con:
        dataset_id = split_dataset_id(con, split_id)
        num_users, num_items = dataset_size(con, dataset_id)
        rows = interaction_arrays(con, split_id)

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
