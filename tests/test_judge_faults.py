"""Issue 15: the judge against a faulty OpenAI-compatible server (tests/fake_openai.py).

Cut-off, repaired, garbage and degenerate answers never become results; a hung server is cut at
--timeout-s and retried; the LM identity has no URL, so a moved server keeps its rows; runs with
failed or skipped tasks are incomplete; killed runs read as interrupted (SIGTERM) or abandoned
(kill -9); a poisoned audit is set aside and the rest land.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import duckdb
import pytest

from judge.lm import LMConfig, configure_dspy, default_threads, legacy_identity, lm_identity, rename_identity
from judge.outputs import degenerate_reason, is_strict_json_object, repeated_phrase
from judge.programs import ProfileItem, UserViewJudge
from judge.records import effective_status, missing_verdict_pairs
from judge.runner import Task, execute
from judge.signatures import ItemProfile, UserProfile, Verdict
from recsys.store import Store
from tests.fake_openai import FakeOpenAI, lm_args, run_judge

SECRET = "sk-test-faults"


judge = run_judge


def count(store, sql, params=()):
    con = duckdb.connect(str(store), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchone()[0]
    finally:
        con.close()


@pytest.fixture
def remote_lm(fake, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", SECRET)
    config = LMConfig(lm="openai/fake", api_base=fake.api_base, json_schema=True, api_key_env="FAKE_API_KEY",
                      timeout_s=1.0)
    configure_dspy(config)
    return config


def verdict_call():
    return UserViewJudge()(user_profile="Likes westerns.", candidate_item="Unforgiven (1992).")


# ---------------------------------------------------------------------------------------------
# 1. cut-off, repaired, garbage, degenerate


def test_a_cut_off_answer_that_json_repair_would_fix_is_a_parse_failure(remote_lm, fake):
    # Cut inside the rationale: json_repair closes the string and the object, a valid Verdict.
    fake.respond = lambda n, props, content: (content[:-12], "length")
    outcome = execute(Task(("k",), verdict_call), retries=0, backoff_s=0)
    assert not outcome.ok and outcome.prediction is None
    assert outcome.error_kind == "parse" and "finish_reason=length" in outcome.error
    assert outcome.finish_reason == "length"
    assert outcome.raw_output.startswith('{"verdict"') and not is_strict_json_object(outcome.raw_output)


def test_repaired_and_garbage_answers_are_parse_failures_with_their_text(remote_lm, fake):
    fake.respond = lambda n, props, content: ("Sure! " + content, "stop")  # a repairable preamble
    outcome = execute(Task(("k",), verdict_call), retries=0, backoff_s=0)
    assert (outcome.ok, outcome.error_kind, outcome.finish_reason) == (False, "parse", "stop")
    assert outcome.raw_output.startswith("Sure! ")
    fake.respond = lambda n, props, content: ("I cannot help with that.", "stop")
    outcome = execute(Task(("k",), verdict_call), retries=0, backoff_s=0)
    assert (outcome.ok, outcome.error_kind, outcome.raw_output) == (False, "parse", "I cannot help with that.")


def test_a_complete_answer_is_ok_and_carries_its_finish_reason(remote_lm, fake):
    outcome = execute(Task(("k",), verdict_call), retries=0, backoff_s=0)
    assert outcome.ok and outcome.finish_reason == "stop" and outcome.error_kind is None


def test_an_echo_of_the_schema_is_a_degenerate_failure(remote_lm, fake):
    fake.respond = lambda n, props, content: (
        json.dumps({"profile": {"summary": "ItemProfile", "audience": "ItemProfile"}}), "stop")
    outcome = execute(Task(("k",), lambda: ProfileItem()(item="Heat (1995).", takers=[])), retries=0, backoff_s=0)
    assert (outcome.ok, outcome.error_kind) == (False, "degenerate")
    assert "ItemProfile" in outcome.error and "ItemProfile" in outcome.raw_output


def test_degenerate_detection_flags_echoes_and_loops_not_ordinary_text():
    assert degenerate_reason({"profile": ItemProfile(summary="ItemProfile", audience="ItemProfile")})
    assert degenerate_reason({"profile": ItemProfile(summary="A heist film.", audience="audience")})
    looped = "Star Wars (1977), Star Wars (1977), Star Wars (1977), Star Wars (1977)"
    assert degenerate_reason({"profile": UserProfile(summary=looped, liked_genres=["Sci-Fi"], tastes="Space.")})
    assert degenerate_reason({"profile": UserProfile(summary="Likes films.", liked_genres=["Drama"] * 3,
                                                     tastes="Classics.")})
    assert repeated_phrase("the best the best the best the best the best film") == "the best"
    fine = UserProfile(summary="Enjoys 1970s science fiction and gritty crime dramas; avoids musicals.",
                       liked_genres=["Sci-Fi", "Crime", "Drama"], tastes="Dark, slow-burning stories.")
    assert degenerate_reason({"profile": fine}) is None
    assert degenerate_reason({"verdict": Verdict(label="High", rationale="Verdict: fits the user's westerns.")}) is None


def test_cut_off_verdicts_are_stored_failed_and_retry_failed_heals_them(prepared, fake):
    store, data = prepared
    fake.respond = lambda n, props, content: (content[:-12], "length") if "verdict" in props else None
    judge("verdicts", *lm_args(fake, store), *data)
    n = count(store, "SELECT count(*) FROM verdicts")
    assert n > 0
    assert count(store, "SELECT count(*) FROM verdicts WHERE status = 'ok'") == 0  # 0 invented verdicts
    assert count(store, "SELECT count(*) FROM verdicts WHERE error_kind = 'parse' AND finish_reason = 'length' "
                        "AND raw_output IS NOT NULL") == n
    assert count(store, "SELECT status FROM judge_runs WHERE command = 'verdicts'") == "incomplete"
    candidate_set = count(store, "SELECT candidate_set FROM candidate_sets")
    lm, prompt_hash = duckdb.connect(str(store), read_only=True).execute(
        "SELECT lm, prompt_hash FROM verdicts LIMIT 1").fetchone()
    assert missing_verdict_pairs(Store(store), candidate_set, lm, prompt_hash) == n // 2
    fake.respond = None
    judge("verdicts", *lm_args(fake, store), *data, "--retry-failed")
    assert count(store, "SELECT count(*) FROM verdicts WHERE status = 'ok' AND finish_reason = 'stop'") == n
    assert missing_verdict_pairs(Store(store), candidate_set, lm, prompt_hash) == 0


# ---------------------------------------------------------------------------------------------
# 2. timeouts


def test_a_hung_server_is_cut_at_the_timeout_and_retried(remote_lm, fake):
    fake.hang_first, fake.hang_s = 1, 5.0  # the first call hangs, the retry answers
    started = time.monotonic()
    outcome = execute(Task(("k",), verdict_call), retries=2, backoff_s=0.01)
    assert outcome.ok and outcome.attempts == 2
    assert time.monotonic() - started < 4.0
    fake.requests, fake.hang_first = 0, 100  # hangs every time
    started = time.monotonic()
    outcome = execute(Task(("k",), verdict_call), retries=1, backoff_s=0.01)
    elapsed = time.monotonic() - started
    assert (outcome.ok, outcome.error_kind, outcome.attempts) == (False, "transport", 2)
    assert elapsed < 2 * 1.0 + 2.0  # (retries + 1) x --timeout-s, plus slack; never the 5 s hang


# ---------------------------------------------------------------------------------------------
# 3. identity


def test_identity_names_the_model_not_the_server():
    config = LMConfig(lm="openai/qwen", api_base="http://gpu-box:8000/v1")
    assert lm_identity(config) == "openai/qwen"
    assert legacy_identity(config) == "openai/qwen@http://gpu-box:8000/v1"
    assert lm_identity(config.model_copy(update={"lm_id": "qwen2.5-7b-awq@sha1"})) == "qwen2.5-7b-awq@sha1"


def test_a_moved_server_keeps_every_stored_row(prepared, fake):
    store, data = prepared
    judge("verdicts", *lm_args(fake, store), *data)
    stored, paid = count(store, "SELECT count(*) FROM verdicts"), fake.requests
    assert stored == paid > 0
    with FakeOpenAI() as moved:  # the same model on another port
        judge("verdicts", *lm_args(moved, store), *data)
        judge("profiles", *lm_args(moved, store), *data)
        assert moved.requests == 0
    assert count(store, "SELECT count(*) FROM verdicts") == stored


def test_rows_under_an_old_url_identity_are_renamed_once(prepared, fake, capsys):
    store, data = prepared
    old = f"openai/fake@{fake.api_base}"
    rename_identity(Store(store), "openai/fake", old)  # what a store written before issue 15 holds
    judge("status", "--store", str(store), "--lm", "openai/fake", "--api-base", fake.api_base)
    assert "URL-bearing identity" in capsys.readouterr().out
    judge("rename-lm", "--store", str(store), "--old", old, "--new", "openai/fake")
    assert count(store, "SELECT count(*) FROM profiles WHERE lm = ?", [old]) == 0
    judge("profiles", *lm_args(fake, store), *data)
    assert fake.requests == 0


# ---------------------------------------------------------------------------------------------
# 4/5. truthful status, heartbeats, SIGTERM, kill -9


def test_skipped_user_views_make_the_run_incomplete(prepared, fake):
    store, data = prepared
    con = duckdb.connect(str(store))
    con.execute("DELETE FROM profiles WHERE kind = 'user' AND entity_idx = (SELECT min(entity_idx) FROM profiles)")
    con.close()
    judge("verdicts", *lm_args(fake, store), *data)
    status, skipped = duckdb.connect(str(store), read_only=True).execute(
        "SELECT status, n_skipped FROM judge_runs WHERE command = 'verdicts'").fetchone()
    assert status == "incomplete" and skipped > 0


def test_effective_status():
    assert effective_status("running", 5.0, os.getpid(), os.uname().nodename) == "running"
    assert effective_status("running", 5.0, 2 ** 22 + 12345, os.uname().nodename) == "abandoned"
    assert effective_status("running", 10_000.0, 1, "another-host") == "abandoned"
    assert effective_status("running", 60.0, 1, "another-host") == "running"
    assert effective_status("interrupted", 10_000.0, None, None) == "interrupted"


def _start_slow_judge(fake, store, data):
    fake.delay_s = 0.2
    env = os.environ | {"FAKE_API_KEY": SECRET}
    process = subprocess.Popen([sys.executable, "-m", "judge", "verdicts", *lm_args(fake, store), *data,
                                "--parallel", "1"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while fake.requests < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return process


def test_sigterm_marks_the_judge_run_interrupted(prepared, fake):
    store, data = prepared
    process = _start_slow_judge(fake, store, data)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode == 130
    assert count(store, "SELECT status FROM judge_runs WHERE command = 'verdicts'") == "interrupted"


def test_a_killed_judge_run_shows_as_abandoned(prepared, fake, capsys):
    store, data = prepared
    process = _start_slow_judge(fake, store, data)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert count(store, "SELECT status FROM judge_runs WHERE command = 'verdicts'") == "running"  # as stored
    assert count(store, "SELECT heartbeat_at IS NOT NULL FROM judge_runs WHERE command = 'verdicts'")
    judge("status", "--store", str(store))
    assert "abandoned" in capsys.readouterr().out


def test_sigterm_marks_a_training_run_interrupted(tmp_path):
    from tests.conftest import synthetic_ratings

    ratings = tmp_path / "ratings.csv"
    synthetic_ratings().to_csv(ratings, index=False)
    store = tmp_path / "train.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-m", "recsys.train", "--model", "lightgcn", "--dataset", str(ratings), "--store",
         str(store), "--epochs", "100000", "--patience", "100000", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if store.exists():
            try:
                if count(store, "SELECT count(*) FROM runs WHERE model = 'lightgcn' AND status = 'running'"):
                    break
            except duckdb.Error:
                pass  # the trainer holds the lock right now
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert process.returncode == 130, process.stderr.read()[-2000:]
    assert count(store, "SELECT status FROM runs WHERE model = 'lightgcn'") == "interrupted"


# ---------------------------------------------------------------------------------------------
# 6. the audit writer


def test_a_poisoned_audit_is_set_aside_and_the_rest_land(tmp_path):
    from tui.queries import Audit, PairKey
    from tui.writer import AuditWriter, WriteOp

    store = Store(tmp_path / "audits.duckdb")

    def op(audit_id, value):
        return WriteOp("insert", Audit(
            audit_id=audit_id, key=PairKey("cs", 1, 2, "lm", "ph"), split_id="s", kind="low_score_positive",
            rule="both_high", user_label="High", item_label="Low", judge_decision="noise", audit=value,
            note=None, auditor="ana", audited_at=datetime(2026, 1, 1)))

    writer = AuditWriter(store, retry_pause_s=0.01)
    writer.submit(op("good-1", "correct"))
    writer.submit(op("poison", "not-an-audit-value"))  # violates the CHECK: can never land
    writer.submit(op("good-2", "hallucinated"))
    rejected, written = [], []
    deadline = time.monotonic() + 30
    writer.run(lambda: writer.pending == 0 or time.monotonic() > deadline,
               lambda o, pending: written.append(o.audit.audit_id), lambda *args: None,
               lambda o, reason, pending: rejected.append((o.audit.audit_id, reason)))
    assert written == ["good-1", "good-2"]
    assert [audit_id for audit_id, _ in rejected] == ["poison"] and "Constraint" in rejected[0][1]
    lines = writer.rejected.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["op"]["audit"]["audit_id"] == "poison"
    assert not writer.journal.exists()
    assert count(store.path, "SELECT count(*) FROM audits") == 2


def test_a_set_aside_audit_is_never_replayed_from_the_journal(tmp_path):
    from tui.queries import Audit, PairKey
    from tui.writer import AuditWriter, WriteOp, journal_path

    store = Store(tmp_path / "audits.duckdb")
    poison = WriteOp("insert", Audit(
        audit_id="poison", key=PairKey("cs", 1, 2, "lm", "ph"), split_id="s", kind="low_score_positive",
        rule="both_high", user_label="High", item_label="Low", judge_decision="noise", audit="bogus",
        note=None, auditor="ana", audited_at=datetime(2026, 1, 1)))
    writer = AuditWriter(store, retry_pause_s=0.01)
    writer._set_aside(poison, "ConstraintException: test")
    journal_path(store.path).write_text(poison.to_json() + "\n")  # a kill left it journaled too
    assert AuditWriter(store).pending == 0


# ---------------------------------------------------------------------------------------------
# 9. embedded threads


def test_embedded_threads_default_to_the_idle_cpus_this_process_may_use(monkeypatch):
    from recsys.training import threads

    assert LMConfig().embedded_threads is None
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "busy_cpus", lambda: 0.0)
    default_threads.cache_clear()
    try:
        assert default_threads() == len(os.sched_getaffinity(0))  # idle: every CPU of the affinity mask
        monkeypatch.setattr(threads, "busy_cpus", lambda: 99.0)
        assert default_threads() == len(os.sched_getaffinity(0))  # chosen once per process: no server restart
        default_threads.cache_clear()
        assert default_threads() == 1  # a busy machine: one thread, never zero
    finally:
        default_threads.cache_clear()
