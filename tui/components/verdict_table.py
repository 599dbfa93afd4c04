"""The verdict list: a DataTable that holds every row of the query but renders them a page at a time.

Adding 50,000 rows to a DataTable takes seconds, so rows enter the widget in pages of ``page_size``
as the cursor or the scroll position nears the end of what is loaded. The full result lives in
``all_rows`` (plain tuples, cheap to hold), so paging never touches the store.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tui.queries import VerdictRow

LABEL_STYLE = {"High": "green", "Mid": "yellow", "Low": "red"}
ACTION_STYLE = {"removed": "bold red", "added": "bold green", "kept": "dim", "no verdict": "dim italic"}
AUDIT_MARK = {"correct": ("✓", "green"), "hallucinated": ("✗", "bold red"), "unsure": ("?", "yellow")}
KIND_TEXT = {"low_score_positive": "low-score pos", "high_score_negative": "high-score neg"}
KIND_SHORT = {"low_score_positive": "low pos", "high_score_negative": "high neg"}
# Narrow enough that the ground-truth column still fits 120 terminal columns.
COLUMNS = (("user", "user"), ("item", "item"), ("kind", "kind"), ("score", "score"), ("u-view", "user_view"),
           ("i-view", "item_view"), ("decision", "decision"), ("action", "action"), ("audit", "audit"))
TITLE_WIDTH = 26


def _label(label: str | None, failed: bool = True) -> Text:
    """A view's label; without one, "failed" (the call failed) or "pending" (not judged yet)."""
    if label:
        return Text(label, style=LABEL_STYLE[label])
    return Text("failed", style="dim red") if failed else Text("pending", style="dim italic")


def audit_cell(audit: str | None, pending: bool = False) -> Text:
    if audit is None:
        return Text("·", style="dim")
    return audit_text(audit, short=True, pending=pending)


def audit_text(audit: str, short: bool = False, pending: bool = False) -> Text:
    mark, style = AUDIT_MARK[audit]
    name = "halluc." if short and audit == "hallucinated" else audit
    # A pending mark until the writer has the audit in the store.
    return Text(f"{mark} {name}" + (" …" if pending else ""), style=style)


FLAG_MARK = "⚠ "  # the pair's item text or user profile looks like instructions (judge.injection)


def title_cell(row: VerdictRow) -> str | Text:
    """The item's title, shortened to fit; a flagged pair's starts with a bold yellow ⚠."""
    width = TITLE_WIDTH - (len(FLAG_MARK) if row.flag else 0)
    title = row.title if len(row.title) <= width else row.title[:width - 1] + "…"
    return Text.assemble((FLAG_MARK, "bold yellow"), title) if row.flag else title


def cells(row: VerdictRow, show_truth: bool, pending: bool = False) -> list:
    values = [
        Text(str(row.user_idx), justify="right"),
        title_cell(row), KIND_SHORT[row.kind], Text(f"{row.score:.2f}", justify="right"), _label(row.user_label, row.user_failed),
        _label(row.item_label, row.item_failed), row.decision or Text("—", style="dim"),
        Text(row.action, style=ACTION_STYLE[row.action]), audit_cell(row.audit, pending),
    ]
    if show_truth:
        values.append(Text(row.truth or "—", style="bold magenta" if row.truth == "injected" else "magenta"))
    return values


class VerdictTable(DataTable):
    """Rows of judged pairs; ``row_at_cursor`` is the highlighted one.

    ctrl+end goes to the last loaded row, which loads the next page: it never stalls on 50,000 rows.
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "select_cursor", "Detail")]  # shown in the Footer, unlike DataTable's own
    page_size = 200

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.all_rows: list[VerdictRow] = []
        self.positions: dict[str, int] = {}
        self.pending: set[str] = set()
        self.show_truth = False
        self._paging = False

    def set_rows(self, rows: list[VerdictRow], show_truth: bool, keep_cursor: bool = False) -> None:
        """Replace the list; the first page is rendered now, the rest as the user gets near it."""
        cursor = self.cursor_row if keep_cursor else 0
        self.all_rows, self.positions, self.show_truth = [], {}, show_truth
        self.clear(columns=True)  # with no rows held, the cursor watcher has nothing to page in meanwhile
        for label, key in COLUMNS + ((("truth", "truth"),) if show_truth else ()):
            self.add_column(label, key=key)
        self.all_rows = rows
        self._load_until(max(cursor, 0) + self.page_size)
        if self.row_count:
            self.move_cursor(row=min(cursor, self.row_count - 1), scroll=True)

    def extend_rows(self, rows: list[VerdictRow]) -> None:
        """The rest of a list whose first page is already shown (same order, so nothing moves)."""
        self.all_rows = rows

    def _load_until(self, end: int) -> None:
        start = self.row_count
        end = min(end, len(self.all_rows))
        if end <= start or self._paging:
            return
        self._paging = True  # add_row moves the cursor, whose watcher would page in again
        try:
            for position in range(start, end):
                row = self.all_rows[position]
                key = row.key.as_id()
                self.positions[key] = position
                self.add_row(*cells(row, self.show_truth, key in self.pending), key=key)
        finally:
            self._paging = False

    def _maybe_load_more(self) -> None:
        if self.row_count < len(self.all_rows) and (
                self.cursor_row >= self.row_count - self.page_size // 4
                or self.scroll_y + self.scrollable_content_region.height >= self.virtual_size.height - 20):
            self._load_until(self.row_count + self.page_size)

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        self._maybe_load_more()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._maybe_load_more()

    @property
    def row_at_cursor(self) -> VerdictRow | None:
        if not self.row_count or self.cursor_row < 0:
            return None
        return self.all_rows[self.cursor_row]

    def set_pending(self, key_id: str, pending: bool) -> None:
        """Drop (or add) the pending mark of a pair, keeping its audit state."""
        position = self.positions.get(key_id)
        if position is not None:
            row = self.all_rows[position]
            self.set_audit(key_id, row.audit, row.auditor, pending)
        elif not pending:
            self.pending.discard(key_id)

    def set_audit(self, key_id: str, audit: str | None, auditor: str | None, pending: bool) -> None:
        """Show a new audit state for one pair, loaded into the widget or not."""
        if pending:
            self.pending.add(key_id)
        else:
            self.pending.discard(key_id)
        position = self.positions.get(key_id)
        if position is None:
            position = next((i for i, r in enumerate(self.all_rows) if r.key.as_id() == key_id), None)
            if position is None:
                return
        self.all_rows[position] = self.all_rows[position]._replace(audit=audit, auditor=auditor)
        if position < self.row_count:
            self.update_cell(key_id, "audit", audit_cell(audit, pending))
