"""A corpus of malformed and valid user files, and the promise for each invalid one.

The promise (issue 14): one line that says what is wrong and how to fix it, and the store unchanged
(no dataset rows, no split rows), also when the read succeeds and the split step then fails. Through
the CLI: exit 2, no traceback, and no store file created by a failed first command. Doubtful input
(negative ratings, items nobody rated) is accepted with a warning.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys.data.datasets import DataValidationError, ReadOptions, load_user_files
from recsys.data.ingest import ensure_dataset
from recsys.data.split import DataConfig, DataWarning, make_split
from recsys.store import Store
from tests.conftest import synthetic_ratings

REPO = Path(__file__).resolve().parents[1]
PYTHON = REPO / ".venv" / "bin" / "python"
STORE_TABLES = ("datasets", "users", "items", "ratings", "splits", "interactions", "reserved_pairs",
                "dataset_profiles", "dataset_embeddings")
# Every message says how to fix it: one of these verbs (or a flag to pass) is in it.
FIX = re.compile(r"\b(use|pass|rename|fill|drop|keep|add|lower|quote|give|write|store|save|fix|choose|run|"
                 r"reinstall|check|needs?|must|expected|pickle|key|export|decompress|unzip)\b|--[a-z]", re.IGNORECASE)


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "s.duckdb")


def store_counts(store: Store) -> dict[str, int]:
    with store.connect() as con:
        return {table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in STORE_TABLES}


def assert_store_empty(store: Store) -> None:
    assert store_counts(store) == dict.fromkeys(STORE_TABLES, 0)


def refused(store: Store, dataset, what: str, fix: re.Pattern | None = FIX, **options) -> str:
    """make_split refuses the input with one line matching ``what`` (and a fix); the store is unchanged."""
    with pytest.raises(DataValidationError) as info:
        make_split(store, DataConfig(dataset=str(dataset), **options))
    message = str(info.value)
    assert "\n" not in message and "\r" not in message, message
    assert len(message) < 400, message
    assert re.search(what, message, re.IGNORECASE), message
    if fix is not None:
        assert fix.search(message), f"no fix in: {message}"
    assert "Traceback" not in message
    assert_store_empty(store)
    return message


def accepted(store: Store, dataset, **options) -> tuple[str, list[str]]:
    """make_split succeeds; returns the split id and the data warnings it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        split_id = make_split(store, DataConfig(dataset=str(dataset), **options))
    return split_id, [str(w.message) for w in caught if issubclass(w.category, DataWarning)]


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def good_frame(**kwargs) -> pd.DataFrame:
    return synthetic_ratings(num_users=12, num_items=30, per_user=15, **kwargs)


def csv_text(frame: pd.DataFrame, sep: str = ",") -> str:
    return frame.to_csv(index=False, sep=sep)


# ---------------------------------------------------------------------------------------------
# Columns


