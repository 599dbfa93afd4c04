"""Tests for recsys.store: schema, migrations, transactions, lock retries and Parquet export."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager

import duckdb
import pandas as pd
import pytest

from recsys.store import MIGRATIONS, Migration, Store, StoreLockedError

EXPECTED_TABLES = {
    "datasets",
    "users",
    "items",
    "ratings",
    "splits",
    "interactions",
    "runs",
    "metrics",
    "schema_version",
    # migration 2: the judge
    "prompts",
    "profiles",
    "candidates",
    "candidate_sets",
    "verdicts",
    "judge_runs",
    # migration 3: embeddings
    "text_embeddings",
    # migration 4: audits from the TUI
    "audits",
    # migration 5: judge evals
    "reserved_pairs",
    "label_sets",
    "labeled_pairs",
    "judge_evals",
    # migration 6: the LLM baselines' outputs
    "method_outputs",
    # migration 7: datasets as users bring them
    "dataset_profiles",
    "dataset_embeddings",
    # migration 9: OpenAI-compatible batches in flight
    "judge_batches",
}

EXTRA_MIGRATION = Migration(
    version=len(MIGRATIONS) + 1,
    description="test: notes table",
    sql="CREATE TABLE notes (note_id INTEGER PRIMARY KEY, body VARCHAR NOT NULL);",
)


def _insert_dataset(con: duckdb.DuckDBPyConnection, dataset_id: str = "d1") -> None:
    con.execute(
        "INSERT INTO datasets (dataset_id, source, content_hash, n_users, n_items, n_ratings)"
        " VALUES (?, 'test', 'hash', 1, 1, 1)",
        [dataset_id],
    )


def _count(store: Store, table: str) -> int:
    with store.connect() as con:
        return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ---------------------------------------------------------------------------------------------
# A fresh store


def test_fresh_store_is_at_newest_version(tmp_path):
    store = Store(tmp_path / "fresh.duckdb")
    assert store.schema_version() == MIGRATIONS[-1].version
    assert store.schema_version() == max(m.version for m in MIGRATIONS)


def test_fresh_store_has_all_tables(tmp_path):
    store = Store(tmp_path / "fresh.duckdb")
    assert set(store.tables()) == EXPECTED_TABLES


def test_store_creates_parent_folder(tmp_path):
    path = tmp_path / "a" / "b" / "store.duckdb"
    Store(path)
    assert path.is_file()


def test_schema_version_table_records_each_migration(tmp_path):
    store = Store(tmp_path / "fresh.duckdb")
    with store.connect() as con:
        rows = con.execute("SELECT version, description FROM schema_version ORDER BY version").fetchall()
    assert rows == [(m.version, m.description) for m in MIGRATIONS]


# ---------------------------------------------------------------------------------------------
# Migrations


def test_new_migration_is_applied_on_reopen_and_keeps_data(tmp_path):
    path = tmp_path / "store.duckdb"
    old = Store(path, migrations=MIGRATIONS[:1])
    assert old.schema_version() == MIGRATIONS[0].version
    assert "notes" not in old.tables()
    with old.transaction() as con:
        _insert_dataset(con, "kept")

    new = Store(path, migrations=MIGRATIONS + (EXTRA_MIGRATION,))

    assert new.schema_version() == EXTRA_MIGRATION.version
    assert new.schema_version() == MIGRATIONS[0].version + len(MIGRATIONS)
    assert "notes" in new.tables()
    with new.connect() as con:
        assert con.execute("SELECT dataset_id FROM datasets").fetchall() == [("kept",)]
        versions = [row[0] for row in con.execute("SELECT version FROM schema_version ORDER BY version")
                    .fetchall()]
        # The new table is usable.
        con.execute("INSERT INTO notes VALUES (1, 'hello')")
    assert versions == [m.version for m in MIGRATIONS] + [EXTRA_MIGRATION.version]


def test_reopening_is_idempotent(tmp_path):
    path = tmp_path / "store.duckdb"
    migrations = MIGRATIONS + (EXTRA_MIGRATION,)
    Store(path, migrations=migrations)
    with Store(path, migrations=migrations).transaction() as con:
        con.execute("INSERT INTO notes VALUES (1, 'hello')")

    again = Store(path, migrations=migrations)  # must not re-run CREATE TABLE notes

    assert again.schema_version() == EXTRA_MIGRATION.version
    assert again.migrate() == EXTRA_MIGRATION.version
    assert _count(again, "schema_version") == len(migrations)
    assert _count(again, "notes") == 1


def test_migrations_are_applied_in_version_order(tmp_path):
    """Migrations are sorted by version, whatever order they are passed in."""
    path = tmp_path / "store.duckdb"
    second = Migration(len(MIGRATIONS) + 2, "test: index on notes", "CREATE INDEX notes_body ON notes (body);")
    store = Store(path, migrations=(second, EXTRA_MIGRATION) + MIGRATIONS)
    assert store.schema_version() == second.version
    assert "notes" in store.tables()


def test_file_newer_than_code_raises(tmp_path):
    path = tmp_path / "store.duckdb"
    Store(path, migrations=MIGRATIONS + (EXTRA_MIGRATION,))

    with pytest.raises(RuntimeError, match="newer than this code knows") as excinfo:
        Store(path, migrations=MIGRATIONS)

    message = str(excinfo.value)
    assert f"schema version {EXTRA_MIGRATION.version}" in message
    assert f"({MIGRATIONS[-1].version})" in message
    assert str(path) in message
    assert not isinstance(excinfo.value, StoreLockedError)


@pytest.mark.parametrize(
    "bad_sql",
    [
        # Fails at run time, after the first statement has already created a table.
        "CREATE TABLE partial_t (a INTEGER); INSERT INTO partial_t VALUES (1); SELECT * FROM no_such_table;",
        # Fails to parse.
        "CREATE TABLE partial_t (a INTEGER); CREATE TABLE (;",
    ],
    ids=["runtime-error", "syntax-error"],
)
def test_failed_migration_is_rolled_back(tmp_path, bad_sql):
    path = tmp_path / "store.duckdb"
    store = Store(path)
    with store.transaction() as con:
        _insert_dataset(con, "kept")
    bad = Migration(len(MIGRATIONS) + 1, "test: broken", bad_sql)

    with pytest.raises(duckdb.Error):
        Store(path, migrations=MIGRATIONS + (bad,))

    assert store.schema_version() == MIGRATIONS[-1].version
    assert "partial_t" not in store.tables()
    assert set(store.tables()) == EXPECTED_TABLES
    assert _count(store, "datasets") == 1
    # A fixed migration with the same version can still be applied afterwards.
    fixed = Store(path, migrations=MIGRATIONS + (EXTRA_MIGRATION,))
    assert fixed.schema_version() == EXTRA_MIGRATION.version


def test_failed_migration_on_fresh_file_keeps_earlier_ones(tmp_path):
    path = tmp_path / "store.duckdb"
    bad = Migration(len(MIGRATIONS) + 1, "test: broken", "CREATE TABLE partial_t (a INTEGER); SELECT * FROM nope;")
    with pytest.raises(duckdb.Error):
        Store(path, migrations=MIGRATIONS + (bad,))

    store = Store(path)
    assert store.schema_version() == MIGRATIONS[-1].version
    assert "partial_t" not in store.tables()


# ---------------------------------------------------------------------------------------------
# Transactions


def test_transaction_commits_on_success(tmp_path):
    store = Store(tmp_path / "store.duckdb")
    with store.transaction() as con:
        _insert_dataset(con, "a")
        _insert_dataset(con, "b")
    assert _count(store, "datasets") == 2


def test_transaction_rolls_back_all_writes_when_body_raises(tmp_path):
    store = Store(tmp_path / "store.duckdb")
    with store.transaction() as con:
        _insert_dataset(con, "before")

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with store.transaction() as con:
            _insert_dataset(con, "a")
            con.execute("INSERT INTO users (dataset_id, user_idx, raw_id) VALUES ('a', 0, 'u0')")
            con.execute("CREATE TABLE scratch (x INTEGER)")
            # The writes are visible inside the transaction...
            assert con.execute("SELECT count(*) FROM datasets").fetchone()[0] == 2
            raise Boom()

    # ...and none of them outside it.
    with store.connect() as con:
        assert con.execute("SELECT dataset_id FROM datasets").fetchall() == [("before",)]
    assert _count(store, "users") == 0
    assert "scratch" not in store.tables()


def test_transaction_rolls_back_on_sql_error(tmp_path):
    store = Store(tmp_path / "store.duckdb")
    with pytest.raises(duckdb.ConstraintException):
        with store.transaction() as con:
            _insert_dataset(con, "a")
            _insert_dataset(con, "a")  # primary key violation
    assert _count(store, "datasets") == 0


# ---------------------------------------------------------------------------------------------
# Locks held by another process

_HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
"""


