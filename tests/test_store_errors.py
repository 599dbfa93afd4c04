"""A bad --store is one `error:` line and exit 2 (never a traceback); read-only commands never create a
store; a judge re-run that keeps failed rows says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from recsys.store import Store, StoreError
from tests.fake_openai import lm_args, run_judge

ENV = os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
COMMANDS = {
    "train": [sys.executable, "-m", "recsys.train", "popularity", "--store"],
    "judge-status": [sys.executable, "-m", "judge", "status", "--store"],
}


def bad_store(tmp_path, kind: str):
    if kind == "folder":
        path = tmp_path / "a-folder"
        path.mkdir()
    else:
        path = tmp_path / "notes.txt"
        path.write_text("these are notes, not a database\n" * 50)
    return path


def run_command(command: str, store) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMANDS[command], str(store)], check=False, env=ENV, capture_output=True, text=True,
                          timeout=300)


def assert_one_error_line(result: subprocess.CompletedProcess, *expected: str) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", ["folder", "not-a-database"])
def test_bad_store_path_is_one_error_line(tmp_path, command, kind):
    store = bad_store(tmp_path, kind)
    before = store.read_bytes() if store.is_file() else None
    line = assert_one_error_line(run_command(command, store), str(store))
    if kind == "folder":
        assert "is a folder" in line and ".duckdb" in line
        assert list(store.iterdir()) == []  # nothing was made inside it
    else:
        assert "is not a DuckDB database" in line and "--store" in line
        assert store.read_bytes() == before


def test_judge_status_on_a_missing_store_creates_nothing(tmp_path):
    store = tmp_path / "new" / "store.duckdb"
    line = assert_one_error_line(run_command("judge-status", store), str(store))
    assert "no store at" in line and "python -m judge candidates" in line
    assert not store.exists() and not store.parent.exists()


def test_store_errors_in_process(tmp_path):
    folder = bad_store(tmp_path, "folder")
    with pytest.raises(StoreError, match="is a folder"):
        Store(folder)
    text = bad_store(tmp_path, "not-a-database")
    # Also still the duckdb.Error it used to be, for code that caught that.
    with pytest.raises(duckdb.Error, match="not a valid DuckDB database") as excinfo:
        Store(text, lock_retries=3, lock_backoff_s=0.5)
    assert isinstance(excinfo.value, StoreError) and "\n" not in str(excinfo.value)
    with pytest.raises(StoreError, match="is a file, not a folder"):
        Store(text / "store.duckdb")

    missing = tmp_path / "missing" / "store.duckdb"
    with pytest.raises(StoreError, match="no store at"):
        Store.open_existing(missing)
    assert not missing.parent.exists()

    other = tmp_path / "other.duckdb"  # a DuckDB database that is not a store: left untouched
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE mine (a INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a store"):
        Store.open_existing(other)
    con = duckdb.connect(str(other), read_only=True)
    try:
        assert con.execute("SHOW TABLES").fetchall() == [("mine",)]
    finally:
        con.close()

    made = Store(tmp_path / "made.duckdb")
    assert Store.open_existing(made.path).schema_version() == made.schema_version()


# ---------------------------------------------------------------------------------------------
# a re-run that keeps failed rows says so

SECRET = "sk-test-store-errors"
HINT = "--retry-failed asks the LM for them again"


def hint_lines(capsys) -> list[str]:
    captured = capsys.readouterr()
    return [line for line in (captured.out + captured.err).splitlines() if HINT in line]


def test_rerun_with_failed_verdicts_says_how_many_are_kept(prepared, fake, capsys):
    store, data = prepared

    def verdicts(max_pairs: int, *extra: str) -> None:
        run_judge("verdicts", *lm_args(fake, store), *data, "--max-pairs", str(max_pairs), "--parallel", "1",
                  "--retries", "0", *extra)

    verdicts(1)
    assert hint_lines(capsys) == []  # every row ok: nothing to say

    fake.fail_first = 10_000  # a dead endpoint: the next pair's two views fail
    verdicts(2)
    lines = hint_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("2 failed verdicts"), lines

    requests = fake.requests
    verdicts(2)
    assert fake.requests == requests  # the re-run kept them: no call
    lines = hint_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("2 failed verdicts"), lines

    fake.reset()
    verdicts(2, "--retry-failed")
    assert fake.requests == 2
    assert hint_lines(capsys) == []
    con = duckdb.connect(str(store), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM verdicts WHERE status <> 'ok'").fetchone()[0] == 0
    finally:
        con.close()


def test_rerun_with_failed_profiles_says_how_many_are_kept(prepared, fake, capsys):
    store, data = prepared
    fake.fail_first = 10_000
    profile_args = [*lm_args(fake, store), *data, "--lm-id", "openai/other", "--kinds", "user", "--max-users", "2",
                    "--retries", "0"]
    run_judge("profiles", *profile_args)
    lines = hint_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("2 failed profiles (user 2)"), lines
    run_judge("profiles", *profile_args, "--retry-failed")
    assert hint_lines(capsys) == []


def test_a_missing_judge_prompt_fails_before_any_work(tmp_path):
    """`python -m evals.judge --prompt /missing.json` used to profile for minutes before it failed."""
    store = tmp_path / "eval.duckdb"
    done = subprocess.run([sys.executable, "-m", "evals.judge", "--prompt", str(tmp_path / "missing.json"),
                           "--store", str(store)], check=False, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1],
                          timeout=120)
    assert done.returncode == 2 and "does not exist" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr and not store.exists()