def test_missing_rating_column(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", csv_text(good_frame().drop(columns="rating")))
    message = refused(store, path, r"lacks column\(s\) rating")
    assert "rename" in message


def test_renamed_columns_name_what_was_found(store, tmp_path):
    frame = good_frame().rename(columns={"user_id": "userId", "item_id": "movieId"})
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    message = refused(store, path, r"user_id, item_id")
    assert "userId" in message and "movieId" in message


def test_a_thousand_columns_are_not_all_listed(store, tmp_path):
    columns = [f"col{i}" for i in range(1000)]
    row = ",".join("1" for _ in columns)
    path = write_csv(tmp_path / "wide.csv", ",".join(columns) + "\n" + row + "\n" + row + "\n")
    message = refused(store, path, r"lacks column")
    assert "col999" not in message and "more" in message


@pytest.mark.parametrize("header", ["user_id , item_id, rating", "User_ID,Item_ID,Rating"], ids=["spaces", "case"])
def test_column_names_that_differ_in_case_or_spaces_are_pointed_out(store, tmp_path, header):
    path = write_csv(tmp_path / "r.csv", header + "\nu1,i1,4\nu2,i2,5\n")
    message = refused(store, path, r"lacks column")
    assert "mind case and spaces" in message
    if header.startswith("user_id "):
        assert "'user_id '" in message  # the trailing space is visible


def test_duplicate_header_names(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", "user_id,item_id,rating,rating\nu1,i1,4,5\n")
    refused(store, path, r"more than once")


# ---------------------------------------------------------------------------------------------
# Empty and header-only files


@pytest.mark.parametrize("content", ["", "\n\n", "   \n"], ids=["zero-bytes", "blank-lines", "spaces"])
def test_empty_file(store, tmp_path, content):
    path = write_csv(tmp_path / "r.csv", content)
    refused(store, path, r"empty|no rows|header")


def test_header_only(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", "user_id,item_id,rating\n")
    refused(store, path, r"header but no rows|no rows")


def test_header_only_jsonl(store, tmp_path):
    path = write_csv(tmp_path / "r.jsonl", "\n")
    refused(store, path, r"empty|blank|no rows|not JSON records")


# ---------------------------------------------------------------------------------------------
# Row values


def test_duplicate_pairs(store, tmp_path):
    frame = good_frame()
    frame = pd.concat([frame, frame.iloc[[3]]], ignore_index=True)
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, r"duplicate \(user_id, item_id\)")


@pytest.mark.parametrize("column", ["user_id", "item_id", "rating"])
def test_blank_cells(store, tmp_path, column):
    frame = good_frame().astype({"rating": object})
    frame.loc[5, column] = ""
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, rf"row 6: {column} is empty or NaN")


def test_nan_literal_rating(store, tmp_path):
    frame = good_frame().astype({"rating": object})
    frame.loc[2, "rating"] = "NaN"
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, r"row 3: rating")


def test_non_numeric_rating_names_one_value(store, tmp_path):
    frame = good_frame().astype({"rating": object})
    frame["rating"] = frame["rating"].astype(str)
    frame.loc[4, "rating"] = "five stars"
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    message = refused(store, path, r"row 5: rating 'five stars' is not a number")
    assert message.count("'") <= 4  # the value, not the whole column


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400", "Infinity"])
def test_infinite_or_overflowing_rating(store, tmp_path, value):
    frame = good_frame().astype({"rating": object})
    frame.loc[1, "rating"] = value
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, r"row 2: rating is infinite")


def test_json_rating_past_a_double(store, tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(RECORD) + '\n{"user_id": "u2", "item_id": "i1", "rating": 1e400}\n')
    refused(store, path, r"row 2: rating is infinite")


def test_negative_ratings_are_accepted_with_a_warning(store, tmp_path):
    frame = good_frame()
    frame["rating"] = frame["rating"] - 3  # -2..2
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    _, messages = accepted(store, path, noise_ratio=0.0)
    assert any("negative ratings" in message for message in messages), messages
    assert store_counts(store)["splits"] == 1


def test_items_nobody_rated_are_accepted_with_a_warning(store, tmp_path):
    frame = good_frame()
    ratings = write_csv(tmp_path / "r.csv", csv_text(frame))
    items = pd.DataFrame({"item_id": [*sorted(frame.item_id.unique()), "never-rated"], "title": "A book"})
    items_path = write_csv(tmp_path / "items.csv", csv_text(items))
    _, messages = accepted(store, ratings, items_file=items_path, noise_ratio=0.0)
    assert any("have no ratings" in message and "never-rated" in message for message in messages), messages
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM items WHERE raw_id = 'never-rated'").fetchone()[0] == 1


def test_items_file_missing_a_rated_item(store, tmp_path):
    frame = good_frame()
    ratings = write_csv(tmp_path / "r.csv", csv_text(frame))
    items = pd.DataFrame({"item_id": sorted(frame.item_id.unique())[1:], "title": "A book"})
    items_path = write_csv(tmp_path / "items.csv", csv_text(items))
    refused(store, ratings, r"is not in items.csv", items_file=items_path)


