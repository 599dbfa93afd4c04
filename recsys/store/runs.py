"""Queries on ``runs`` and ``metrics``: a recorded run's row, its heartbeat and status, and its metric values.

Each takes the caller's open connection, so a recorder's writes keep their transactions."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb


def insert_running_run(con: duckdb.DuckDBPyConnection, run_id: str, split_id: str, model: str, config: str,
                       config_hash: str, code_version: str, pid: int, host: str) -> None:
    """A new run in status ``running``, its heartbeat now; ``config`` is the config's JSON."""
    con.execute(
        "INSERT INTO runs (run_id, split_id, model, config, config_hash, code_version, status,"
        " heartbeat_at, pid, host) VALUES (?, ?, ?, ?, ?, ?, 'running', current_timestamp, ?, ?)",
        [run_id, split_id, model, config, config_hash, code_version, pid, host],
    )


def upsert_metrics(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple[str, int, str, str, float]]) -> None:
    """Metric values as (run_id, epoch, split, name, value); a repeated key replaces its value."""
    con.executemany(
        "INSERT OR REPLACE INTO metrics (run_id, epoch, split, name, value) VALUES (?, ?, ?, ?, ?)",
        rows,
    )


def touch_run_heartbeat(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Set the run's ``heartbeat_at`` to now (a running run without heartbeats reads as abandoned)."""
    con.execute("UPDATE runs SET heartbeat_at = current_timestamp WHERE run_id = ?", [run_id])


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str, best_epoch: int | None,
               timings: str) -> None:
    """End the run: its final status, best epoch and ``timings`` JSON, heartbeat and finish time now."""
    con.execute(
        "UPDATE runs SET status = ?, best_epoch = ?, timings = ?, heartbeat_at = current_timestamp,"
        " finished_at = current_timestamp WHERE run_id = ?",
        [status, best_epoch, timings, run_id],
    )
