"""Reading the judge's inputs from the store and writing its results and runs back."""

from __future__ import annotations

import json
import os
import socket
import time

from pydantic import BaseModel

from judge.runner import Outcome, RunStats
from recsys.store import Store


def done_keys(store: Store, table: str, key_columns: tuple[str, ...], where: dict, retry_failed: bool) -> set[tuple]:
    """Keys already in the store: these calls are never paid for again (failed ones unless retried)."""
    conditions = " AND ".join(f"{column} = ?" for column in where)
    status = " AND status = 'ok'" if retry_failed else ""
    with store.connect() as con:
        rows = con.execute(
            f"SELECT {', '.join(key_columns)} FROM {table} WHERE {conditions}{status}", list(where.values())
        ).fetchall()
    return set(rows)


def write_outcome(store: Store, table: str, key: dict, outcome: Outcome, cost: float | None, run_id: str,
                  result: dict) -> None:
    """One row per outcome, in its own transaction; a retried failure replaces its failed row."""
    row = key | result | {
        "status": "ok" if outcome.ok else "failed",
        "error_kind": outcome.error_kind,
        "error": outcome.error,
        "raw_output": outcome.raw_output,
        "finish_reason": outcome.finish_reason,
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "latency_s": outcome.latency_s,
        "cost": cost,
        "attempts": outcome.attempts,
        "judge_run_id": run_id,
    }
    columns = ", ".join(row)
    placeholders = ", ".join("?" for _ in row)
    with store.transaction() as con:
        con.execute(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({placeholders})", list(row.values()))


def start_run(store: Store, stats: RunStats, command: str, lm: str, config: BaseModel) -> None:
    with store.transaction() as con:
        con.execute(
            "INSERT INTO judge_runs (judge_run_id, command, lm, config, status, n_tasks, n_skipped, heartbeat_at,"
            " pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp, ?, ?)",
            [stats.run_id, command, lm, config.model_dump_json(), "running", stats.n_tasks, stats.n_skipped,
             os.getpid(), socket.gethostname()],
        )


def finish_run(store: Store, stats: RunStats) -> None:
    with store.transaction() as con:
        con.execute(
            "UPDATE judge_runs SET status = ?, n_ok = ?, n_failed = ?, n_skipped = ?, lm_calls = ?, prompt_tokens = ?,"
            " completion_tokens = ?, cost = ?, seconds = ?, heartbeat_at = current_timestamp,"
            " finished_at = current_timestamp WHERE judge_run_id = ?",
            [stats.status, stats.n_ok, stats.n_failed, stats.n_skipped, stats.lm_calls, stats.prompt_tokens,
             stats.completion_tokens, stats.cost, stats.seconds, stats.run_id],
        )


class Heartbeat:
    """Refreshes a running run's ``heartbeat_at`` (and its counts) at most every ``every_s`` seconds."""

    def __init__(self, store: Store, stats: RunStats, every_s: float = 15.0) -> None:
        self.store, self.stats, self.every_s = store, stats, every_s
        self._last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self._last < self.every_s:
            return
        self._last = time.monotonic()
        s = self.stats
        with self.store.transaction() as con:
            con.execute("UPDATE judge_runs SET heartbeat_at = current_timestamp, n_ok = ?, n_failed = ?, lm_calls = ?"
                        " WHERE judge_run_id = ? AND status = 'running'", [s.n_ok, s.n_failed, s.lm_calls, s.run_id])


# A run whose heartbeat is older than this, or whose process on this host is gone, was killed.
STALE_AFTER_S = 900.0


def _process_alive(pid: int | None, host: str | None) -> bool | None:
    """Whether the run's process still exists (None: another host, or unknown)."""
    if pid is None or host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(status: str, heartbeat_age_s: float | None, pid: int | None, host: str | None,
                     stale_after_s: float = STALE_AFTER_S) -> str:
    """A stored run status as it really is: a ``running`` run whose process is gone (on this host) or
    whose heartbeat stopped over ``stale_after_s`` ago is ``abandoned`` (killed: kill -9, OOM, power)."""
    if status != "running":
        return status
    alive = _process_alive(pid, host)
    if alive is False:
        return "abandoned"
    # Another host (or a row from before heartbeats, age NULL: no way to tell): the heartbeat decides.
    if alive is None and heartbeat_age_s is not None and heartbeat_age_s > stale_after_s:
        return "abandoned"
    return status


# SELECT fragment: seconds since a run's heartbeat (runs or judge_runs), NULL before migration 8 rows.
HEARTBEAT_AGE_SQL = "epoch(current_timestamp::TIMESTAMP) - epoch(heartbeat_at)"


def missing_verdict_pairs(store: Store, candidate_set: str, lm: str, prompt_hash: str) -> int:
    """Candidate pairs (low-score positives, high-score negatives) without an ``ok`` verdict from
    both views for this LM and prompt: what a graph edit from this judge would silently lack."""
    with store.connect() as con:
        return con.execute(
            "SELECT count(*) FROM candidates c WHERE c.candidate_set = ? "
            "AND c.kind IN ('low_score_positive', 'high_score_negative') AND ("
            " SELECT count(DISTINCT v.view) FROM verdicts v WHERE v.candidate_set = c.candidate_set"
            " AND v.user_idx = c.user_idx AND v.item_idx = c.item_idx AND v.lm = ? AND v.prompt_hash = ?"
            " AND v.status = 'ok') < 2",
            [candidate_set, lm, prompt_hash]).fetchone()[0]


def to_json(model: BaseModel) -> str:
    return json.dumps(model.model_dump())