def test_items_file_with_a_repeated_id(store, tmp_path):
    frame = good_frame()
    ratings = write_csv(tmp_path / "r.csv", csv_text(frame))
    ids = sorted(frame.item_id.unique())
    items = pd.DataFrame({"item_id": [*ids, ids[0]], "title": "A book"})
    items_path = write_csv(tmp_path / "items.csv", csv_text(items))
    refused(store, ratings, r"appears twice", fix=None, items_file=items_path)


def test_fractional_timestamp(store, tmp_path):
    frame = good_frame().astype({"timestamp": object})
    frame.loc[0, "timestamp"] = "12.5"
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, r"timestamp '12.5' is not a whole number", fix=None)


# ---------------------------------------------------------------------------------------------
# Ids are strings


def test_zero_padded_ids_are_distinct_users(tmp_path):
    path = write_csv(tmp_path / "r.csv", "user_id,item_id,rating\n01,7,4\n1,7,5\n001,07,3\n")
    raw = load_user_files(path)
    assert sorted(raw.ratings.user_id) == ["001", "01", "1"]
    assert set(raw.ratings.item_id) == {"7", "07"}


def test_ids_past_int64_are_kept_as_strings(store, tmp_path):
    frame = good_frame()
    big = {user: str(10**29 + k) for k, user in enumerate(sorted(frame.user_id.unique()))}
    frame["user_id"] = frame.user_id.map(big)
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    accepted(store, path, noise_ratio=0.0)
    with store.connect() as con:
        raw_ids = {row[0] for row in con.execute("SELECT raw_id FROM users").fetchall()}
    assert raw_ids == set(big.values())


def test_json_records_with_numeric_ids_stay_distinct_strings(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps([{"user_id": 1, "item_id": "07", "rating": 4},
                                {"user_id": "01", "item_id": "7", "rating": 5}]))
    raw = load_user_files(path)
    assert sorted(raw.ratings.user_id) == ["01", "1"]
    assert sorted(raw.ratings.item_id) == ["07", "7"]


