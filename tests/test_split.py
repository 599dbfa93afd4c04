import numpy as np
import pytest

from recsys.data.datasets import DataValidationError
from recsys.data.split import DataConfig, load_split, make_split, split_summary


@pytest.fixture(scope="module")
def ml100k_store(tmp_path_factory):
    from recsys.store import Store

    return Store(tmp_path_factory.mktemp("ml") / "store.duckdb")


def _rows(store, split_id):
    with store.connect() as con:
        return con.execute(
            "SELECT i.user_idx, i.item_idx, i.split, i.is_injected_noise, r.rating AS raw_rating "
            "FROM interactions i JOIN splits s USING (split_id) "
            "LEFT JOIN ratings r ON r.dataset_id = s.dataset_id AND r.user_idx = i.user_idx AND r.item_idx = i.item_idx "
            "WHERE split_id = ?",
            [split_id],
        ).df()


def test_split_is_per_user_3_1_1_without_overlap(ml100k_store):
    split_id = make_split(ml100k_store, DataConfig(noise_ratio=0.0))
    rows = _rows(ml100k_store, split_id)
    assert not rows.duplicated(["user_idx", "item_idx"]).any()  # no pair in two splits
    counts = rows.groupby(["user_idx", "split"]).size().unstack(fill_value=0)
    assert (counts[["train", "valid", "test"]] >= 1).all().all()  # every kept user is in every split
    total = counts.sum(axis=1)
    for name, share in (("train", 0.6), ("valid", 0.2), ("test", 0.2)):
        assert np.all(np.abs(counts[name] - share * total) <= 1.0), name  # 3:1:1 within rounding
    assert (rows.raw_rating >= 3).all()  # only positives without noise
    summary = split_summary(ml100k_store, split_id)
    assert summary["n_users_kept"] + summary["n_users_dropped"] == 943


def test_realistic_noise_count_source_and_flags(ml100k_store):
    split_id = make_split(ml100k_store, DataConfig(noise_ratio=0.1, noise_kind="realistic"))
    rows = _rows(ml100k_store, split_id)
    train = rows[rows.split == "train"]
    noise = train[train.is_injected_noise]
    clean_train = len(train) - len(noise)
    assert len(noise) == int(np.floor(0.1 * clean_train + 0.5))
    assert (noise.raw_rating < 3).all()  # drawn only from the user's own low ratings
    assert (rows[~rows.is_injected_noise].raw_rating >= 3).all()
    assert not rows[rows.split != "train"].is_injected_noise.any()  # valid and test stay clean


def test_random_noise_uses_unobserved_items(ml100k_store):
    split_id = make_split(ml100k_store, DataConfig(noise_ratio=0.05, noise_kind="random"))
    rows = _rows(ml100k_store, split_id)
    noise = rows[rows.is_injected_noise]
    clean_train = ((rows.split == "train") & ~rows.is_injected_noise).sum()
    assert len(noise) == int(np.floor(0.05 * clean_train + 0.5))
    assert noise.raw_rating.isna().all()  # never rated by that user
    assert (noise.split == "train").all()


def test_split_is_deterministic_and_reused(ml100k_store, tmp_path):
    from recsys.store import Store

    config = DataConfig(noise_ratio=0.1, seed=7)
    first = _rows(ml100k_store, make_split(ml100k_store, config))
    again = make_split(ml100k_store, config)  # reused: no second copy
    with ml100k_store.connect() as con:
        assert con.execute("SELECT count(*) FROM splits WHERE split_id = ?", [again]).fetchone()[0] == 1
    other = Store(tmp_path / "other.duckdb")
    second = _rows(other, make_split(other, config))
    key = ["user_idx", "item_idx"]
    assert first.sort_values(key).reset_index(drop=True)[key + ["split", "is_injected_noise"]].equals(
        second.sort_values(key).reset_index(drop=True)[key + ["split", "is_injected_noise"]]
    )
    different = _rows(other, make_split(other, DataConfig(noise_ratio=0.1, seed=8)))
    assert not set(map(tuple, first[first.split == "test"][key].values)) == set(
        map(tuple, different[different.split == "test"][key].values)
    )


def test_load_split_tensors(ml100k_store):
    split_id = make_split(ml100k_store, DataConfig(noise_ratio=0.1))
    data = load_split(ml100k_store, split_id)
    assert (data.num_users, data.num_items) == (943, 1682)
    assert data.train.shape[0] == 2 and data.train_is_noise.numel() == data.num_train
    assert int(data.train_is_noise.sum()) == split_summary(ml100k_store, split_id)["n_train_noise"]


def test_small_users_are_dropped_and_counted(store, ratings_csv):
    split_id = make_split(store, DataConfig(dataset=str(ratings_csv), noise_ratio=0.0, min_user_interactions=12))
    summary = split_summary(store, split_id)
    assert summary["n_users_dropped"] > 0
    assert summary["n_users_kept"] + summary["n_users_dropped"] == 40


def test_too_much_realistic_noise_is_a_clear_error(store, ratings_csv):
    with pytest.raises(DataValidationError, match=r"use --noise-ratio 0\.\d+ or less, or --noise-kind random"):
        make_split(store, DataConfig(dataset=str(ratings_csv), noise_ratio=0.5, positive_threshold=1.5))
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM interactions").fetchone()[0] == 0


def test_label_reserve_holds_positives_out_of_every_split(store, ratings_csv):
    from recsys.data.split import DataConfig, make_split
    from tests.conftest import query

    plain = DataConfig(dataset=str(ratings_csv))
    assert "reserve" not in plain.split_id("d")  # ids of splits made before the reserve existed stay valid
    split_id = make_split(store, DataConfig(dataset=str(ratings_csv), label_reserve=0.2))
    assert split_id.endswith("|reserve=0.2")
    reserved = query(store.path, "SELECT user_idx, item_idx, rating FROM reserved_pairs WHERE split_id = ?", [split_id])
    assert reserved and all(rating >= 3 for *_, rating in reserved)
    clash = query(store.path, "SELECT count(*) FROM reserved_pairs JOIN interactions USING (split_id, user_idx, item_idx)"
                              " WHERE split_id = ?", [split_id])[0][0]
    assert clash == 0
    # Every user keeps at least min_user_interactions positives for train/valid/test.
    kept = query(store.path, "SELECT min(n) FROM (SELECT count(*) AS n FROM interactions WHERE split_id = ? "
                             "AND NOT is_injected_noise GROUP BY user_idx)", [split_id])[0][0]
    assert kept >= 5
