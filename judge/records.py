"""Reading the judge's inputs from the store and writing its results and runs back."""

from __future__ import annotations

import json
import os
import socket
import time

from pydantic import BaseModel

from judge.runner import Outcome, RunStats
from recsys.store import Store
from recsys.store.judgments import (
    beat_judge_run,
    count_pairs_missing_verdicts,
    finish_judge_run,
    insert_judge_run,
    stored_keys,
    write_result_row,
)


def done_keys(store: Store, table: str, key_columns: tuple[str, ...], where: dict, retry_failed: bool) -> set[tuple]:
    """Keys already in the store: these calls are never paid for again (failed ones unless retried)."""
    return stored_keys(store, table, key_columns, where, ok_only=retry_failed)


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
    write_result_row(store, table, row)


def start_run(store: Store, stats: RunStats, command: str, lm: str, config: BaseModel) -> None:
    insert_judge_run(store, stats.run_id, command, lm, config.model_dump_json(), "running", stats.n_tasks,
                     stats.n_skipped, os.getpid(), socket.gethostname())


def finish_run(store: Store, stats: RunStats) -> None:
    finish_judge_run(store, stats.run_id, status=stats.status, n_ok=stats.n_ok, n_failed=stats.n_failed,
                     n_skipped=stats.n_skipped, lm_calls=stats.lm_calls, prompt_tokens=stats.prompt_tokens,
                     completion_tokens=stats.completion_tokens, cost=stats.cost, seconds=stats.seconds)


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
        beat_judge_run(self.store, s.run_id, s.n_ok, s.n_failed, s.lm_calls)


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


def missing_verdict_pairs(store: Store, candidate_set: str, lm: str, prompt_hash: str) -> int:
    """Candidate pairs (low-score positives, high-score negatives) without an ``ok`` verdict from
    both views for this LM and prompt: what a graph edit from this judge would silently lack."""
    return count_pairs_missing_verdicts(store, candidate_set, lm, prompt_hash)


def to_json(model: BaseModel) -> str:
    return json.dumps(model.model_dump())
