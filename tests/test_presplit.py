"""Pre-split folders, valid and malformed: RLMRec's pickles and train/valid/test rating files.

A valid folder's split is kept exactly (the same edges in each part as the files, noise in train
only); an invalid one gets one line that says what to fix, and the store stays as it was. Pickles
are refused unless they hold data: a pickle that would run code never runs it.
"""

from __future__ import annotations

import collections
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.data.datasets import DataValidationError, ReadOptions
from recsys.data.ingest import ensure_dataset
from recsys.data.presplit import load_presplit_folder
from recsys.data.split import DataConfig, DataWarning, make_split
from recsys.store import Store
from tests.test_data_validation import FIX, STORE_TABLES, assert_store_empty, store_counts

pytestmark = pytest.mark.filterwarnings("ignore::recsys.data.split.DataWarning")

N_USERS, N_ITEMS = 16, 40
PER_SPLIT = {"train": 6, "valid": 2, "test": 2}


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "s.duckdb")


def split_edges(seed: int = 0, weighted: bool = False) -> dict[str, pd.DataFrame]:
    """Disjoint (user, item[, rating]) edges per part: every user in every part."""
    rng = np.random.default_rng(seed)
    parts = {name: [] for name in PER_SPLIT}
    for user in range(N_USERS):
        items = rng.choice(N_ITEMS - 2, size=sum(PER_SPLIT.values()), replace=False)  # the last 2 items: unrated
        start = 0
        for name, count in PER_SPLIT.items():
            for item in items[start:start + count]:
                rating = float(rng.integers(1, 6)) if weighted else 1.0
                parts[name].append((user, int(item), rating))
            start += count
    return {name: pd.DataFrame(rows, columns=["user", "item", "rating"]) for name, rows in parts.items()}


def to_matrix(edges: pd.DataFrame, kind: str = "coo", shape=(N_USERS, N_ITEMS)):
    coo = sp.coo_matrix((edges.rating.to_numpy(), (edges.user.to_numpy(), edges.item.to_numpy())), shape=shape)
    if kind == "dense":
        return coo.toarray()
    return {"coo": coo, "csr": coo.tocsr(), "csc": coo.tocsc(), "coo_array": sp.coo_array(coo)}[kind]


def dump(path: Path, value, protocol: int = pickle.HIGHEST_PROTOCOL) -> Path:
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    return path


def matrix_folder(tmp_path: Path, kind: str = "coo", weighted: bool = False, edges=None, name: str = "rlm") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    edges = edges or split_edges(weighted=weighted)
    for part, file in (("train", "trn_mat.pkl"), ("valid", "val_mat.pkl"), ("test", "tst_mat.pkl")):
        dump(folder / file, to_matrix(edges[part], kind))
    return folder


def refused(store: Store, dataset, what: str, **options) -> str:
    with pytest.raises(DataValidationError) as info:
        make_split(store, DataConfig(dataset=str(dataset), **options))
    message = str(info.value)
    assert "\n" not in message and len(message) < 400, message
    assert re.search(what, message, re.IGNORECASE), message
    assert FIX.search(message), f"no fix in: {message}"
    assert_store_empty(store)
    return message


def split_pairs(store: Store, split_id: str) -> pd.DataFrame:
    """The split's rows with the raw ids they came with."""
    with store.connect() as con:
        return con.execute(
            "SELECT u.raw_id AS user, t.raw_id AS item, i.split, i.is_injected_noise, i.rating "
            "FROM interactions i JOIN splits s USING (split_id) "
            "JOIN users u ON u.dataset_id = s.dataset_id AND u.user_idx = i.user_idx "
            "JOIN items t ON t.dataset_id = s.dataset_id AND t.item_idx = i.item_idx WHERE split_id = ?",
            [split_id]).df()


def pair_set(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame.user.astype(str), frame.item.astype(str), strict=True))


