"""The judge's results and runs: ``profiles``, ``verdicts`` (and the LLM baselines' ``method_outputs``,
written the same way), ``judge_runs``, plus what the judge jobs and ``python -m judge status`` read.

Rows of profiles, verdicts and method outputs are written one outcome at a time (:func:`write_result_row`)
and resumed by their keys (:func:`stored_keys`); each judge run is a ``judge_runs`` row that is started,
refreshed by a heartbeat and finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import duckdb

from recsys.store.database import Store

# SELECT fragment: seconds since a run's heartbeat (runs or judge_runs), NULL before migration 8 rows.
HEARTBEAT_AGE_SQL = "epoch(current_timestamp::TIMESTAMP) - epoch(heartbeat_at)"


def stored_keys(store: Store, table: str, key_columns: Sequence[str], where: Mapping[str, Any],
                ok_only: bool) -> set[tuple]:
    """The ``key_columns`` of the rows of ``table`` matching every ``where`` column (only ``ok`` rows
    with ``ok_only``)."""
    conditions = " AND ".join(f"{column} = ?" for column in where)
    status = " AND status = 'ok'" if ok_only else ""
    with store.connect() as con:
        rows = con.execute(
            f"SELECT {', '.join(key_columns)} FROM {table} WHERE {conditions}{status}", list(where.values())
        ).fetchall()
    return set(rows)


def count_failed_rows(store: Store, table: str, where: Mapping[str, Any]) -> int:
    """How many rows of ``table`` matching every ``where`` column are stored as failed (status other
    than ``ok``): a re-run keeps them unless it is asked to retry failed rows."""
    conditions = " AND ".join(f"{column} = ?" for column in where) or "TRUE"
    with store.connect() as con:
        return con.execute(f"SELECT count(*) FROM {table} WHERE {conditions} AND status <> 'ok'",
                           list(where.values())).fetchone()[0]


def write_result_row(store: Store, table: str, row: Mapping[str, Any]) -> None:
    """One result row (column -> value), in its own transaction; a row with the same key is replaced."""
    columns = ", ".join(row)
    placeholders = ", ".join("?" for _ in row)
    with store.transaction() as con:
        con.execute(f"INSERT OR REPLACE INTO {table} ({columns}) VALUES ({placeholders})", list(row.values()))


# ---------------------------------------------------------------------------------------------
# judge_runs


def insert_judge_run(store: Store, run_id: str, command: str, lm: str, config_json: str, status: str,
                     n_tasks: int, n_skipped: int, pid: int, host: str) -> None:
    """A started judge run, its heartbeat set to now."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO judge_runs (judge_run_id, command, lm, config, status, n_tasks, n_skipped, heartbeat_at,"
            " pid, host) VALUES (?, ?, ?, ?, ?, ?, ?, current_timestamp, ?, ?)",
            [run_id, command, lm, config_json, status, n_tasks, n_skipped, pid, host],
        )


def finish_judge_run(store: Store, run_id: str, *, status: str, n_ok: int, n_failed: int, n_skipped: int,
                     lm_calls: int, prompt_tokens: int, completion_tokens: int, cost: float | None,
                     seconds: float) -> None:
    """A judge run's final status and totals; its heartbeat and finish time set to now."""
    with store.transaction() as con:
        con.execute(
            "UPDATE judge_runs SET status = ?, n_ok = ?, n_failed = ?, n_skipped = ?, lm_calls = ?, prompt_tokens = ?,"
            " completion_tokens = ?, cost = ?, seconds = ?, heartbeat_at = current_timestamp,"
            " finished_at = current_timestamp WHERE judge_run_id = ?",
            [status, n_ok, n_failed, n_skipped, lm_calls, prompt_tokens, completion_tokens, cost, seconds, run_id],
        )


def beat_judge_run(store: Store, run_id: str, n_ok: int, n_failed: int, lm_calls: int) -> None:
    """Refresh a running judge run's heartbeat and counts (a run no longer running is left alone)."""
    with store.transaction() as con:
        con.execute("UPDATE judge_runs SET heartbeat_at = current_timestamp, n_ok = ?, n_failed = ?, lm_calls = ?"
                    " WHERE judge_run_id = ? AND status = 'running'", [n_ok, n_failed, lm_calls, run_id])


# ---------------------------------------------------------------------------------------------
# what the judge jobs read


def candidate_set_split(con: duckdb.DuckDBPyConnection, candidate_set: str) -> str:
    """The split a candidate set was drawn from."""
    split_id, = con.execute("SELECT split_id FROM candidate_sets WHERE candidate_set = ?",
                            [candidate_set]).fetchone()
    return split_id


def candidate_pairs(con: duckdb.DuckDBPyConnection, candidate_set: str, kinds: Sequence[str]
                    ) -> list[tuple[int, int]]:
    """(user, item) of the candidates of ``kinds``, by user, kind and rank."""
    return con.execute(
        "SELECT user_idx, item_idx FROM candidates WHERE candidate_set = ? AND kind IN ? ORDER BY user_idx, kind, rank",
        [candidate_set, list(kinds)]).fetchall()


