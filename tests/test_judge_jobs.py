"""The judge's batch jobs end to end over a real HTTP LM endpoint (a local fake OpenAI server)."""

import os
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from tests.fake_openai import judge_template, lm_args, run_judge

SECRET = "sk-test-secret-do-not-store"


judge = run_judge


@pytest.fixture(scope="module")
def template_store(tmp_path_factory, fake_server):
    """Profiles and candidates for a synthetic dataset, made once through the CLI."""
    store, data = judge_template(tmp_path_factory.mktemp("judge"), fake_server, SECRET)
    return store, data, fake_server.requests


@pytest.fixture
def prepared_store(template_store, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    template, data, requests = template_store
    store = tmp_path / "judge.duckdb"
    shutil.copy(template, store)
    return store, data, requests


def count(store, sql, params=()):
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchone()[0]
    finally:
        con.close()


def test_profiles_and_verdicts_are_stored_once_and_resume_for_free(prepared_store, fake, capsys):
    store, data, profile_requests = prepared_store
    n_users = count(store, "SELECT count(DISTINCT user_idx) FROM interactions WHERE split = 'train'")
    n_items = count(store, "SELECT count(DISTINCT item_idx) FROM interactions WHERE split = 'train'")
    assert profile_requests == n_users + n_items
    assert count(store, "SELECT count(*) FROM profiles WHERE status = 'ok'") == n_users + n_items

    judge("verdicts", *lm_args(fake, store), *data)
    pairs = count(store, "SELECT count(*) FROM candidates WHERE kind <> 'top_positive'")
    assert fake.requests == 2 * pairs
    assert count(store, "SELECT count(*) FROM verdicts WHERE status = 'ok'") == 2 * pairs
    # The JSON schema went to the server, so a capable server can constrain its decoding.
    assert fake.bodies[-1]["response_format"]["type"] == "json_schema"
    judge("verdicts", *lm_args(fake, store), *data)
    judge("profiles", *lm_args(fake, store), *data)
    assert fake.requests == 2 * pairs  # nothing paid twice

    assert count(store, "SELECT sum(prompt_tokens) FROM verdicts") == 100 * 2 * pairs
    # user profiles, item profiles, verdicts; a re-run with nothing left to do records no run
    assert count(store, "SELECT count(*) FROM judge_runs WHERE status = 'finished'") == 3
    judge("status", "--store", str(store))
    assert "decisions (both_high)" in capsys.readouterr().out


def test_api_key_never_reaches_the_store(prepared_store, fake):
    store, data, _ = prepared_store
    judge("verdicts", *lm_args(fake, store), *data, "--max-pairs", "2")
    con = duckdb.connect(str(store), read_only=True)
    try:
        columns = con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON')").fetchall()
        for table, column in columns:
            hits = con.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                               [f"%{SECRET}%"]).fetchone()[0]
            assert hits == 0, (table, column)
    finally:
        con.close()


def test_server_errors_are_retried_then_recorded(prepared_store, fake):
    store, data, _ = prepared_store
    fake.fail_first = 2  # two 503s, then answers
    judge("verdicts", *lm_args(fake, store), *data, "--max-pairs", "2", "--parallel", "1")
    assert count(store, "SELECT count(*) FROM verdicts WHERE status = 'ok'") == 4
    assert count(store, "SELECT sum(attempts) FROM verdicts") == 4 + 2
    fake.fail_first = 10_000  # from now on a dead endpoint
    judge("verdicts", *lm_args(fake, store), *data, "--max-pairs", "3", "--parallel", "1", "--retries", "1")
    failed = count(store, "SELECT count(*) FROM verdicts WHERE status = 'failed' AND error_kind = 'transport'")
    assert failed == 2  # the one pair not yet judged, both views, each after 1 retry
    assert count(store, "SELECT max(attempts) FROM verdicts WHERE status = 'failed'") == 2


def test_budget_stops_cleanly(prepared_store, fake):
    store, data, _ = prepared_store
    judge("verdicts", *lm_args(fake, store), *data, "--max-calls", "3", "--parallel", "1")
    assert fake.requests == 3
    assert count(store, "SELECT status FROM judge_runs WHERE command = 'verdicts'") == "budget_exhausted"


def test_kill_and_resume_matches_a_clean_run(prepared_store, fake, tmp_path):
    store, data, _ = prepared_store
    clean_store, killed_store = tmp_path / "clean.duckdb", tmp_path / "killed.duckdb"
    shutil.copy(store, clean_store)
    shutil.copy(store, killed_store)
    command = [sys.executable, "-m", "judge", "verdicts"]
    env = os.environ | {"FAKE_API_KEY": SECRET}
    fake.delay_s = 0.05
    subprocess.run(command + lm_args(fake, clean_store) + data, env=env, check=True, capture_output=True)
    clean_requests, fake.requests = fake.requests, 0
    process = subprocess.Popen(command + lm_args(fake, killed_store) + data, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while fake.requests < clean_requests // 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = count(killed_store, "SELECT count(*) FROM verdicts")
    assert 0 < partial < clean_requests
    subprocess.run(command + lm_args(fake, killed_store) + data, env=env, check=True, capture_output=True)
    total_requests = fake.requests
    key = "candidate_set, user_idx, item_idx, view, lm, prompt_hash"
    for path in (clean_store, killed_store):
        assert count(path, "SELECT count(*) FROM verdicts") == clean_requests
        assert count(path, f"SELECT count(*) FROM (SELECT DISTINCT {key} FROM verdicts)") == clean_requests
    # Only calls whose results had not been written at the kill are paid twice: the runner keeps at
    # most 2 x parallel (= 4) calls submitted at once.
    assert clean_requests <= total_requests <= clean_requests + 4
