"""Queries behind the benchmark scripts' committed cell records (:mod:`evals.harness.ledger`): finished
runs and their reported metrics, read out of the store and written back into a fresh one."""

from __future__ import annotations

from collections.abc import Sequence

from recsys.store.database import Store

# The ``runs`` columns a cell record keeps, in its order.
RUN_COLUMNS = ("run_id", "split_id", "model", "config", "config_hash", "code_version", "status", "best_epoch",
               "timings", "started_at", "finished_at")


def insert_missing_runs(store: Store, runs: Sequence[tuple[dict, Sequence[Sequence]]]) -> int:
    """Insert each ``(run row, metric rows)`` whose run id the store lacks, with its metrics as
    ``[epoch, split, name, value]`` rows (a metric the store has is kept); a run the store has stays as
    it is. One connection for all of them. Returns how many runs were added."""
    if not runs:
        return 0
    added = 0
    with store.connect() as con:
        have = {row[0] for row in con.execute("SELECT run_id FROM runs WHERE run_id IN ?",
                                              [[run["run_id"] for run, _ in runs]]).fetchall()}
        for run, metrics in runs:
            if run["run_id"] in have:
                continue
            con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                        [run.get(column) for column in RUN_COLUMNS])
            con.executemany("INSERT OR IGNORE INTO metrics (run_id, epoch, split, name, value) VALUES (?, ?, ?, ?, ?)",
                            [[run["run_id"], *row] for row in metrics])
            added += 1
    return added


def finished_runs_with_metrics(store: Store, run_ids: list[str]) -> tuple[list[tuple], list[tuple]]:
    """The ``RUN_COLUMNS`` rows of the finished runs among ``run_ids``, and their metric rows
    ``(run_id, epoch, split, name, value)``: test and denoising rows, plus validation at the run's best
    epoch (not every epoch's curve), ordered by run, split, name and epoch."""
    with store.connect() as con:
        runs = con.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id IN ? AND status = 'finished'",
                           [run_ids]).fetchall()
        metrics = con.execute(
            "SELECT m.run_id, m.epoch, m.split, m.name, m.value FROM metrics m JOIN runs r USING (run_id) "
            "WHERE m.run_id IN ? AND (m.split <> 'valid' OR m.epoch = r.best_epoch) "
            "ORDER BY m.run_id, m.split, m.name, m.epoch", [run_ids]).fetchall()
    return runs, metrics
