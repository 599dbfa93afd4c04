"""Audits as labeled pairs for the evals: one JSON object per line (the format is in tui/README.md)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from recsys.store import Store
from tui.queries import fetch_export

EXPORT_FIELDS = ("split_id", "candidate_set", "user_idx", "item_idx", "kind", "label", "source", "labeler",
                 "labeled_at", "note", "judge_decision", "audit")


def export_rows(store: Store, auditor: str | None = None) -> list[dict]:
    """Each auditor's latest correct/hallucinated audit of each pair; unsure audits are left out."""
    rows = fetch_export(store, auditor)
    for row in rows:
        labeled_at: datetime = row["labeled_at"]
        row["labeled_at"] = labeled_at.isoformat(timespec="seconds") + "+00:00"  # stored as UTC
    return [{field: row[field] for field in EXPORT_FIELDS} for row in rows]


def export_jsonl(store: Store, out: str | Path, auditor: str | None = None) -> int:
    """Write the labels to ``out`` (replaced whole, through a temporary file); returns how many."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = export_rows(store, auditor)
    partial = out.with_name(out.name + ".partial")
    partial.write_text("".join(json.dumps(row) + "\n" for row in rows))
    partial.replace(out)
    return len(rows)