def newest_candidate_set(store: Store, split_id: str) -> str | None:
    """The split's most recently stored candidate set, None if it has none."""
    with store.connect() as con:
        row = con.execute("SELECT candidate_set FROM candidate_sets WHERE split_id = ? "
                          "ORDER BY created_at DESC LIMIT 1", [split_id]).fetchone()
    return None if row is None else row[0]


def count_pairs_missing_verdicts(store: Store, candidate_set: str, lm: str, prompt_hash: str) -> int:
    """Candidate pairs (low-score positives, high-score negatives) without an ``ok`` verdict from both
    views for this LM and prompt."""
    with store.connect() as con:
        return con.execute(
            "SELECT count(*) FROM candidates c WHERE c.candidate_set = ? "
            "AND c.kind IN ('low_score_positive', 'high_score_negative') AND ("
            " SELECT count(DISTINCT v.view) FROM verdicts v WHERE v.candidate_set = c.candidate_set"
            " AND v.user_idx = c.user_idx AND v.item_idx = c.item_idx AND v.lm = ? AND v.prompt_hash = ?"
            " AND v.status = 'ok') < 2",
            [candidate_set, lm, prompt_hash]).fetchone()[0]


# ---------------------------------------------------------------------------------------------
# what `python -m judge status` shows (all read on one connection)


class ProfileCount(NamedTuple):
    kind: str
    lm: str
    prompt_hash: str
    status: str
    error_kind: str
    n: int


class VerdictCount(NamedTuple):
    view: str
    lm: str
    prompt_hash: str
    status: str
    error_kind: str
    label: str
    n: int


class JudgeRunRow(NamedTuple):
    judge_run_id: str
    command: str
    status: str
    n_tasks: int | None
    n_ok: int | None
    n_failed: int | None
    n_skipped: int | None
    lm_calls: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None  # rounded to 4 places
    seconds: float | None  # rounded to 1 place
    heartbeat_age_s: float | None
    pid: int | None
    host: str | None


class TrainerRunRow(NamedTuple):
    run_id: str
    model: str
    status: str
    started_at: datetime
    heartbeat_age_s: float | None
    pid: int | None
    host: str | None


class PairLabels(NamedTuple):
    kind: str
    user_label: str | None
    item_label: str | None


def profile_counts(con: duckdb.DuckDBPyConnection) -> list[ProfileCount]:
    """Profiles by kind, LM, prompt, status and error kind ('' for none)."""
    rows = con.execute("SELECT kind, lm, prompt_hash, status, coalesce(error_kind, '') AS error_kind, "
                       "count(*) AS n FROM profiles GROUP BY ALL ORDER BY ALL").fetchall()
    return [ProfileCount(*row) for row in rows]


def verdict_counts(con: duckdb.DuckDBPyConnection) -> list[VerdictCount]:
    """Verdicts by view, LM, prompt, status, error kind and label ('' for none)."""
    rows = con.execute("SELECT view, lm, prompt_hash, status, coalesce(error_kind, '') AS error_kind, "
                       "coalesce(label, '') AS label, count(*) AS n FROM verdicts GROUP BY ALL ORDER BY ALL").fetchall()
    return [VerdictCount(*row) for row in rows]


def recent_judge_runs(con: duckdb.DuckDBPyConnection) -> list[JudgeRunRow]:
    """The 10 most recently started judge runs, newest first."""
    rows = con.execute(
        "SELECT judge_run_id, command, status, n_tasks, n_ok, n_failed, n_skipped, lm_calls, prompt_tokens, "
        f"completion_tokens, round(cost, 4), round(seconds, 1), {HEARTBEAT_AGE_SQL}, pid, host "
        "FROM judge_runs ORDER BY started_at DESC LIMIT 10").fetchall()
    return [JudgeRunRow(*row) for row in rows]


def recent_trainer_runs(con: duckdb.DuckDBPyConnection) -> list[TrainerRunRow]:
    """The 5 most recently started trainer runs (``runs``), newest first."""
    rows = con.execute(
        f"SELECT run_id, model, status, started_at, {HEARTBEAT_AGE_SQL}, pid, host FROM runs "
        "ORDER BY started_at DESC LIMIT 5").fetchall()
    return [TrainerRunRow(*row) for row in rows]


def judged_pair_labels(con: duckdb.DuckDBPyConnection) -> list[PairLabels]:
    """(candidate kind, user-view label, item-view label) of every pair with an ok verdict from both
    views of the same LM and prompt."""
    rows = con.execute(
        "SELECT c.kind, u.label, i.label FROM verdicts u "
        "JOIN verdicts i USING (candidate_set, user_idx, item_idx, lm, prompt_hash) "
        "JOIN candidates c USING (candidate_set, user_idx, item_idx) "
        "WHERE u.view = 'user' AND i.view = 'item' AND u.status = 'ok' AND i.status = 'ok'").fetchall()
    return [PairLabels(*row) for row in rows]
