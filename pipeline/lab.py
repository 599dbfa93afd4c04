"""The judge gate's break-even accuracies, as the judge-value lab measured them.

`python -m evals.judge_value` writes one entry per (dataset, noise setting) to ``pipeline/break_even.json``:
the simulated-judge accuracy p at which each curve starts to pay (the full model against its own
G' = G run, plain BPR on G' against the noisy backbone, and each of the two against the same model on random
edits of the same share, which the gate prefers: the candidates alone hold more noise than G, so beating the
unedited model credits the judge with the candidate selection). The full model's gate reads the entry of the
dataset and noise setting it trains on; where the lab has none (a user's own data, a setting not in
the grid) it keeps the fixed ``--gate-break-even``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

# Package data of `pipeline`, found through importlib.resources so that an installed wheel reads it too.
LAB_FILE = Path(str(resources.files("pipeline") / "break_even.json"))
# Which lab curve a method's graph edit is read against. Where the lab measured it, the break-even against
# random edits of the same share (the judge's own information, net of its candidates) comes first.
CURVES = ("llmhni", "bpr_on_g_prime")
# Preferred first: the curve's own control, then BPR's (measured on more grids), then the curve itself.
AGAINST_RANDOM = {"llmhni": ("llmhni_vs_random", "bpr_on_g_prime_vs_random"),
                  "bpr_on_g_prime": ("bpr_on_g_prime_vs_random",)}


def entry_key(entry: dict) -> tuple[str, str, float]:
    return entry["dataset_id"], entry["noise_kind"], round(float(entry["noise_ratio"]), 6)


def read_lab(path: Path | None = None) -> list[dict]:
    """The lab's entries (of ``path``, default :data:`LAB_FILE`); none where the file is missing or
    unreadable (the gate then says so)."""
    try:
        entries = json.loads(Path(path or LAB_FILE).read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [e for e in entries if isinstance(e, dict) and {"dataset_id", "noise_kind", "noise_ratio"} <= set(e)]


def write_lab(entries: list[dict], path: Path | None = None) -> Path:
    """Merge ``entries`` into the file, field by field: a grid that completed one curve of a dataset and
    noise setting replaces that curve's value and keeps the other curve an earlier grid measured."""
    merged = {entry_key(e): e for e in read_lab(path)}
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for entry in entries:
        merged[entry_key(entry)] = merged.get(entry_key(entry), {}) | entry | {"written_at": stamp}
    path = Path(path or LAB_FILE)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"entries": sorted(merged.values(), key=entry_key)}, indent=1) + "\n")
    tmp.replace(path)  # a reader never sees half a file
    return path


def pre_protocol_caveat(entry: dict, curve: str) -> str:
    """What a gate message must add when the entry predates issue 28's protocol: a break-even against the
    unedited model (it credits the judge with its candidates) or from a single split."""
    caveats = ([] if curve.endswith("_vs_random") else ["not against random edits, so it credits the judge with "
                                                        "its candidates"])
    if len(entry.get("split_seeds") or []) < 2:
        caveats.append("one split")
    return f"; a pre-protocol entry: {', '.join(caveats)}" if caveats else ""


def lab_break_even(dataset_id: str, noise_kind: str, noise_ratio: float, curve: str,
                   path: Path | None = None) -> tuple[float, str] | None:
    """(break-even, where it comes from) for ``curve`` on this dataset and noise setting, or None.

    A curve that never paid in the grid (not even at p = 1) gives 1.0: only a perfect judge edits.
    A curve already paying at the grid's lowest p gives that p (the true break-even may be lower)."""
    if curve not in CURVES:
        raise ValueError(f"unknown lab curve {curve!r}; one of {CURVES}")
    key, path = (dataset_id, noise_kind, round(float(noise_ratio), 6)), Path(path or LAB_FILE)
    for entry in read_lab(path):
        read = next((name for name in (*AGAINST_RANDOM[curve], curve) if name in entry), None)
        if entry_key(entry) != key or read is None:
            continue
        curve = read
        value, floor = entry[curve], entry.get(f"{curve}_at_grid_floor", False)
        setting = f"{noise_kind} {noise_ratio:.0%}"
        caveat = pre_protocol_caveat(entry, curve)
        if value is None:
            return 1.0, f"the lab's {curve} curve never paid on {dataset_id} at {setting}{caveat} ({path.name})"
        return float(value), (f"the lab's {curve} break-even on {dataset_id} at {setting}"
                              + (" (already paying at the grid's lowest p)" if floor else "") + caveat
                              + f" ({path.name})")
    return None
