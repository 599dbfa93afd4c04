"""Read-only queries of the benchmark and report scripts (:mod:`evals`): which cell is stored, a cell's
metrics and timings, the LM work of a split, the judges measured on a labeled set, and the tables the
one-off measurements read back.

A function that takes a :class:`~recsys.store.Store` opens one short-lived connection for its
statements; one that takes a connection runs on the caller's, so several reads share it as before."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd

from recsys.store.database import Store

# ---------------------------------------------------------------------------------------------
# benchmark cells (evals.harness.cells)


def finished_run_id(store: Store, model: str, config_hash: str) -> str | None:
    """The latest finished run of ``model`` with this config hash, or None."""
    with store.connect() as con:
        row = con.execute("SELECT run_id FROM runs WHERE model = ? AND config_hash = ? AND status = 'finished' "
                          "ORDER BY finished_at DESC LIMIT 1",
                          [model, config_hash]).fetchone()
    return row[0] if row else None


def cell_metrics_and_runs(store: Store, run_ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The test, denoising and text-source metrics of these runs, long (``run_id``, ``name`` as ``split/name``,
    ``value``), and their ``run_id, split_id, timings, best_epoch`` rows."""
    with store.connect() as con:
        metrics = con.execute("SELECT run_id, split || '/' || name AS name, value FROM metrics WHERE run_id IN ? "
                              "AND split IN ('test', 'denoise', 'text')", [run_ids]).df()
        runs = con.execute("SELECT run_id, split_id, timings, best_epoch FROM runs WHERE run_id IN ?", [run_ids]).df()
    return metrics, runs


# Where each kind of stored LM work lives: (table, the rows of one split, with one ? for the split id).
_IN_SPLIT_SETS = ("IN (SELECT candidate_set FROM candidate_sets WHERE split_id = ? "
                  "AND candidate_set NOT LIKE 'labels|%')")
LM_WORK_SOURCES = {
    "user profiles": ("profiles", "split_id = ? AND kind = 'user'"),
    "item profiles": ("profiles", "split_id = ? AND kind = 'item'"),
    "verdicts": ("verdicts", f"candidate_set {_IN_SPLIT_SETS}"),
    "llmhd scores and updates": ("method_outputs", f"task LIKE 'llmhd%' AND scope {_IN_SPLIT_SETS}"),
    "generated negatives": ("method_outputs", "task = 'hnlmrec_negative' AND scope = ?"),
}