def test_json_with_an_id_past_int64_is_kept_exactly(store, tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [{"user_id": 123456789012345678901234567890, "item_id": "i1", "rating": 4},
            {"user_id": 12345678901234567890, "item_id": 7, "rating": 5},
            {"user_id": 2, "item_id": "i2", "rating": 5}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    raw = load_user_files(path)
    assert list(raw.ratings.user_id) == ["123456789012345678901234567890", "12345678901234567890", "2"]
    assert list(raw.ratings.item_id) == ["i1", "7", "i2"]


# ---------------------------------------------------------------------------------------------
# Encoding, delimiter, JSON shape, file type, path


LATIN1 = "user_id,item_id,rating\nJosé,Café,4\nZoë,Crème brûlée,5\n"


def test_latin1_file_names_the_encoding_option(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", LATIN1, encoding="latin-1")
    message = refused(store, path, r"not valid utf-8")
    assert "--encoding" in message and "latin-1" in message


def test_latin1_file_loads_with_its_encoding(tmp_path):
    path = write_csv(tmp_path / "r.csv", LATIN1, encoding="latin-1")
    raw = load_user_files(path, options=ReadOptions(encoding="latin-1"))
    assert set(raw.ratings.user_id) == {"José", "Zoë"}
    assert set(raw.ratings.item_id) == {"Café", "Crème brûlée"}


def test_latin1_byte_past_the_sniffed_sample(store, tmp_path):
    """The bad byte is far into the file: the loader's own decode error is named the same way."""
    frame = pd.DataFrame({"user_id": [f"u{k}" for k in range(20000)], "item_id": "i", "rating": 4})
    frame.loc[19999, "item_id"] = "Café"
    path = write_csv(tmp_path / "r.csv", csv_text(frame), encoding="latin-1")
    assert path.stat().st_size > 1 << 16
    message = refused(store, path, r"utf-8")
    assert "--encoding" in message


def test_utf16_file_names_utf16(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", csv_text(good_frame()), encoding="utf-16")
    refused(store, path, r"looks UTF-16 .*--encoding utf-16")
    raw = load_user_files(path, options=ReadOptions(encoding="utf-16"))
    assert len(raw.ratings) == len(good_frame())


@pytest.mark.parametrize(("make", "what"), [
    (lambda text, path: path.write_bytes(__import__("gzip").compress(text.encode())), r"gzip-compressed"),
    (lambda text, path: pd.read_csv(__import__("io").StringIO(text)).to_parquet(path), r"Parquet file"),
    (lambda text, path: path.write_bytes(__import__("pickle").dumps(text)), r"pickle"),
], ids=["gzip", "parquet", "pickle"])
def test_binary_file_with_a_text_suffix(store, tmp_path, make, what):
    path = tmp_path / "r.csv"
    make(csv_text(good_frame()), path)
    message = refused(store, path, what)
    assert "not text" in message


def test_text_file_with_a_parquet_suffix(store, tmp_path):
    path = write_csv(tmp_path / "r.parquet", csv_text(good_frame()))
    refused(store, path, r"cannot be read as parquet.*suffix")


def test_unknown_encoding_name(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", csv_text(good_frame()))
    refused(store, path, r"not a known text encoding", encoding="latin-9x")


def test_utf8_bom_header_is_read(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("user_id,item_id,rating\nu1,i1,4\nu2,i2,5\n".encode("utf-8-sig"))
    raw = load_user_files(path)
    assert list(raw.ratings.user_id) == ["u1", "u2"]


@pytest.mark.parametrize("sep", [";", "\t", "|"], ids=["semicolon", "tab", "pipe"])
def test_other_delimiters_in_a_csv_are_detected(tmp_path, sep):
    path = write_csv(tmp_path / "r.csv", csv_text(good_frame(), sep=sep))
    raw = load_user_files(path)
    assert len(raw.ratings) == len(good_frame())


def test_semicolon_file_read_with_the_wrong_delimiter_is_named(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", csv_text(good_frame(), sep=";"))
    refused(store, path, r"separated|delimiter", delimiter=",")


def test_space_separated_csv_is_named(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", csv_text(good_frame()).replace(",", " "))
    refused(store, path, r"space-separated; pass --delimiter ' '")


@pytest.mark.parametrize("column", ["rating", "isbn"])
def test_integer_past_64_bits_in_a_csv_column(store, tmp_path, column):
    frame = good_frame().assign(isbn="978")
    frame[column] = frame[column].astype(int if column == "rating" else str).astype(object)  # integer cells
    frame.loc[3, column] = "123456789012345678901234567890"
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, rf"column '{column}' holds an integer too large for 64 bits \(overflow\)")


def test_ragged_rows(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", "user_id,item_id,rating\nu1,i1,4\nu2,i2,5,extra,cells\n")
    refused(store, path, r"cannot be read as CSV|fields")


RECORD = {"user_id": "u1", "item_id": "i1", "rating": 4}


@pytest.mark.parametrize(("content", "what"), [
    (json.dumps({"user_id": ["u1", "u2"], "item_id": ["i1", "i2"], "rating": [4, 5]}), r"dict of lists"),
    (json.dumps({"data": [RECORD, RECORD]}), r"not records"),
    ("42", r"not JSON records"),
    ("null", r"not JSON records"),  # pyarrow crashes (SIGSEGV) on a bare null: it must never get there
    ("  true\n", r"not JSON records"),
    ('"just a string"', r"not JSON records"),
    (json.dumps([[1, 2, 3], [4, 5, 6]]), r"array of values"),
    (json.dumps(["u1", "u2"]), r"array of values"),
    ("[]", r"no records"),
    (json.dumps({**RECORD, "rating": {"stars": 4}}), r"lists or objects as rating"),
    (json.dumps({**RECORD, "user_id": ["u1", "u2"]}) + "\n" + json.dumps(RECORD), r"lists or objects as user_id"),
    (json.dumps(RECORD)[:-1], r"not valid JSON .* line 1"),
    (json.dumps(RECORD) + "\n{oops}\n", r"not valid JSON .* line 2"),
], ids=["dict-of-lists", "wrapped", "scalar", "null", "true", "string", "list-of-lists", "list-of-strings",
        "empty-array", "object-rating", "list-id", "truncated", "bad-line"])
def test_json_that_is_not_records(store, tmp_path, content, what):
    path = tmp_path / "r.json"
    path.write_text(content)
    message = refused(store, path, what)
    assert re.search(r"JSON|records", message)


@pytest.mark.parametrize("name", ["r.xlsx", "r.pkl", "r.txt", "r"])
def test_unsupported_suffix(store, tmp_path, name):
    path = write_csv(tmp_path / name, csv_text(good_frame()))
    refused(store, path, r"unsupported file type")


def test_wrong_dataset_path(store, tmp_path):
    refused(store, tmp_path / "no" / "such.csv", r"neither a built-in dataset .* nor an existing file")


def test_parquet_with_float_ids_and_valid_rows(tmp_path):
    frame = good_frame()
    frame["user_id"] = frame.user_id.str[1:].astype(float)  # 0.0, 1.0, ...: the '.0' is not part of the id
    path = tmp_path / "r.parquet"
    frame.to_parquet(path, index=False)
    raw = load_user_files(path)
    assert not raw.ratings.user_id.str.contains(r"\.").any()


# ---------------------------------------------------------------------------------------------
# Rating scales


def test_declared_scale_with_values_outside_it(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", csv_text(good_frame()))  # 1-5
    message = refused(store, path, r"outside --rating-scale 2-4", rating_scale="2-4")
    assert "--implicit-rating" in message


@pytest.mark.parametrize("text", ["high", "5-1", "1,10"])
def test_malformed_scale(store, tmp_path, text):
    path = write_csv(tmp_path / "r.csv", csv_text(good_frame()))
    refused(store, path, r"--rating-scale", rating_scale=text)


def test_implicit_rows_are_never_realistic_noise(store, tmp_path):
    frame = synthetic_ratings(num_users=20, num_items=60, per_user=30)
    frame["rating"] = frame["rating"] * 2  # 2-10
    implicit = frame.sample(frac=0.4, random_state=0).index
    frame.loc[implicit, "rating"] = 0.0  # "seen, not rated"
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    split_id, _ = accepted(store, path, implicit_rating=0, include_implicit=True, rating_scale="1-10",
                           positive_threshold=7, noise_ratio=0.2)
    with store.connect() as con:
        assert con.execute("SELECT count(*) FROM ratings WHERE rating = 0").fetchone()[0] == len(implicit)
        noise = con.execute(
            "SELECT r.rating FROM interactions i JOIN splits s USING (split_id) JOIN ratings r "
            "ON r.dataset_id = s.dataset_id AND r.user_idx = i.user_idx AND r.item_idx = i.item_idx "
            "WHERE i.split_id = ? AND i.is_injected_noise", [split_id]).fetchall()
        positives = con.execute("SELECT min(rating) FROM interactions WHERE split_id = ? AND NOT is_injected_noise",
                                [split_id]).fetchone()[0]
    assert noise and all(0 < rating < 7 for rating, in noise)
    assert positives >= 7


def test_implicit_only_pool_names_the_rule(store, tmp_path):
    """Every low row is implicit: the realistic pool is empty and the message says why."""
    frame = synthetic_ratings(num_users=20, num_items=60, per_user=30)
    frame["rating"] = np.where(frame["rating"] >= 3, 8.0, 0.0)
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    message = refused(store, path, r"realistic noise needs", implicit_rating=0, include_implicit=True,
                      rating_scale="1-10", noise_ratio=0.1)
    assert "implicit" in message and "--noise-kind random" in message


# ---------------------------------------------------------------------------------------------
# The split step fails after a good read: nothing is written


def test_realistic_noise_larger_than_the_pool(store, tmp_path):
    frame = good_frame()
    frame.loc[frame.rating < 3, "rating"] = 3.0  # almost no dislikes left
    frame.loc[frame.index[:3], "rating"] = 1.0
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    message = refused(store, path, r"realistic noise needs \d+ explicit ratings below 3", noise_ratio=0.5)
    assert re.search(r"--noise-ratio [\d.]+ or less", message)


def test_no_user_with_enough_positives(store, tmp_path):
    frame = good_frame()
    frame["rating"] = 1.0
    frame.loc[frame.index[:4], "rating"] = 5.0
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, r"no user has 5 or more positives", rating_scale="1-5")


def test_binary_data_with_realistic_noise(store, tmp_path):
    frame = good_frame().drop(columns="rating").assign(rating=1.0)
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, r"binary.*--noise-kind random")


def test_failed_split_then_a_good_one_writes_the_dataset_once(store, tmp_path):
    frame = good_frame().drop(columns="rating").assign(rating=1.0)
    path = write_csv(tmp_path / "r.csv", csv_text(frame))
    refused(store, path, r"binary")
    split_id = make_split(store, DataConfig(dataset=str(path), noise_kind="random"))
    counts = store_counts(store)
    assert counts["datasets"] == 1 and counts["splits"] == 1 and counts["ratings"] == len(frame)
    assert split_id.endswith("|min=5|ratios=3-1-1")


def test_ensure_dataset_refuses_without_writing(store, tmp_path):
    path = write_csv(tmp_path / "r.csv", "user_id,item_id,rating\nu1,i1,4\nu1,i1,5\n")
    with pytest.raises(DataValidationError):
        ensure_dataset(store, str(path))
    assert_store_empty(store)


# ---------------------------------------------------------------------------------------------
# Through the CLI: exit 2, one line, no traceback, no store file


def cli_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "COLUMNS": "400"}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def assert_cli_refusal(returncode: int, stderr: str, new_store: Path) -> str:
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert FIX.search(lines[0]), lines[0]
    assert not new_store.exists() and not new_store.with_name(new_store.name + ".wal").exists()
    return lines[0]


def test_cli_split_step_failure_exits_2_with_no_store_file(tmp_path):
    """End to end as a user runs it: the file reads, the split step refuses it, nothing is left behind."""
    dataset = write_csv(tmp_path / "binary.csv", csv_text(good_frame().drop(columns="rating").assign(rating=1)))
    new_store = tmp_path / "fresh" / "new.duckdb"
    python = str(PYTHON) if PYTHON.exists() else sys.executable
    result = subprocess.run([python, "-m", "recsys.train", "--model", "popularity", "--dataset", str(dataset),
                             "--store", str(new_store), "--no-progress"], cwd=REPO, env=cli_env(),
                            capture_output=True, text=True, timeout=180, check=False)
    line = assert_cli_refusal(result.returncode, result.stderr, new_store)
    assert "--noise-kind random" in line


def run_train_cli(args: list[str], capsys) -> tuple[int, str]:
    """The `python -m recsys.train` entry point in this process (each subprocess costs seconds of imports)."""
    from pipeline.train import cli

    with pytest.raises(SystemExit) as info:
        cli(args)
    return info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("case", ["wrong-path", "latin-1"])
def test_cli_refuses_bad_data_with_exit_2_and_no_store_file(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setenv("COLUMNS", "400")
    dataset = (tmp_path / "nope.csv" if case == "wrong-path"
               else write_csv(tmp_path / "latin.csv", LATIN1, encoding="latin-1"))
    new_store = tmp_path / "fresh" / "new.duckdb"
    code, stderr = run_train_cli(["--model", "popularity", "--dataset", str(dataset), "--store", str(new_store),
                                  "--no-progress"], capsys)
    line = assert_cli_refusal(code, stderr, new_store)
    assert ("--encoding latin-1" if case == "latin-1" else "neither a built-in") in line


def test_cli_unknown_model_suggests_the_close_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    new_store = tmp_path / "new.duckdb"
    code, stderr = run_train_cli(["--model", "lightgnc", "--store", str(new_store)], capsys)
    line = assert_cli_refusal(code, stderr, new_store)
    assert "--model" in line and "'lightgcn'" in line
