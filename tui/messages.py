"""Custom messages between the app's workers, widgets and screens."""

from __future__ import annotations

from textual.message import Message

from tui.queries import Detail, Filters, Stats, VerdictRow
from tui.writer import WriteOp


class FiltersChanged(Message):
    """The filter bar changed what the list should show."""

    def __init__(self, filters: Filters) -> None:
        super().__init__()
        self.filters = filters


class RowsLoaded(Message):
    """A list query finished; ``complete`` is False for the quick first page of a two-phase load."""

    def __init__(self, generation: int, rows: list[VerdictRow], complete: bool, seconds: float,
                 store_empty: bool = False) -> None:
        super().__init__()
        self.generation = generation
        self.rows = rows
        self.complete = complete
        self.seconds = seconds
        self.store_empty = store_empty  # no judged pair at all (not merely none matching the filters)


class DetailLoaded(Message):
    def __init__(self, detail: Detail) -> None:
        super().__init__()
        self.detail = detail


class StatsLoaded(Message):
    def __init__(self, stats: Stats) -> None:
        super().__init__()
        self.stats = stats


class StoreError(Message):
    """A read failed (the store stayed locked past the retry budget, or another error)."""

    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class AuditWritten(Message):
    """The writer landed one operation in the store."""

    def __init__(self, op: WriteOp, pending: int) -> None:
        super().__init__()
        self.op = op
        self.pending = pending


class StoreBusy(Message):
    """A write failed (above all: the lock stayed taken past the retry budget); the writer keeps the
    operations and tries again."""

    def __init__(self, pending: int, error: str, locked: bool) -> None:
        super().__init__()
        self.pending = pending
        self.error = error
        self.locked = locked


class AuditRejected(Message):
    """The writer set an audit aside: the store can never take it (the reason is in the rejected file)."""

    def __init__(self, op: WriteOp, reason: str, pending: int, path: str) -> None:
        super().__init__()
        self.op = op
        self.reason = reason
        self.pending = pending
        self.path = path
