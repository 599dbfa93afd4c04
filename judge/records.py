"""Reading the judge's inputs from the store and writing its results and runs back."""

from __future__ import annotations

import json
import random

from pydantic import BaseModel

from judge.runner import Outcome, RunStats
from recsys.store import Store


def item_texts(store: Store, split_id: str) -> dict[int, str]:
    with store.connect() as con:
        rows = con.execute(
            "SELECT i.item_idx, coalesce(i.text, i.title, i.raw_id) FROM items i "
            "JOIN splits s ON s.dataset_id = i.dataset_id WHERE s.split_id = ?",
            [split_id],
        ).fetchall()
    return dict(rows)


def user_histories(store: Store, split_id: str, max_items: int) -> dict[int, list[int]]:
    """Each user's training items, most recent first (implicit feedback: ratings are not shown)."""
    with store.connect() as con:
        rows = con.execute(
            "SELECT i.user_idx, list(i.item_idx ORDER BY r.ts DESC NULLS LAST, i.item_idx) FROM interactions i "
            "JOIN splits s USING (split_id) "
            "LEFT JOIN ratings r ON r.dataset_id = s.dataset_id AND r.user_idx = i.user_idx AND r.item_idx = i.item_idx "
            "WHERE i.split_id = ? AND i.split = 'train' GROUP BY i.user_idx ORDER BY i.user_idx",
            [split_id],
        ).fetchall()
    return {user: items[:max_items] for user, items in rows}


def item_takers(store: Store, split_id: str, max_takers: int, seed: int) -> dict[int, list[int]]:
    """A seeded sample of each item's training users."""
    with store.connect() as con:
        rows = con.execute(
            "SELECT item_idx, list(user_idx ORDER BY user_idx) FROM interactions "
            "WHERE split_id = ? AND split = 'train' GROUP BY item_idx ORDER BY item_idx",
            [split_id],
        ).fetchall()
    rng = random.Random(seed)
    return {item: sorted(rng.sample(users, min(max_takers, len(users)))) for item, users in rows}


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