def lm_work_per_split(store: Store, split_ids: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """LM calls, tokens and seconds of each kind of stored LM work (the keys of ``LM_WORK_SOURCES``) per
    split, the labeled sets' candidate sets left out."""
    work = {}
    with store.connect() as con:
        for split_id in split_ids:
            work[split_id] = {}
            for name, (table, where) in LM_WORK_SOURCES.items():
                calls, tokens, seconds = con.execute(
                    f"SELECT coalesce(sum(attempts), 0), coalesce(sum(prompt_tokens + completion_tokens), 0), "
                    f"coalesce(sum(latency_s), 0) FROM {table} WHERE {where}", [split_id]).fetchone()
                work[split_id][name] = {"calls": int(calls), "tokens": int(tokens), "seconds": float(seconds)}
    return work


def valid_at_best_epoch(store: Store, run_ids: list[str], metric: str) -> dict[str, float]:
    """Validation ``metric`` at each run's best epoch, by run id."""
    with store.connect() as con:
        rows = con.execute("SELECT m.run_id, m.value FROM metrics m JOIN runs r USING (run_id) WHERE m.run_id IN ? "
                           "AND m.split = 'valid' AND m.name = ? AND m.epoch = r.best_epoch",
                           [run_ids, metric]).fetchall()
    return dict(rows)


def run_denoise_metrics(store: Store, run_id: str) -> dict[str, float]:
    """A run's ``denoise`` metrics (what its judge removed, from which candidates), by name."""
    with store.connect() as con:
        return dict(con.execute("SELECT name, value FROM metrics WHERE run_id = ? AND split = 'denoise'",
                                [run_id]).fetchall())


def run_split_id(store: Store, run_id: str) -> str:
    """The split a recorded run trained on."""
    with store.connect() as con:
        return con.execute("SELECT split_id FROM runs WHERE run_id = ?", [run_id]).fetchone()[0]


# ---------------------------------------------------------------------------------------------
# judges (evals.judge_value, evals.oneoff.judge_summary)


def dataset_ids_of_splits(store: Store, split_ids: list[str]) -> dict[str, str]:
    """The dataset id of each of these splits the store holds, by split id."""
    with store.connect() as con:
        return dict(con.execute("SELECT split_id, dataset_id FROM splits WHERE split_id IN ?",
                                [split_ids]).fetchall())


def latest_llm_judge_evals(store: Store) -> pd.DataFrame:
    """The latest evaluation on a labeled test part of each LM judge, prompt and LM per dataset: columns
    dataset, judge, lm, prompt_hash, balanced_accuracy, n_pairs, label_set; best first per dataset."""
    with store.connect() as con:
        return con.execute(
            "SELECT s.dataset_id AS dataset, e.judge, e.lm, e.prompt_hash, e.balanced_accuracy, e.n_pairs, "
            "e.label_set FROM judge_evals e JOIN label_sets l USING (label_set) "
            "JOIN splits s ON s.split_id = l.split_id WHERE e.judge LIKE 'llm%' AND e.part = 'test' "
            "QUALIFY row_number() OVER (PARTITION BY s.dataset_id, e.judge, e.prompt_hash, e.lm "
            " ORDER BY e.created_at DESC) = 1 ORDER BY s.dataset_id, e.balanced_accuracy DESC").df()


def latest_judge_evals(store: Store, label_set: str | None, part: str) -> tuple[str, pd.DataFrame] | None:
    """The newest ``judge_evals`` row per (judge, prompt hash) on ``part`` of the label set (None: the set
    evaluated last), with its ``first_seen``; None when no evaluation of ``part`` is stored.

    Ordered zero-shot first, then each optimizer's program in the order it was first measured, then the
    baselines; a calibrated row follows its plain judge."""
    with store.connect() as con:
        if label_set is None:
            found = con.execute("SELECT label_set FROM judge_evals WHERE part = ? ORDER BY created_at DESC LIMIT 1",
                                [part]).fetchone()
            if found is None:
                return None
            label_set = found[0]
        frame = con.execute(
            "SELECT *, min(created_at) OVER (PARTITION BY prompt_hash) AS first_seen FROM judge_evals "
            "WHERE label_set = ? AND part = ? "
            "QUALIFY row_number() OVER (PARTITION BY judge, coalesce(prompt_hash, '') ORDER BY created_at DESC) = 1 "
            "ORDER BY prompt_hash IS NULL, json_extract_string(details, '$.optimizer') IS NOT NULL, first_seen, "
            "regexp_replace(judge, '^llm(-calibrated)?:', ''), judge LIKE 'llm-calibrated:%', created_at",
            [label_set, part]).df()
    return label_set, frame


# ---------------------------------------------------------------------------------------------
# judge throughput (evals.oneoff.bench_judge): each runs on the caller's connection


def ok_verdict_labels(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(view, label, count) of every parsed verdict, ordered."""
    return con.execute("SELECT view, label, count(*) FROM verdicts WHERE status = 'ok' "
                       "GROUP BY ALL ORDER BY ALL").fetchall()


def failed_verdict_kinds(con: duckdb.DuckDBPyConnection) -> list[tuple[str, int]]:
    """(error kind, count) of the failed verdicts, ordered."""
    return con.execute("SELECT error_kind, count(*) FROM verdicts WHERE status = 'failed' "
                       "GROUP BY ALL ORDER BY ALL").fetchall()


def judged_pairs_per_user(con: duckdb.DuckDBPyConnection, candidate_set: str) -> float:
    """Judged candidates (top positives left out) per user of the candidate set."""
    return con.execute("SELECT count(*) / count(DISTINCT user_idx) FROM candidates WHERE "
                       "candidate_set = ? AND kind <> 'top_positive'", [candidate_set]).fetchone()[0]


def failed_profile_kinds(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """(profile kind, error kind, count) of the failed profiles, ordered."""
    return con.execute("SELECT kind, error_kind, count(*) FROM profiles WHERE status = 'failed' "
                       "GROUP BY ALL ORDER BY ALL").fetchall()


# ---------------------------------------------------------------------------------------------
# one-off timings (evals.oneoff.full_model, bench_scale, scale_runs)


def llmhni_timings_fresh_and_warm(path: Path, config_hash: str) -> tuple[list[tuple], list[tuple]]:
    """The ``timings`` of the first finished llmhni run in the store file (a fresh store) and of the latest
    finished one with ``config_hash`` (a warm store); a row list each, empty where none. Read-only."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        fresh = con.execute("SELECT timings FROM runs WHERE model = 'llmhni' AND status = 'finished' "
                            "ORDER BY started_at LIMIT 1").fetchall()
        warm = con.execute("SELECT timings FROM runs WHERE model = 'llmhni' AND config_hash = ? AND status = 'finished' "
                           "ORDER BY started_at DESC LIMIT 1", [config_hash]).fetchall()
    finally:
        con.close()
    return fresh, warm


def finished_runs_at_noise(con: duckdb.DuckDBPyConnection, dataset_id: str, noise_ratio: float,
                           models: Sequence[str]) -> list[tuple[str, str, str]]:
    """(model, split_id, timings) of the finished runs of ``models`` on the dataset's realistic-noise
    splits at ``noise_ratio``."""
    return con.execute(
        "SELECT model, split_id, timings FROM runs JOIN splits USING (split_id) WHERE dataset_id = ? "
        "AND noise_kind = 'realistic' AND noise_ratio = ? AND status = 'finished' AND model IN ?",
        [dataset_id, noise_ratio, list(models)]).fetchall()


def max_llmhni_parallel(con: duckdb.DuckDBPyConnection) -> int | None:
    """The most LM calls in flight (``parallel``) any llmhni run was configured with; None without one."""
    return con.execute(
        "SELECT max(CAST(json_extract(config, '$.parallel') AS INTEGER)) FROM runs WHERE model = 'llmhni'"
    ).fetchone()[0]


class RecordedRun(NamedTuple):
    """A ``runs`` row as the scale table reads it; ``ended`` is its finish or else its last heartbeat."""

    run_id: str
    model: str
    status: str
    config: str
    best_epoch: int | None
    timings: str | None
    started: datetime
    ended: datetime | None


def runs_by_start(con: duckdb.DuckDBPyConnection) -> list[RecordedRun]:
    """Every recorded run, oldest first."""
    return [RecordedRun(*row) for row in con.execute(
        "SELECT run_id, model, status, config, best_epoch, timings, started_at, "
        "coalesce(finished_at, heartbeat_at) FROM runs ORDER BY started_at").fetchall()]


def valid_recall20_by_epoch(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[int, float]]:
    """(epoch, validation Recall@20) of every validated epoch of the run, in order."""
    return con.execute("SELECT epoch, value FROM metrics WHERE run_id = ? AND split = 'valid' "
                       "AND name = 'recall@20' ORDER BY epoch", [run_id]).fetchall()


def run_test_metrics(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, float]:
    """The run's test metrics by name."""
    return dict(con.execute("SELECT name, value FROM metrics WHERE run_id = ? AND split = 'test'",
                            [run_id]).fetchall())
