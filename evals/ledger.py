"""A committed text record of a benchmark's finished cells, beside its report (``REPORT.cells.jsonl``).

The store is git-ignored, and a fresh checkout (or a lost machine) has none: without this record a
report could not be regenerated, and every cell would be trained again. The benchmark scripts import
the record into their store before they look for a cell (a cell found there is "stored", not retrained)
and export the cells they report after. One JSON object per line, sorted, so diffs stay readable:

* ``{"kind": "run", "run": <runs row>, "metrics": [[epoch, split, name, value], ...]}``, the metrics
  being the test and denoising rows plus validation at the best epoch (not every epoch's curve);
* ``{"kind": <other>, "key": ..., ...}``: a script's own report inputs that live outside ``runs`` (the
  bench's LM work per split, judge_value's measured judges), kept as the rows the report reads.

Importing never overwrites: a run already in the store stays as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from recsys.store import Store

RUN_COLUMNS = ("run_id", "split_id", "model", "config", "config_hash", "code_version", "status", "best_epoch",
               "timings", "started_at", "finished_at")


def ledger_path(report: Path) -> Path:
    """Where a report's cell record lives: beside it, ``bench.md`` -> ``bench.cells.jsonl``."""
    return Path(report).with_suffix(".cells.jsonl")


def read_ledger(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{number}: not a JSON record ({error.msg}); fix or delete the line, "
                             "and re-run to export the store's cells again") from error
    return records


def record_key(record: dict) -> tuple[str, str]:
    return (record["kind"], record["run"]["run_id"] if record["kind"] == "run" else json.dumps(record["key"]))


def import_ledger(store: Store, path: Path) -> int:
    """Insert the record's finished runs (and their metrics) that the store lacks; returns how many."""
    runs = [r for r in read_ledger(path) if r["kind"] == "run"]
    if not runs:
        return 0
    added = 0
    with store.connect() as con:
        have = {row[0] for row in con.execute("SELECT run_id FROM runs WHERE run_id IN ?",
                                              [[r["run"]["run_id"] for r in runs]]).fetchall()}
        for record in runs:
            run = record["run"]
            if run["run_id"] in have:
                continue
            con.execute(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                        [run.get(column) for column in RUN_COLUMNS])
            con.executemany("INSERT OR IGNORE INTO metrics (run_id, epoch, split, name, value) VALUES (?, ?, ?, ?, ?)",
                            [[run["run_id"], *row] for row in record["metrics"]])
            added += 1
    return added


def run_records(store: Store, run_ids: Iterable[str]) -> list[dict]:
    """The ledger records of these finished runs, read from the store."""
    run_ids = sorted({r for r in run_ids if isinstance(r, str)})  # a missing cell is None or NaN
    if not run_ids:
        return []
    with store.connect() as con:
        runs = con.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE run_id IN ? AND status = 'finished'",
                           [run_ids]).fetchall()
        metrics = con.execute(
            "SELECT m.run_id, m.epoch, m.split, m.name, m.value FROM metrics m JOIN runs r USING (run_id) "
            "WHERE m.run_id IN ? AND (m.split <> 'valid' OR m.epoch = r.best_epoch) "
            "ORDER BY m.run_id, m.split, m.name, m.epoch", [run_ids]).fetchall()
    by_run: dict[str, list] = {}
    for run_id, *row in metrics:
        by_run.setdefault(run_id, []).append(row)
    records = []
    for values in runs:
        run = dict(zip(RUN_COLUMNS, values, strict=True))
        for stamp in ("started_at", "finished_at"):
            run[stamp] = run[stamp].isoformat() if run[stamp] is not None else None
        records.append({"kind": "run", "run": run, "metrics": by_run.get(run["run_id"], [])})
    return records


def write_ledger(path: Path, records: list[dict]) -> Path:
    """Merge ``records`` into the file (a record replaces the one with its key; others stay), atomically."""
    path = Path(path)
    merged = {record_key(r): r for r in read_ledger(path)}
    merged |= {record_key(r): r for r in records}
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(merged[key], sort_keys=True, default=str) + "\n" for key in sorted(merged)))
    tmp.replace(path)
    return path


def extra_records(path: Path, kind: str) -> list[dict]:
    """The record's rows of one non-run ``kind``."""
    return [r for r in read_ledger(path) if r["kind"] == kind]


def read_into(store: Store, path: Path, console) -> None:
    """Import the record before a script looks for its cells, saying how many it added."""
    if added := import_ledger(store, path):
        console.print(f"{added} finished cells read from {path}")


def export_cells(store: Store, path: Path, run_ids: Iterable[str], extra: Iterable[dict] = ()) -> Path:
    """Write these runs (and a script's own ``extra`` records) to the record, merged with what it holds."""
    return write_ledger(path, run_records(store, run_ids) + list(extra))
