"""Issue 16: `--batch-api` on the judge stages, against the fake batch endpoint of tests/fake_openai.py.

The batch path sends the bodies the live path sends and writes the rows the live path writes for the
same answers; a run killed between submission and ingestion polls the same batch when re-run;
cut-off and invalid answers are parse failures, per-request errors and unanswered requests are
transport failures, and --retry-failed asks again; the embedded LM is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import pytest

from judge.__main__ import JudgeCLI
from judge.config import RunnerConfig
from recsys.cli import run_cli
from tests.fake_openai import cut_off, judge_template, lm_args, run_judge

SECRET = "sk-test-batch"
FAST = ["--batch-api", "--batch-poll-s", "0.05"]
FEW = ["--max-pairs", "15"]  # 30 verdict calls: enough for every case, quick to store
VERDICT_COLUMNS = ("candidate_set, user_idx, item_idx, view, lm, prompt_hash, status, label, rationale, label_probs, "
                   "error_kind, error, raw_output, prompt_tokens, completion_tokens, cost, attempts, finish_reason")
PROFILE_COLUMNS = ("split_id, kind, entity_idx, lm, prompt_hash, status, profile, text, error_kind, error, raw_output, "
                   "prompt_tokens, completion_tokens, cost, attempts, finish_reason")


judge = run_judge


def rows(store, sql, params=()):
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def one(store, sql, params=()):
    return rows(store, sql, params)[0][0]


@pytest.fixture(scope="module")
def templates(tmp_path_factory, fake_server):
    """(store with candidates only, the same with live profiles, data options)."""
    folder = tmp_path_factory.mktemp("batch")
    bare, data = judge_template(folder, fake_server, SECRET, profiles=None)
    profiled = folder / "profiled.duckdb"
    shutil.copy(bare, profiled)
    judge("profiles", *lm_args(fake_server, profiled), *data)
    return bare, profiled, data


@pytest.fixture
def profiled(templates, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    _, template, data = templates
    store = tmp_path / "judge.duckdb"
    shutil.copy(template, store)
    return store, data


def test_batch_stages_send_the_live_bodies_and_write_the_live_rows(templates, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    bare, profiled, data = templates
    live, batch = tmp_path / "live.duckdb", tmp_path / "batch.duckdb"
    shutil.copy(profiled, live)
    shutil.copy(bare, batch)
    judge("verdicts", *lm_args(fake, live), *data)
    live_bodies = list(fake.bodies)
    fake.bodies.clear()

    judge("profiles", *lm_args(fake, batch), *data, *FAST)
    judge("verdicts", *lm_args(fake, batch), *data, *FAST)
    assert fake.bodies == []  # no live call at all
    assert fake.batches_created == 3  # user profiles, item profiles, verdicts
    for row in (PROFILE_COLUMNS, VERDICT_COLUMNS):
        table = "profiles" if row is PROFILE_COLUMNS else "verdicts"
        expected = rows(profiled if table == "profiles" else live, f"SELECT {row} FROM {table} ORDER BY ALL")
        assert expected and rows(batch, f"SELECT {row} FROM {table} ORDER BY ALL") == expected
    # What the server was asked in the verdicts batch is byte for byte what the live calls sent.
    lines = fake.batch_input("batch_3")
    assert {(line["method"], line["url"]) for line in lines} == {("POST", "/v1/chat/completions")}
    assert len({line["custom_id"] for line in lines}) == len(lines) == len(live_bodies)
    canonical = lambda body: json.dumps(body, sort_keys=True)
    assert sorted(map(canonical, (line["body"] for line in lines))) == sorted(map(canonical, live_bodies))
    state = fake.batches["batch_3"]["object"]
    assert (state["endpoint"], state["completion_window"]) == ("/v1/chat/completions", "24h")
    assert fake.files[state["input_file_id"]]["purpose"] == "batch"
    assert rows(batch, "SELECT count(*), bool_and(ingested_at IS NOT NULL) FROM judge_batches") == [(3, True)]
    assert one(batch, "SELECT status FROM judge_runs WHERE command = 'verdicts'") == "finished"
    # A re-run has nothing left to ask: no new batch.
    judge("verdicts", *lm_args(fake, batch), *data, *FAST)
    assert fake.batches_created == 3
    # The key went in a header, never into a batch file or the store.
    assert all(SECRET.encode() not in f["data"] for f in fake.files.values())
    assert not rows(batch, f"SELECT * FROM judge_batches WHERE CAST(judge_batches AS VARCHAR) LIKE '%{SECRET}%'")


def test_a_big_stage_is_split_into_batches_of_at_most_batch_max_requests(profiled, fake):
    store, data = profiled
    judge("verdicts", *lm_args(fake, store), *data, *FAST, "--max-pairs", "30", "--batch-max-requests", "25")
    assert one(store, "SELECT count(*) FROM verdicts WHERE status = 'ok'") == 60
    assert [len(fake.batch_input(b)) for b in fake.batches] == [25, 25, 10]


def test_a_run_killed_between_submit_and_ingest_resumes_polling_the_same_batch(profiled, fake):
    store, data = profiled
    fake.batch_hold = True  # the batch stays in progress until released
    env = os.environ | {"FAKE_API_KEY": SECRET}
    process = subprocess.Popen([sys.executable, "-m", "judge", "verdicts", *lm_args(fake, store), *data, *FEW, *FAST],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while fake.batch_polls < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read()[-2000:]
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert fake.batches_created == 1
    assert rows(store, "SELECT batch_id, ingested_at FROM judge_batches") == [("batch_1", None)]
    assert one(store, "SELECT count(*) FROM verdicts") == 0

    fake.batch_hold = False
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST)
    assert fake.batches_created == 1  # polled again, never submitted again
    n = len(fake.batch_input("batch_1"))
    assert one(store, "SELECT count(*) FROM verdicts WHERE status = 'ok'") == n
    assert one(store, "SELECT ingested_at IS NOT NULL FROM judge_batches") is True
    statuses = dict(rows(store, "SELECT status, count(*) FROM judge_runs WHERE command = 'verdicts' GROUP BY ALL"))
    assert statuses == {"running": 1, "finished": 1}  # the killed run (shown abandoned) and the one that resumed


def test_a_poll_timeout_leaves_the_batch_open_for_the_next_run(profiled, fake, capsys):
    store, data = profiled
    fake.batch_hold = True
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST, "--batch-timeout-s", "0.3")
    status, skipped = rows(store, "SELECT status, n_skipped FROM judge_runs WHERE command = 'verdicts'")[0]
    assert status == "incomplete" and skipped == len(fake.batch_input("batch_1"))
    judge("status", "--store", str(store))
    assert "batch_1" in capsys.readouterr().out
    fake.batch_hold = False
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST)
    assert fake.batches_created == 1
    assert one(store, "SELECT count(*) FROM verdicts WHERE status = 'ok'") == skipped


def test_cut_off_and_invalid_answers_are_parse_failures_and_retry_failed_asks_again(profiled, fake):
    store, data = profiled
    # Odd requests are cut off at max_tokens (finish_reason=length), even ones are prose.
    fake.respond = lambda n, props, content: cut_off(n, props, content) if n % 2 else ("I think: High.", "stop")
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST)
    n = one(store, "SELECT count(*) FROM verdicts")
    assert n > 0 and one(store, "SELECT count(*) FROM verdicts WHERE status = 'ok'") == 0  # nothing invented
    assert one(store, "SELECT count(*) FROM verdicts WHERE error_kind = 'parse' AND raw_output IS NOT NULL") == n
    assert one(store, "SELECT count(*) FROM verdicts WHERE finish_reason = 'length'") == (n + 1) // 2
    assert one(store, "SELECT count(*) FROM verdicts WHERE raw_output = 'I think: High.'") == n // 2
    assert one(store, "SELECT status FROM judge_runs WHERE command = 'verdicts'") == "incomplete"
    fake.respond = None
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST)
    assert fake.batches_created == 1  # failed rows are kept without --retry-failed
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST, "--retry-failed")
    assert fake.batches_created == 2 and len(fake.batch_input("batch_2")) == n
    assert one(store, "SELECT count(*) FROM verdicts WHERE status = 'ok' AND finish_reason = 'stop'") == n


def test_request_errors_and_unanswered_requests_are_transport_failures(profiled, fake):
    store, data = profiled
    fake.batch_error = lambda custom_id: (500, "engine crashed") if custom_id.endswith(tuple("01234567")) else None
    judge("profiles", *lm_args(fake, store), *data, "--kinds", "user", "--retry-failed", *FAST)  # all ok: no batch
    assert fake.batches_created == 0
    con = duckdb.connect(str(store))
    con.execute("DELETE FROM profiles WHERE kind = 'user'")
    con.close()
    judge("profiles", *lm_args(fake, store), *data, "--kinds", "user", *FAST)
    failed = rows(store, "SELECT error_kind, error, raw_output FROM profiles WHERE kind = 'user' AND status = 'failed'")
    assert failed and all(kind == "transport" and "HTTP 500: engine crashed" in error and raw is None
                          for kind, error, raw in failed)
    n_users = one(store, "SELECT count(*) FROM profiles WHERE kind = 'user'")
    assert 0 < len(failed) < n_users

    # An expired batch answers only some requests: the rest are failures, never results.
    fake.batch_error, fake.batch_end, fake.batch_answered = None, "expired", 3
    judge("profiles", *lm_args(fake, store), *data, "--kinds", "user", "--retry-failed", *FAST)
    assert len(fake.batch_input("batch_2")) == len(failed)
    still = rows(store, "SELECT error FROM profiles WHERE kind = 'user' AND status = 'failed'")
    assert len(still) == len(failed) - 3
    assert all("ended expired without an answer" in error for error, in still)
    fake.batch_end = "completed"
    judge("profiles", *lm_args(fake, store), *data, "--kinds", "user", "--retry-failed", *FAST)
    assert one(store, "SELECT count(*) FROM profiles WHERE kind = 'user' AND status = 'ok'") == n_users


def test_an_answer_to_a_prompt_that_changed_since_submission_is_not_taken(profiled, fake):
    store, data = profiled
    fake.batch_hold = True
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST, "--views", "user", "--batch-timeout-s", "0.2")
    user = one(store, "SELECT min(user_idx) FROM candidates WHERE kind <> 'top_positive'")
    con = duckdb.connect(str(store))  # the user's profile is regenerated while the batch runs
    con.execute("UPDATE profiles SET text = 'Only watches documentaries.' WHERE kind = 'user' AND entity_idx = ?",
                [user])
    con.close()
    fake.batch_hold = False
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST, "--views", "user")
    failed = rows(store, "SELECT DISTINCT user_idx, error FROM verdicts WHERE status = 'failed'")
    assert [u for u, _ in failed] == [user] and "prompt changed" in failed[0][1]
    assert one(store, "SELECT count(*) FROM verdicts WHERE status = 'ok' AND user_idx <> ?", [user]) > 0


def test_batch_api_refuses_the_embedded_lm_and_a_cost_budget(tmp_path, capsys):
    for extra, message in (([], "embedded LM (llama.cpp) has no batch API"),
                           (["--lm", "openai/x", "--max-cost", "1"], "cannot be bounded by --max-cost")):
        with pytest.raises(SystemExit) as exit_info:
            run_cli(JudgeCLI, ["verdicts", "--store", str(tmp_path / "s.duckdb"), "--batch-api", *extra])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "--batch-api" in err and "Traceback" not in err
    assert RunnerConfig(batch_api=True).batch_api  # a bare runner config does not know the LM


def test_batch_options_are_in_every_help(capsys):
    from pipeline.train import TrainConfig

    for command in ("profiles", "verdicts"):
        with pytest.raises(SystemExit):
            run_cli(JudgeCLI, [command, "--help"])
        out = capsys.readouterr().out
        for flag in ("--batch-api", "--batch-poll-s", "--batch-max-requests", "--batch-timeout-s"):
            assert flag in out
    assert {"batch_api", "batch_poll_s", "batch_max_requests", "batch_timeout_s"} <= set(TrainConfig.model_fields)


def test_batched_calls_cost_the_batch_price_where_litellm_knows_it():
    from judge.batch import batch_cost
    from judge.jobs import cost_function
    from judge.lm import LMConfig
    from judge.runner import Outcome, Task

    outcome = Outcome(Task(("k",), lambda: None), None, 1, 0.0, prompt_tokens=1000, completion_tokens=100)
    known = LMConfig(lm="openai/gpt-4o-mini")
    live = cost_function(known)(outcome)
    assert live > 0 and batch_cost(known, cost_function(known))(outcome) == pytest.approx(live / 2)
    unknown = LMConfig(lm="openai/fake")
    assert batch_cost(unknown, cost_function(unknown))(outcome) is None  # unknown, never zero


def test_a_batch_the_server_no_longer_knows_becomes_transport_failures(profiled, fake):
    store, data = profiled
    fake.batch_hold = True
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST, "--batch-timeout-s", "0.2")
    fake.batches.clear()  # the server was reset (or --api-base now points at another one)
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST)
    assert rows(store, "SELECT DISTINCT status, error_kind FROM verdicts") == [("failed", "transport")]
    assert "unknown to the server" in one(store, "SELECT any_value(error) FROM verdicts")
    assert rows(store, "SELECT status, ingested_at IS NOT NULL FROM judge_batches") == [("lost", True)]
    fake.batch_hold = False
    judge("verdicts", *lm_args(fake, store), *data, *FEW, *FAST, "--retry-failed")  # a new batch heals them
    assert rows(store, "SELECT DISTINCT status FROM verdicts") == [("ok",)]


def test_listwise_calls_through_the_batch_api_write_the_live_rows(profiled, fake, tmp_path):
    store, data = profiled
    live = tmp_path / "live.duckdb"
    shutil.copy(store, live)
    listwise = ["--verdict-mode", "listwise", "--max-pairs", "20"]
    judge("verdicts", *lm_args(fake, live), *data, *listwise)
    judge("verdicts", *lm_args(fake, store), *data, *listwise, *FAST)
    expected = rows(live, f"SELECT {VERDICT_COLUMNS} FROM verdicts ORDER BY ALL")
    assert len(expected) == 40 and rows(store, f"SELECT {VERDICT_COLUMNS} FROM verdicts ORDER BY ALL") == expected
    assert fake.batches_created == 1 and len(fake.batch_input("batch_1")) < 40  # one request per user and view
    assert rows(store, "SELECT n_tasks, n_ok FROM judge_runs WHERE command = 'verdicts:listwise'") == [(40, 40)]
