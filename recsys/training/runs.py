"""Recording a run in the store: its config, status, timings and metrics.

Writers hold the store only around write batches: metrics are buffered and flushed at most every
``flush_seconds``, and always when the run ends, fails or is interrupted. Every flush also refreshes
the run's ``heartbeat_at``: a ``running`` run whose heartbeat stopped was killed (kill -9, OOM) and
reads as ``abandoned`` (:func:`judge.records.effective_status`).
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from recsys.store import Store
from recsys.store.runs import finish_run, insert_running_run, touch_run_heartbeat, upsert_metrics

if TYPE_CHECKING:
    from recsys.training.trainer import TrainResult

_REPO_ROOT = Path(__file__).resolve().parent.parent


def code_version() -> str:
    """The package version plus the git commit when run from a checkout ('+dirty' if modified)."""
    from recsys import __version__

    try:
        sha = subprocess.run(
            ["git", "-C", str(_REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(_REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+{sha}{'.dirty' if dirty else ''}"


# Fields added after stores with results existed: at these values they are left out of the hash, so
# earlier runs and candidate sets (and the verdicts bought for them) keep matching.
LATER_FIELD_DEFAULTS = {"label_reserve": 0.0, "encoding": "utf-8", "delimiter": None, "rating_scale": None,
                        "implicit_rating": None, "include_implicit": False, "profiles": "llm", "llmhd_keep_score": 6, "llmhd_like_score": 8,
                        "llmhd_dislike_score": 3, "llmhd_rounds": 1, "hnlmrec_negatives": 10, "hnlmrec_share": 0.2,
                        "judge_accuracy": None, "judge_tpr": None, "judge_tnr": None, "judge_seed": None,
                        "judge_users": None, "candidate_share": None, "candidate_budget": 300,
                        "gate_break_even": 0.8, "gate_lab": True, "force_edit": False, "edit_graph": False,
                        "pool_candidates": 1, "lambda_align": 0.0,
                        # issue 15: per-call timeout (no effect on results), the LM identity override,
                        # and leave to edit the graph from a partial judge
                        "timeout_s": 300.0, "lm_id": None, "allow_partial": False,
                        # issue 16: where training runs; CPU runs keep their hashes
                        "device": "cpu",
                        # issue 28: the control judges' removal share
                        "judge_remove_share": None}
# Later fields whose default changed what these models compute: kept in their hashes at any value, so
# their earlier runs (judged on the first 100 users) do not pass for new ones.
CHANGED_FOR_MODELS = {"candidate_budget": {"llmhni"}}
# Fields whose default became "the dataset's": hashed as their old default, since the split id (which
# every run is keyed by beside its hash) carries the value the split actually used.
HASHED_AS_OLD_DEFAULT = {"positive_threshold": 3.0}
# Renamed fields, hashed under their old names so that the runs stored before the rename keep matching.
HASHED_AS_OLD_NAME = {"lambda_rlmrec": "lambda_align"}


def config_hash(config: BaseModel, exclude: set[str] = frozenset()) -> str:
    """A stable hash of the fields that change results (display and path options excluded)."""
    fields = config.model_dump(mode="json", exclude=set(exclude))
    for name, old_name in HASHED_AS_OLD_NAME.items():
        if name in fields:
            fields[old_name] = fields.pop(name)
    for name, old in HASHED_AS_OLD_DEFAULT.items():
        if name in fields and fields[name] is None:
            fields[name] = old
    for name, default in LATER_FIELD_DEFAULTS.items():
        if name in fields and fields[name] == default and fields.get("model") not in CHANGED_FOR_MODELS.get(name, ()):
            del fields[name]
    payload = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class RunRecorder:
    """One row in ``runs`` and its rows in ``metrics``."""

    def __init__(self, store: Store, split_id: str, model: str, config: BaseModel, *,
                 hash_exclude: set[str] = frozenset(), flush_seconds: float = 5.0):
        self.store = store
        self.run_id = uuid.uuid4().hex[:12]
        self.flush_seconds = flush_seconds
        self._pending: list[tuple] = []
        self._last_flush = time.monotonic()
        with store.transaction() as con:
            insert_running_run(con, self.run_id, split_id, model, config.model_dump_json(),
                               config_hash(config, hash_exclude), code_version(), os.getpid(), socket.gethostname())

    def log(self, epoch: int, split: str, values: dict[str, float]) -> None:
        self._pending.extend((self.run_id, epoch, split, name, float(value)) for name, value in values.items())
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        with self.store.transaction() as con:
            if self._pending:
                upsert_metrics(con, self._pending)
            touch_run_heartbeat(con, self.run_id)
        self._pending.clear()
        self._last_flush = time.monotonic()

    def finish(self, status: str, best_epoch: int | None = None, timings: dict | None = None) -> None:
        self.flush()
        with self.store.transaction() as con:
            finish_run(con, self.run_id, status, best_epoch, json.dumps(timings or {}))


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def record_training(store: Store, split_id: str, model: str, config: BaseModel,
                    train: Callable[[Callable[[int, float, dict | None], None]], TrainResult], *,
                    hash_exclude: set[str] = frozenset(), flush_seconds: float = 5.0,
                    extra_metrics: dict[str, dict[str, float]] | None = None,
                    extra_timings: dict[str, float] | None = None) -> tuple[str, TrainResult]:
    """Run ``train(on_epoch)`` as one recorded run: every epoch's loss and validation metrics, the
    test metrics at the best epoch, ``extra_metrics`` (by split name, at epoch 0), timings and peak
    memory. Ctrl-C marks the run ``interrupted``, an error ``failed``."""
    recorder = RunRecorder(store, split_id, model, config, hash_exclude=hash_exclude, flush_seconds=flush_seconds)
    started = time.perf_counter()

    def on_epoch(epoch: int, loss: float, valid: dict | None) -> None:
        recorder.log(epoch, "train", {"loss": loss})
        if valid is not None:
            recorder.log(epoch, "valid", valid)

    try:
        for split, values in (extra_metrics or {}).items():
            recorder.log(0, split, values)
        result = train(on_epoch)
        recorder.log(result.best_epoch, "test", result.test)
        for split, values in result.extra_metrics.items():
            recorder.log(0, split, values)
    except KeyboardInterrupt:
        recorder.finish("interrupted")
        raise
    except BaseException:
        recorder.finish("failed")
        raise
    result.timings |= (extra_timings or {}) | {
        "total_seconds": time.perf_counter() - started, "peak_memory_mb": peak_memory_mb()}
    recorder.finish("finished", result.best_epoch, result.timings)
    return recorder.run_id, result