def assert_split_kept(store: Store, split_id: str, edges: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = split_pairs(store, split_id)
    clean = rows[~rows.is_injected_noise]
    for part, frame in edges.items():
        assert pair_set(clean[clean.split == part]) == pair_set(frame), part
    assert (rows[rows.is_injected_noise].split == "train").all()
    assert not rows.duplicated(["user", "item"]).any()
    return rows


# ---------------------------------------------------------------------------------------------
# The pickle layout, valid


@pytest.mark.parametrize("kind", ["coo", "csr", "csc", "coo_array", "dense"])
def test_binary_matrices_keep_the_given_split(store, tmp_path, kind):
    edges = split_edges()
    folder = matrix_folder(tmp_path, kind, edges=edges)
    split_id = make_split(store, DataConfig(dataset=str(folder), noise_kind="random", noise_ratio=0.2))
    assert "|given" in split_id
    rows = assert_split_kept(store, split_id, edges)
    n_train = len(edges["train"])
    assert rows.is_injected_noise.sum() == round(0.2 * n_train)
    with store.connect() as con:
        n_items, = con.execute("SELECT n_items FROM datasets").fetchone()
        dropped, = con.execute("SELECT n_users_dropped FROM splits").fetchone()
    assert n_items == N_ITEMS and dropped == 0  # unrated item columns are kept as items to rank
    assert make_split(store, DataConfig(dataset=str(folder), noise_kind="random", noise_ratio=0.2)) == split_id


def test_weighted_csr_keeps_its_values_and_every_edge(store, tmp_path):
    edges = split_edges(weighted=True)
    folder = matrix_folder(tmp_path, "csr", edges=edges)
    split_id = make_split(store, DataConfig(dataset=str(folder), noise_ratio=0.0, noise_kind="random"))
    with store.connect() as con:
        ratings = sorted(r for r, in con.execute("SELECT rating FROM ratings").fetchall())
    assert ratings == sorted(pd.concat(edges.values()).rating)
    assert_split_kept(store, split_id, edges)  # by default every interaction of a given matrix is a positive


def test_weighted_with_a_threshold_draws_realistic_noise_from_train_only(store, tmp_path):
    edges = split_edges(weighted=True)
    folder = matrix_folder(tmp_path, "coo", edges=edges)
    split_id = make_split(store, DataConfig(dataset=str(folder), positive_threshold=4, noise_ratio=0.2))
    rows = split_pairs(store, split_id)
    noise = rows[rows.is_injected_noise]
    assert len(noise) and (noise.rating < 4).all()
    held_out = pair_set(edges["valid"]) | pair_set(edges["test"])
    assert not pair_set(noise) & held_out, "a pair of the given valid/test files was injected into train"


def test_shapes_that_differ_are_read_with_a_warning(store, tmp_path):
    edges = split_edges()
    folder = tmp_path / "rlm"
    folder.mkdir()
    dump(folder / "trn_mat.pkl", to_matrix(edges["train"], shape=(N_USERS, N_ITEMS)))
    dump(folder / "val_mat.pkl", to_matrix(edges["valid"], shape=(N_USERS, N_ITEMS - 2)))
    dump(folder / "tst_mat.pkl", to_matrix(edges["test"], shape=(N_USERS, N_ITEMS - 2)))
    raw = load_presplit_folder(folder)
    assert any("different shapes" in message for message in raw.warnings)


def test_negative_matrix_entries_are_accepted_with_a_warning(tmp_path):
    edges = split_edges(weighted=True)
    edges["train"].loc[0, "rating"] = -1.0
    raw = load_presplit_folder(matrix_folder(tmp_path, edges=edges))
    assert any("negative" in message for message in raw.warnings), raw.warnings


def test_old_protocol_pickles_are_read(tmp_path):
    edges = split_edges()
    folder = tmp_path / "rlm"
    folder.mkdir()
    for part, file in (("train", "trn_mat.pkl"), ("valid", "val_mat.pkl"), ("test", "tst_mat.pkl")):
        dump(folder / file, to_matrix(edges[part]), protocol=2)
    raw = load_presplit_folder(folder)
    assert len(raw.ratings) == sum(len(frame) for frame in edges.values())


def test_profiles_and_embeddings_are_imported(store, tmp_path):
    folder = matrix_folder(tmp_path)
    dump(folder / "usr_prf.pkl", {u: {"profile": f"User {u} likes mysteries.", "reasoning": "r"}
                                  for u in range(N_USERS)})
    dump(folder / "itm_prf.pkl", [f"Item {i} is a thriller." for i in range(N_ITEMS)])
    dump(folder / "usr_emb_np.pkl", np.random.default_rng(0).normal(size=(N_USERS, 8)).astype(np.float32))
    dump(folder / "itm_emb_np.pkl", np.random.default_rng(1).normal(size=(N_ITEMS, 8)))
    (folder / "items.csv").write_text("item_id,title\n" + "".join(f"{i},Book {i}\n" for i in range(N_ITEMS)))
    ensure_dataset(store, str(folder))
    with store.connect() as con:
        profiles = dict(con.execute("SELECT kind, count(*) FROM dataset_profiles GROUP BY kind").fetchall())
        vectors = dict(con.execute("SELECT kind, count(*) FROM dataset_embeddings GROUP BY kind").fetchall())
        text, = con.execute("SELECT text FROM dataset_profiles WHERE kind = 'user' AND entity_idx = 3").fetchone()
        title, = con.execute("SELECT title FROM items WHERE raw_id = '5'").fetchone()
    assert profiles == {"user": N_USERS, "item": N_ITEMS}
    assert vectors == {"user": N_USERS, "item": N_ITEMS}
    assert text == "User 3 likes mysteries." and title == "Book 5"


# ---------------------------------------------------------------------------------------------
# The pickle layout, invalid: one line, nothing written


def test_overlapping_train_and_test_pair(store, tmp_path):
    edges = split_edges()
    edges["test"] = pd.concat([edges["test"], edges["train"].iloc[[0]]], ignore_index=True)
    folder = matrix_folder(tmp_path, edges=edges)
    message = refused(store, folder, r"more than one split", noise_kind="random")
    assert "trn_mat.pkl and tst_mat.pkl" in message


def test_missing_matrix_file(store, tmp_path):
    folder = matrix_folder(tmp_path)
    (folder / "tst_mat.pkl").unlink()
    refused(store, folder, r"lacks tst_mat.pkl")


def test_binary_matrices_with_realistic_noise(store, tmp_path):
    refused(store, matrix_folder(tmp_path), r"binary.*--noise-kind random")


class Exploit:
    """Unpickling this would create the marker file."""

    marker: Path

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class NumpyGadget:
    """numpy.testing's runstring execs its argument: a numpy global that runs code."""

    code: str

    def __reduce__(self):
        from numpy.testing._private.utils import runstring

        return (runstring, (self.code, {}))


def _pickled_counter(marker: Path):
    return collections.Counter({"a": 1})


def _pickled_exploit(marker: Path):
    exploit = Exploit()
    exploit.marker = marker
    return exploit


def _pickled_numpy_gadget(marker: Path):
    gadget = NumpyGadget()
    gadget.code = f"open({str(marker)!r}, 'w').close()"
    return gadget


def _pickled_dotted_numpy_gadget(marker: Path):
    """Protocol 4 resolves dotted names from a module: ('numpy', 'testing._private.utils.runstring')."""
    code = f"open({str(marker)!r}, 'w').close()".encode()
    return (b"\x80\x04\x8c\x05numpy\x94\x8c\x20testing._private.utils.runstring\x94\x93\x94"
            + b"\x8c" + bytes([len(code)]) + code + b"\x94}\x94\x86\x94R\x94.")


def _pickled_exploit_in_a_dict(marker: Path):
    return {"matrix": sp.coo_matrix(np.eye(2)), "extra": _pickled_exploit(marker)}


@pytest.mark.parametrize("make", [_pickled_counter, _pickled_exploit, _pickled_numpy_gadget,
                                  _pickled_dotted_numpy_gadget, _pickled_exploit_in_a_dict],
                         ids=["counter", "reduce-open", "numpy-runstring", "dotted-numpy", "nested"])
@pytest.mark.parametrize("where", ["trn_mat.pkl", "usr_prf.pkl", "itm_emb_np.pkl"])
def test_a_pickle_that_is_not_data_is_refused_and_never_run(store, tmp_path, make, where):
    folder = matrix_folder(tmp_path)
    marker = tmp_path / "PWNED"
    value = make(marker)
    path = folder / where
    if isinstance(value, bytes):
        path.write_bytes(value)
    else:
        dump(path, value)
    message = refused(store, folder, rf"{re.escape(where)} holds a .* only scipy sparse matrices", noise_kind="random")
    assert "refused" in message
    assert not marker.exists(), "unpickling ran code"


def test_truncated_pickle(store, tmp_path):
    folder = matrix_folder(tmp_path)
    data = (folder / "val_mat.pkl").read_bytes()
    (folder / "val_mat.pkl").write_bytes(data[: len(data) // 2])
    refused(store, folder, r"val_mat.pkl is not a readable pickle", noise_kind="random")


def test_empty_pickle_file(store, tmp_path):
    folder = matrix_folder(tmp_path)
    (folder / "val_mat.pkl").write_bytes(b"")
    refused(store, folder, r"val_mat.pkl is not a readable pickle", noise_kind="random")


@pytest.mark.parametrize("value", [[[0, 1], [1, 0]], "a matrix", np.zeros(5), {"rows": [0]}],
                         ids=["list", "str", "1d-array", "dict"])
def test_matrix_file_holding_something_else(store, tmp_path, value):
    folder = matrix_folder(tmp_path)
    dump(folder / "trn_mat.pkl", value)
    refused(store, folder, r"trn_mat.pkl holds a .*, not a user x item sparse matrix", noise_kind="random")


def test_boolean_matrices_are_interactions(store, tmp_path):
    edges = split_edges()
    folder = tmp_path / "rlm"
    folder.mkdir()
    for part, file in (("train", "trn_mat.pkl"), ("valid", "val_mat.pkl"), ("test", "tst_mat.pkl")):
        dump(folder / file, to_matrix(edges[part], "csr") != 0)
    split_id = make_split(store, DataConfig(dataset=str(folder), noise_kind="random"))
    assert_split_kept(store, split_id, edges)


@pytest.mark.parametrize("dtype", [complex, object, "U3"])
def test_matrix_entries_that_are_not_real_numbers(store, tmp_path, dtype):
    folder = matrix_folder(tmp_path)
    dump(folder / "trn_mat.pkl", np.ones((N_USERS, N_ITEMS), dtype=dtype))
    refused(store, folder, r"trn_mat.pkl has .* entries; interactions must be real numbers", noise_kind="random")


@pytest.mark.parametrize("file", ["trn_mat.pkl", "val_mat.pkl"])
def test_an_empty_matrix(store, tmp_path, file):
    folder = matrix_folder(tmp_path)
    dump(folder / file, sp.csr_matrix((N_USERS, N_ITEMS)))
    refused(store, folder, rf"{file} has no interactions", noise_kind="random")


def test_matrix_with_nan_entries(store, tmp_path):
    edges = split_edges(weighted=True)
    edges["train"].loc[0, "rating"] = np.nan
    refused(store, matrix_folder(tmp_path, edges=edges), r"infinite or NaN", noise_kind="random")


@pytest.mark.parametrize(("value", "what"), [
    ({0: {"profile": 42}}, r"usr_prf.pkl: the profile of 0 is a dict"),
    ({0: 3.5}, r"the profile of 0 is a float"),
    ({"alice": "likes books"}, r"key 'alice' is not a user index"),
    ({N_USERS + 5: "likes books"}, rf"user {N_USERS + 5} is outside"),
    ("one profile for everyone", r"usr_prf.pkl holds a str"),
    ({1.5: "half a user"}, r"key '1.5' is not a user index"),
    ({3: "a", "3": "b"}, r"user 3 has two profiles"),
    ([None] * N_USERS, r"the profile of 0 is a NoneType"),
], ids=["profile-not-text", "float", "name-key", "out-of-range", "str", "fractional-key", "same-index-twice",
        "none"])
def test_bad_profiles(store, tmp_path, value, what):
    folder = matrix_folder(tmp_path)
    dump(folder / "usr_prf.pkl", value)
    refused(store, folder, what, noise_kind="random")


@pytest.mark.parametrize(("file", "value"), [
    ("usr_emb_np.pkl", np.zeros((N_USERS - 1, 8))),
    ("usr_emb_np.pkl", np.zeros((N_USERS, 8)).T),
    ("itm_emb_np.pkl", np.zeros(N_ITEMS)),
    ("itm_emb_np.pkl", np.zeros((N_ITEMS, 4, 2))),
    ("itm_emb_np.pkl", [[0.1, 0.2]] * 3),
    ("itm_emb_np.pkl", np.zeros((N_ITEMS, 0))),
    ("itm_emb_np.pkl", [[0.1, 0.2]] * (N_ITEMS - 1) + [[0.3]]),
    ("itm_emb_np.pkl", {i: np.ones(3) for i in range(N_ITEMS)}),
    ("usr_emb_np.pkl", None),
], ids=["one-row-short", "transposed", "1d", "3d", "list", "zero-width", "ragged", "dict", "none"])
def test_embeddings_of_the_wrong_shape(store, tmp_path, file, value):
    folder = matrix_folder(tmp_path)
    dump(folder / file, value)
    refused(store, folder, rf"{file} (has shape .*; expected one row per|has rows of different lengths|holds a)",
            noise_kind="random")


@pytest.mark.parametrize("value", [np.full((N_ITEMS, 4), np.nan), np.array([["a"] * 4] * N_ITEMS)],
                         ids=["nan", "text"])
def test_embeddings_that_are_not_finite_numbers(store, tmp_path, value):
    folder = matrix_folder(tmp_path)
    dump(folder / "itm_emb_np.pkl", value)
    refused(store, folder, r"itm_emb_np.pkl must hold finite numbers", noise_kind="random")


def test_declared_scale_outside_the_matrix_values(store, tmp_path):
    folder = matrix_folder(tmp_path, weighted=True)  # 1-5
    refused(store, folder, r"outside --rating-scale 2-4", rating_scale="2-4", noise_kind="random")


# ---------------------------------------------------------------------------------------------
# train/valid/test rating files


def write_parts(folder: Path, edges: dict[str, pd.DataFrame], with_rating: bool = True,
                names=("train.csv", "valid.csv", "test.csv")) -> Path:
    folder.mkdir(exist_ok=True)
    for (part, frame), name in zip(edges.items(), names, strict=True):
        out = pd.DataFrame({"user_id": "u" + frame.user.astype(str), "item_id": "b" + frame.item.astype(str)})
        if with_rating:
            out["rating"] = frame.rating
        path = folder / name
        if path.suffix == ".jsonl":
            out.to_json(path, orient="records", lines=True)
        elif path.suffix == ".parquet":
            out.to_parquet(path, index=False)
        else:
            out.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    return folder


def prefixed(edges: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {part: frame.assign(user="u" + frame.user.astype(str), item="b" + frame.item.astype(str))
            for part, frame in edges.items()}


@pytest.mark.parametrize("names", [("train.csv", "valid.csv", "test.csv"), ("train.jsonl", "val.parquet", "test.tsv")],
                         ids=["csv", "mixed-formats"])
def test_split_files_with_ratings_are_kept_as_given(store, tmp_path, names):
    edges = split_edges(weighted=True)
    edges = {part: frame.assign(rating=frame.rating.clip(lower=3)) for part, frame in edges.items()}  # all >= 3
    folder = write_parts(tmp_path / "parts", edges, names=names)
    split_id = make_split(store, DataConfig(dataset=str(folder), positive_threshold=3, noise_kind="random",
                                            noise_ratio=0.1))
    assert "|given" in split_id
    assert_split_kept(store, split_id, prefixed(edges))


def test_split_files_without_a_rating_column(store, tmp_path):
    edges = split_edges()
    folder = write_parts(tmp_path / "parts", edges, with_rating=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split_id = make_split(store, DataConfig(dataset=str(folder), noise_kind="random", noise_ratio=0.1))
    assert any("no rating column" in str(w.message) for w in caught if issubclass(w.category, DataWarning))
    assert_split_kept(store, split_id, prefixed(edges))


def test_split_files_without_ratings_refuse_realistic_noise(store, tmp_path):
    folder = write_parts(tmp_path / "parts", split_edges(), with_rating=False)
    refused(store, folder, r"binary")


def test_split_files_where_only_some_have_ratings(store, tmp_path):
    folder = write_parts(tmp_path / "parts", split_edges(), with_rating=True)
    pd.read_csv(folder / "test.csv").drop(columns="rating").to_csv(folder / "test.csv", index=False)
    refused(store, folder, r"some split files have a rating column", noise_kind="random")


def test_split_files_with_a_pair_in_train_and_valid(store, tmp_path):
    edges = split_edges()
    edges["valid"] = pd.concat([edges["valid"], edges["train"].iloc[[3]]], ignore_index=True)
    folder = write_parts(tmp_path / "parts", edges)
    message = refused(store, folder, r"more than one split", noise_kind="random")
    assert "train file and the valid file" in message


def test_split_file_with_a_bad_row_is_named(store, tmp_path):
    folder = write_parts(tmp_path / "parts", split_edges())
    frame = pd.read_csv(folder / "test.csv").astype({"rating": object})
    frame.loc[2, "rating"] = "great"
    frame.to_csv(folder / "test.csv", index=False)
    refused(store, folder, r"test.csv row 3: rating 'great' is not a number", noise_kind="random")


def test_split_file_in_latin1_names_the_encoding(store, tmp_path):
    folder = write_parts(tmp_path / "parts", split_edges())
    (folder / "valid.csv").write_bytes("user_id,item_id,rating\nJosé,b1,4\n".encode("latin-1"))
    refused(store, folder, r"valid.csv is not valid utf-8 .*--encoding", noise_kind="random")
    raw = load_presplit_folder(folder, options=ReadOptions(encoding="latin-1"))
    assert "José" in set(raw.ratings.user_id)


def test_two_files_for_one_part(store, tmp_path):
    folder = write_parts(tmp_path / "parts", split_edges())
    pd.read_csv(folder / "train.csv").to_json(folder / "train.jsonl", orient="records", lines=True)
    refused(store, folder, r"2 files for one part .*keep one", noise_kind="random")


@pytest.mark.parametrize("content", [(), ("train.csv", "test.csv"), ("notes.txt",), ("trn_mat.pkl.bak",)],
                         ids=["empty", "no-valid", "unrelated", "renamed-pickle"])
def test_a_folder_that_is_neither_layout(store, tmp_path, content):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in content:
        (folder / name).write_text("user_id,item_id,rating\nu1,i1,4\n")
    if content == ("train.csv", "test.csv"):
        refused(store, folder, r"has train.csv and test.csv but no valid file \(valid.csv, val.csv")
        return
    message = refused(store, folder, r"is neither the pickle layout .* nor train/valid/test")
    assert ("nothing" in message) if not content else all(name in message for name in content)


def test_store_counts_cover_every_dataset_table(store):
    assert set(STORE_TABLES) <= set(store.tables())
    assert store_counts(store) == dict.fromkeys(STORE_TABLES, 0)


@pytest.mark.parametrize("make", [_pickled_exploit, _pickled_numpy_gadget, _pickled_dotted_numpy_gadget],
                         ids=["reduce-open", "numpy-runstring", "dotted-numpy"])
def test_the_exploits_are_real(tmp_path, make):
    """The refused pickles do run code under a plain pickle.loads: the refusal above is what stops them."""
    marker = tmp_path / "PWNED"
    value = make(marker)
    pickle.loads(value if isinstance(value, bytes) else pickle.dumps(value))
    assert marker.exists()
