"""The audit writer: every audit and undo lands in the store, in the order it was made, exactly once.

A trainer or judge run may hold the DuckDB write lock at any moment, so writes happen on one
background thread (a Textual thread worker), each in a short-lived transaction whose lock retry
is bounded by the store (see :class:`recsys.store.Store`). An operation that still cannot get the
lock stays queued and is tried again after a pause; the UI hears about it and never waits.

Each operation is first appended to a journal file beside the store, and the journal is emptied
once the queue has drained. A run killed while the store was locked replays its journal on the
next start (inserts are idempotent by audit id, deletes trivially so): no audit is ever lost.

An operation that can never land (the store refuses it: a constraint, a type, a missing table; or
any other error that outlasts ``max_attempts`` tries) is set aside with the reason in a file beside
the store (``<store>.audits.rejected.jsonl``), and the writer goes on with the rest. A set-aside
operation is never replayed from the journal. A locked store is not such an error: it is retried
until the lock is released.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import duckdb

from recsys.store import Store, StoreLockedError
from tui.queries import Audit, PairKey, delete_audit, insert_audit


@dataclass(frozen=True)
class WriteOp:
    """Insert an audit, or delete one (an undo)."""

    action: Literal["insert", "delete"]
    audit: Audit

    def to_json(self) -> str:
        body = asdict(self)
        body["audit"]["audited_at"] = self.audit.audited_at.isoformat()
        return json.dumps(body)

    @classmethod
    def from_json(cls, line: str) -> WriteOp:
        body = json.loads(line)
        audit = body["audit"]
        audit["key"] = PairKey(**audit["key"])
        audit["audited_at"] = datetime.fromisoformat(audit["audited_at"])
        return cls(body["action"], Audit(**audit))


def journal_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".audits.journal")


def rejected_path(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".audits.rejected.jsonl")


# Errors the same operation will meet again however often it is tried.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    duckdb.ConstraintException, duckdb.ConversionException, duckdb.BinderException, duckdb.CatalogException,
    duckdb.InvalidInputException, duckdb.ParserException, duckdb.OutOfRangeException, duckdb.TypeMismatchException,
    ValueError, TypeError, KeyError, AttributeError,
)


def is_permanent(error: BaseException) -> bool:
    return not isinstance(error, StoreLockedError) and isinstance(error, PERMANENT_ERRORS)


class AuditWriter:
    """An ordered, journaled queue of audit writes drained by :meth:`run` on one thread.

    Args:
        store: The store (its lock retry bounds each attempt).
        retry_pause_s: Pause before trying again after an attempt failed.
        max_attempts: Tries of an operation that fails with an error other than the lock before it is
            set aside (a permanent error sets it aside at once).
    """

    def __init__(self, store: Store, retry_pause_s: float = 1.0, max_attempts: int = 20) -> None:
        self.store = store
        self.retry_pause_s = retry_pause_s
        self.max_attempts = max_attempts
        self.journal = journal_path(store.path)
        self.rejected = rejected_path(store.path)
        self.n_rejected = 0
        self._queue: queue.Queue[WriteOp] = queue.Queue()
        self._lock = threading.Lock()  # guards the journal and the pending count
        self._pending = 0
        self._replay()

    @property
    def pending(self) -> int:
        """Operations submitted and not yet in the store."""
        return self._pending

    def _rejected_ids(self) -> set[tuple[str, str]]:
        if not self.rejected.exists():
            return set()
        ids = set()
        for line in self.rejected.read_text().splitlines():
            try:
                body = json.loads(line)
                ids.add((body["op"]["action"], body["op"]["audit"]["audit_id"]))
            except (ValueError, KeyError, TypeError):
                continue
        return ids

    def _replay(self) -> None:
        if not self.journal.exists():
            return
        rejected = self._rejected_ids()
        for line in self.journal.read_text().splitlines():
            try:
                op = WriteOp.from_json(line)
            except (ValueError, KeyError, TypeError):
                continue  # a line torn by a kill mid-append: that keypress never got its journal entry
            if (op.action, op.audit.audit_id) in rejected:
                continue  # set aside earlier: it can never land, so it is not tried again
            self._queue.put(op)
            self._pending += 1

    def submit(self, op: WriteOp) -> None:
        """Journal the operation, then queue it; thread-safe and immediate."""
        with self._lock:
            with self.journal.open("a") as journal:
                journal.write(op.to_json() + "\n")
            self._pending += 1
        self._queue.put(op)

    def _apply(self, op: WriteOp) -> None:
        if op.action == "insert":
            insert_audit(self.store, op.audit)
        else:
            delete_audit(self.store, op.audit.audit_id)

    def _set_aside(self, op: WriteOp, reason: str) -> None:
        with self._lock:
            with self.rejected.open("a") as out:
                out.write(json.dumps({"op": json.loads(op.to_json()), "reason": reason,
                                      "set_aside_at": datetime.now().isoformat(timespec="seconds")}) + "\n")
            self.n_rejected += 1

    def run(self, cancelled: Callable[[], bool], on_written: Callable[[WriteOp, int], None],
            on_busy: Callable[[int, str, bool], None],
            on_rejected: Callable[[WriteOp, str, int], None] | None = None) -> None:
        """Drain the queue until ``cancelled()``; call back after each write, after each failed attempt
        with the pending count, the error and whether it was the lock, and after an operation is set
        aside (``on_rejected(op, reason, pending)``; then the writer goes on with the next)."""
        waiting: deque[WriteOp] = deque()
        attempts = 0
        while True:
            try:
                # Block briefly only when idle; either way the queue's order is the write order.
                waiting.append(self._queue.get(timeout=0.05) if not waiting else self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            if cancelled():
                return
            if not waiting:
                continue
            op = waiting[0]
            try:
                self._apply(op)
            except Exception as error:  # noqa: BLE001 - kept and retried: a lock past the budget, a full disk...
                locked = isinstance(error, StoreLockedError)
                attempts += 0 if locked else 1
                if is_permanent(error) or attempts >= self.max_attempts:
                    reason = f"{type(error).__name__}: {error}"
                    self._set_aside(op, reason)
                    waiting.popleft()
                    attempts = 0
                    self._done_one()
                    if on_rejected is not None:
                        on_rejected(op, reason, self._pending)
                    continue
                on_busy(self._pending, str(error), locked)
                deadline = time.monotonic() + self.retry_pause_s
                while time.monotonic() < deadline and not cancelled():
                    time.sleep(0.05)
                continue
            waiting.popleft()
            attempts = 0
            self._done_one()
            on_written(op, self._pending)

    def _done_one(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending == 0:
                # Everything submitted is in the store (or set aside): the journal has nothing left to protect.
                self.journal.unlink(missing_ok=True)
