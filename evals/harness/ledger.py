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
from recsys.store.ledger import RUN_COLUMNS, finished_runs_with_metrics, insert_missing_runs


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
    return insert_missing_runs(store, [(r["run"], r["metrics"]) for r in read_ledger(path) if r["kind"] == "run"])


def run_records(store: Store, run_ids: Iterable[str]) -> list[dict]:
    """The ledger records of these finished runs, read from the store."""
    run_ids = sorted({r for r in run_ids if isinstance(r, str)})  # a missing cell is None or NaN
    if not run_ids:
        return []
    runs, metrics = finished_runs_with_metrics(store, run_ids)
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
