"""Reading the judge's inputs from the store and writing its results and runs back."""

from __future__ import annotations

import json

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
            "INSERT INTO judge_runs (judge_run_id, command, lm, config, status, n_tasks) VALUES (?, ?, ?, ?, ?, ?)",
            [stats.run_id, command, lm, config.model_dump_json(), "running", stats.n_tasks],
        )


def finish_run(store: Store, stats: RunStats) -> None:
    with store.transaction() as con:
        con.execute(
            "UPDATE judge_runs SET status = ?, n_ok = ?, n_failed = ?, lm_calls = ?, prompt_tokens = ?,"
            " completion_tokens = ?, cost = ?, seconds = ?, finished_at = current_timestamp WHERE judge_run_id = ?",
            [stats.status, stats.n_ok, stats.n_failed, stats.lm_calls, stats.prompt_tokens,
             stats.completion_tokens, stats.cost, stats.seconds, stats.run_id],
        )


def to_json(model: BaseModel) -> str:
    return json.dumps(model.model_dump())