@contextmanager
def _lock_held_elsewhere(path, seconds: float):
    """Another Python process holding a read-write DuckDB connection on PATH for SECONDS."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = holder.stdout.readline().strip()
        if line != "ready":
            holder.kill()
            pytest.fail(f"lock holder did not start: {line!r} {holder.stderr.read()}")
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()
        holder.stderr.close()


def test_connect_waits_for_a_lock_held_by_another_process(tmp_path):
    path = tmp_path / "store.duckdb"
    store = Store(path, lock_retries=40, lock_backoff_s=0.02)
    with store.transaction() as con:
        _insert_dataset(con, "kept")
    hold_s = 1.5

    with _lock_held_elsewhere(path, hold_s) as holder:
        start = time.monotonic()
        with store.connect() as con:
            waited = time.monotonic() - start
            rows = con.execute("SELECT dataset_id FROM datasets").fetchall()
        assert holder.wait(timeout=10) == 0

    assert rows == [("kept",)]
    # It did have to wait for the other process to let go.
    assert waited >= hold_s - 0.5
    assert waited < hold_s + 5


def test_connect_without_retries_raises_store_locked(tmp_path):
    path = tmp_path / "store.duckdb"
    store = Store(path, lock_retries=0)

    with _lock_held_elsewhere(path, 1.5):
        start = time.monotonic()
        with pytest.raises(StoreLockedError, match="locked by another process") as excinfo:
            with store.connect():
                pass
        assert time.monotonic() - start < 1.0  # no retrying
        with pytest.raises(StoreLockedError):
            store.schema_version()

    assert isinstance(excinfo.value.__cause__, duckdb.Error)
    assert str(path) in str(excinfo.value)
    # Once the other process is gone the same store works again.
    assert store.schema_version() == MIGRATIONS[-1].version


def test_invalid_db_file_error_propagates_at_once(tmp_path):
    """An error that is not about a lock propagates at once, not as StoreLockedError."""
    not_a_db = tmp_path / "garbage.duckdb"
    not_a_db.write_bytes(b"this is not a duckdb file" * 1000)
    start = time.monotonic()
    with pytest.raises(duckdb.Error, match="not a valid DuckDB database") as excinfo:
        Store(not_a_db, lock_retries=3, lock_backoff_s=0.5)  # retrying would take >= 3.5 s
    assert not isinstance(excinfo.value, StoreLockedError)
    assert time.monotonic() - start < 2.0


def test_non_lock_error_on_a_path_containing_lock_is_not_retried(tmp_path):
    not_a_db = tmp_path / "blocks" / "garbage.duckdb"
    not_a_db.parent.mkdir()
    not_a_db.write_bytes(b"this is not a duckdb file" * 1000)
    with pytest.raises(duckdb.Error) as excinfo:
        Store(not_a_db, lock_retries=2, lock_backoff_s=0.01)
    assert not isinstance(excinfo.value, StoreLockedError)


# ---------------------------------------------------------------------------------------------
# Parquet export


def test_export_parquet_writes_one_file_per_table(tmp_path):
    store = Store(tmp_path / "store.duckdb")
    with store.transaction() as con:
        _insert_dataset(con, "a")
        _insert_dataset(con, "b")
        con.execute("INSERT INTO users (dataset_id, user_idx, raw_id) VALUES ('a', 0, 'u0')")

    folder = tmp_path / "export" / "nested"
    written = store.export_parquet(folder)

    assert sorted(p.name for p in written) == sorted(f"{t}.parquet" for t in EXPECTED_TABLES)
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{t}.parquet" for t in EXPECTED_TABLES)
    assert all(p.parent == folder and p.is_file() for p in written)

    datasets = pd.read_parquet(folder / "datasets.parquet")
    assert sorted(datasets["dataset_id"]) == ["a", "b"]
    assert {"source", "content_hash", "n_users", "n_items", "n_ratings", "created_at"} <= set(datasets.columns)
    users = pd.read_parquet(folder / "users.parquet")
    assert users[["dataset_id", "user_idx", "raw_id"]].values.tolist() == [["a", 0, "u0"]]
    assert len(pd.read_parquet(folder / "ratings.parquet")) == 0
    versions = pd.read_parquet(folder / "schema_version.parquet")
    assert versions["version"].tolist() == [m.version for m in MIGRATIONS]


def test_migration_7_keeps_older_datasets_and_reads_them_as_one_to_five(tmp_path):
    from recsys.data.ingest import stored_scale

    path = tmp_path / "old.duckdb"
    old = Store(path, migrations=MIGRATIONS[:6])
    with old.transaction() as con:
        _insert_dataset(con, "ml-100k")
        con.execute("INSERT INTO ratings VALUES ('ml-100k', 0, 0, 4.0, NULL)")
    new = Store(path)
    assert new.schema_version() == MIGRATIONS[-1].version >= 7  # 7 and every later migration applied
    with new.connect() as con:
        assert con.execute("SELECT rating, given_split FROM ratings").fetchall() == [(4.0, None)]
    scale = stored_scale(new, "ml-100k")
    assert (scale.low, scale.high, scale.positive, scale.like, scale.dislike) == (1, 5, 3, 4, 2)
