"""`python -m evals.oneoff.scale_runs STORE`: the measured ml-1m runs of a store as a markdown table.

    python -m evals.oneoff.scale_runs store/ml1m.duckdb

Reads only (a read-only connection, retried while a training run holds the write lock). One row per
recorded run: model, batch size, status, epochs run, best validation epoch and Recall@20, test
Recall@20/NDCG@20 at the best epoch (finished runs only), seconds per training epoch and per
validation (finished runs; an interrupted run has none), and its wall time from start to finish
(or to its last heartbeat). The runs themselves are started with `python -m recsys.train`; the
commands are in evals/reports/scale_ml-1m.md.
"""

from __future__ import annotations

import json
import sys
import time

import duckdb

from evals.harness.tables import markdown_table
from recsys.store.reports import run_test_metrics, runs_by_start, valid_recall20_by_epoch


def connect(path: str) -> duckdb.DuckDBPyConnection:
    for _ in range(100):
        try:
            return duckdb.connect(path, read_only=True)
        except duckdb.IOException:
            time.sleep(0.3)
    return duckdb.connect(path, read_only=True)


def rows(path: str) -> list[dict]:
    con = connect(path)
    out = []
    for run_id, model, status, config, best_epoch, timings, started, ended in runs_by_start(con):
        config, timings = json.loads(config), json.loads(timings) if timings else {}
        valid = valid_recall20_by_epoch(con, run_id)
        test = run_test_metrics(con, run_id)
        best = max(valid, key=lambda r: r[1]) if valid else (None, None)
        out.append({
            "run_id": run_id, "model": model, "status": status, "batch_size": config.get("batch_size"),
            "lr": config.get("lr"), "epochs_run": len(valid), "best_epoch": best[0], "best_valid_recall@20": best[1],
            "test_recall@20": test.get("recall@20"), "test_ndcg@20": test.get("ndcg@20"),
            "s_per_epoch": timings.get("seconds_per_epoch"), "s_per_eval": timings.get("seconds_per_eval"),
            "wall_s": (ended - started).total_seconds() if ended else None,
            "started": str(started), "ended": str(ended)})
    con.close()
    return out


def fmt(value, digits=4) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def main(path: str) -> None:
    header = ["run", "model", "batch", "status", "epochs", "best epoch", "best valid R@20", "test R@20", "test N@20",
              "s / epoch", "s / eval", "wall (s)"]
    print("\n".join(markdown_table(header, [
        [r["run_id"][:8], r["model"], r["batch_size"], r["status"], r["epochs_run"], fmt(r["best_epoch"]),
         fmt(r["best_valid_recall@20"]), fmt(r["test_recall@20"]), fmt(r["test_ndcg@20"]), fmt(r["s_per_epoch"], 2),
         fmt(r["s_per_eval"], 2), fmt(r["wall_s"], 0)] for r in rows(path)], "llrlrrrrrrrr")))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "store/ml1m.duckdb")
