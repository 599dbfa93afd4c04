"""Tables of LM work beyond the judge's own results: the LM identity every LM-keyed row carries (and its
renames), the ``judge_batches`` of ``--batch-api`` runs, and the LLM baselines' ``method_outputs``."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import duckdb

from recsys.store.database import Store

# ---------------------------------------------------------------------------------------------
# LM identities

# Tables whose rows are keyed by the LM identity.
LM_KEYED_TABLES = ("profiles", "verdicts", "method_outputs", "judge_runs", "judge_evals", "audits")


def lm_identities_starting_with(store: Store, prefix: str) -> set[str]:
    """The LM identities any LM-keyed table holds that start with ``prefix`` (taken literally)."""
    pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found: set[str] = set()
    with store.connect() as con:
        for table in LM_KEYED_TABLES:
            found |= {row[0] for row in con.execute(
                f"SELECT DISTINCT lm FROM {table} WHERE lm LIKE ? ESCAPE '\\'", [pattern]).fetchall()}
    return found


def rename_lm_identity(store: Store, old: str, new: str) -> dict[str, int]:
    """Re-key every row of LM ``old`` as ``new`` in every LM-keyed table, in one transaction (rows ``new``
    already has win). Returns the rows of ``old`` per table that had any."""
    moved = {}
    with store.transaction() as con:
        for table in LM_KEYED_TABLES:
            before = con.execute(f"SELECT count(*) FROM {table} WHERE lm = ?", [old]).fetchone()[0]
            if not before:
                continue
            con.execute(f"INSERT OR IGNORE INTO {table} SELECT * REPLACE (CAST(? AS VARCHAR) AS lm) "
                        f"FROM {table} WHERE lm = ?", [new, old])
            con.execute(f"DELETE FROM {table} WHERE lm = ?", [old])
            moved[table] = before
    return moved


# ---------------------------------------------------------------------------------------------
# judge_batches


class StoredBatch(NamedTuple):
    """A submitted batch not ingested yet, as a run resumes it."""

    batch_id: str
    input_file_id: str
    custom_ids: list[str]
    status: str


class OpenBatchRow(NamedTuple):
    """A submitted batch not ingested yet, as `python -m judge status` lists it."""

    batch_id: str
    command: str
    n_requests: int
    status: str
    created_at: datetime


def record_batch(store: Store, batch_id: str, input_file_id: str, command: str, table: str, lm: str,
                 custom_ids: list[str], status: str, run_id: str) -> None:
    """A submitted batch, in its own transaction, before it is polled."""
    with store.transaction() as con:
        # OR REPLACE: a server that reuses the id of a batch ingested long ago supersedes its row.
        con.execute("INSERT OR REPLACE INTO judge_batches (batch_id, command, table_name, lm, input_file_id, custom_ids, "
                    "n_requests, status, judge_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [batch_id, command, table, lm, input_file_id, custom_ids, len(custom_ids), status, run_id])


def stored_open_batches(store: Store, command: str, table: str) -> list[StoredBatch]:
    """The batches of ``command`` writing ``table`` that are not ingested yet, oldest first."""
    with store.connect() as con:
        rows = con.execute("SELECT batch_id, input_file_id, custom_ids, status FROM judge_batches WHERE command = ? "
                           "AND table_name = ? AND ingested_at IS NULL ORDER BY created_at", [command, table]).fetchall()
    return [StoredBatch(*row) for row in rows]


def set_batch_status(store: Store, batch_id: str, status: str, ingested: bool = False) -> None:
    """A batch's last seen status; ``ingested`` also marks it ingested now."""
    with store.transaction() as con:
        con.execute("UPDATE judge_batches SET status = ?" + (", ingested_at = current_timestamp" if ingested else "")
                    + " WHERE batch_id = ?", [status, batch_id])


def open_batches(con: duckdb.DuckDBPyConnection) -> list[OpenBatchRow]:
    """Every batch not ingested yet, oldest first."""
    rows = con.execute(
        "SELECT batch_id, command, n_requests, status, created_at FROM judge_batches "
        "WHERE ingested_at IS NULL ORDER BY created_at").fetchall()
    return [OpenBatchRow(*row) for row in rows]


# ---------------------------------------------------------------------------------------------
# method_outputs (the LLM baselines' LM work)


class MethodOutput(NamedTuple):
    user_idx: int
    item_idx: int
    round: int
    score: float | None
    text: str | None


def ok_method_outputs(store: Store, task: str, scope: str, lm: str, prompt_hash: str) -> list[MethodOutput]:
    """The ``ok`` rows of one task in one scope, for this LM and prompt."""
    with store.connect() as con:
        rows = con.execute(
            "SELECT user_idx, item_idx, round, score, text FROM method_outputs WHERE task = ? AND scope = ? "
            "AND lm = ? AND prompt_hash = ? AND status = 'ok'", [task, scope, lm, prompt_hash]).fetchall()
    return [MethodOutput(*row) for row in rows]


def low_score_positive_pairs(con: duckdb.DuckDBPyConnection, candidate_set: str) -> list[tuple[int, int]]:
    """(user, item) of the candidate set's low-scored positives, by user and rank."""
    return con.execute("SELECT user_idx, item_idx FROM candidates WHERE candidate_set = ? "
                       "AND kind = 'low_score_positive' ORDER BY user_idx, rank", [candidate_set]).fetchall()
