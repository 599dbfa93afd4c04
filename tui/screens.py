"""The app's screens: the verdict list with its detail pane, a full detail, and the stats.

Every store read runs in a thread worker (short-lived connection, bounded lock retry) and comes
back as a message, so a store locked by a trainer delays a list, never the keyboard.
"""

from __future__ import annotations

import time
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Static

from tui.components.detail_view import DetailView
from tui.components.filter_bar import FilterBar
from tui.components.stats_view import StatsView
from tui.components.verdict_table import VerdictTable
from tui.host import AuditHost
from tui.messages import DetailLoaded, FiltersChanged, RowsLoaded, StatsLoaded, StoreError
from tui.queries import Filters, PairKey, VerdictRow, fetch_detail, fetch_rows, fetch_stats, store_has_verdicts

# The shortest path to something to audit: a few real verdicts of the embedded LM (docs/tui.md).
SAMPLE_VERDICTS = ("python -m judge candidates --max-users 10 --candidate-budget None; "
                   "python -m judge profiles --max-users 10 --kinds user; python -m judge verdicts")
NO_VERDICTS_YET = (f"this store holds no judged pairs yet. A small set of real verdicts (about 90 LM calls, under "
                   f"10 minutes on 2 cores): `{SAMPLE_VERDICTS}`, with this --store (docs/tui.md)")

# The audit keys, on both screens that show a pair.
AUDIT_BINDINGS = [
    Binding("c", "audit('correct')", "Correct"),
    Binding("h", "audit('hallucinated')", "Hallucinated"),
    Binding("u", "audit('unsure')", "Unsure"),
    Binding("n", "note", "Note"),
    Binding("z", "undo", "Undo"),
]


class PairActions:
    """Audit, note and undo on the pair a screen points at; the app does the writing."""

    app: AuditHost

    def current_row(self) -> VerdictRow | None:
        raise NotImplementedError

    def action_audit(self, value: str) -> None:
        row = self.current_row()
        if row is not None and self.app.audit(row, value):
            self.after_audit()

    def action_note(self) -> None:
        row = self.current_row()
        if row is not None:
            self.app.note(row)

    def action_undo(self) -> None:
        self.app.undo()

    def after_audit(self) -> None:
        pass

    def pair_written(self, key: PairKey) -> None:
        """An audit of ``key`` reached the store: show it if this screen shows that pair."""


class AuditScreen(PairActions, Screen):
    """The verdict list, its filters, and a detail pane that follows the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        *AUDIT_BINDINGS,
        # The filter keys are named in the filter bar itself, so the Footer keeps to the audit keys.
        Binding("d", "toggle_disagree", "Disagree", show=False),
        Binding("a", "cycle_action", "Action", show=False),
        Binding("o", "cycle_sort", "Sort", show=False),
        Binding("slash", "focus_user", "User", show=False),
        Binding("g", "toggle_truth", "Truth", show=False),
        Binding("escape", "focus_list", "List", show=False),
        Binding("r", "reload", "Reload"),
        Binding("s", "stats", "Stats"),
        Binding("x", "export", "Export"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._generation = 0
        self._started = 0.0
        self._detail_timer: Timer | None = None
        self._keep_cursor = False
        self._first_page_of: int | None = None
        self._detail_due = False
        self._status_text = ""
        self.load_seconds: float | None = None  # the last full load, for the benchmark

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar(self.app.initial_filters, id="filters")
        yield VerdictTable(id="verdicts")
        yield DetailView(id="detail-pane")
        yield Static("opening the store…", id="status")
        yield Footer()

    @property
    def table(self) -> VerdictTable:
        return self.query_one(VerdictTable)

    @property
    def filter_bar(self) -> FilterBar:
        return self.query_one(FilterBar)

    def on_mount(self) -> None:
        self.table.focus()

    def current_row(self) -> VerdictRow | None:
        return self.table.row_at_cursor

    def after_audit(self) -> None:
        self.table.action_cursor_down()  # audit, next: the common rhythm

    def pair_written(self, key: PairKey) -> None:
        row = self.current_row()
        if row is not None and row.key == key:
            self.load_detail(row)

    # ---- loading the list -------------------------------------------------------------------
    def reload(self, keep_cursor: bool = False) -> None:
        self._generation += 1
        self._keep_cursor = keep_cursor
        self.load_seconds = None
        self._started = time.perf_counter()
        self.set_status("loading…")
        self._load_rows(self._generation, self.filter_bar.filters)

    @work(thread=True, exclusive=True, group="rows")
    def _load_rows(self, generation: int, filters: Filters) -> None:
        app = self.app
        page = VerdictTable.page_size
        try:
            # Two phases: the first page appears at once, the full (sorted) list follows for paging.
            first = fetch_rows(app.store, filters, app.rule, limit=page)
            empty = not first and not store_has_verdicts(app.store)
            self.post_message(RowsLoaded(generation, first, len(first) < page, time.perf_counter() - self._started,
                                         store_empty=empty))
            if len(first) == page:
                rows = fetch_rows(app.store, filters, app.rule)
                self.post_message(RowsLoaded(generation, rows, True, time.perf_counter() - self._started))
        except Exception as error:  # noqa: BLE001 - shown to the auditor, who can press r
            self.post_message(StoreError("loading the list", str(error)))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        if message.generation != self._generation:
            return  # a newer filter has been asked for
        table, filters = self.table, self.filter_bar.filters
        rows = self.app.overlay_pending(message.rows)
        shown = table.row_count
        # The full list after its own first page: extend, so that the cursor and scroll stay put.
        follows_first_page = message.complete and self._first_page_of == message.generation and (
            [r.key for r in table.all_rows[:shown]] == [r.key for r in rows[:shown]])
        if follows_first_page:
            table.extend_rows(rows)
        else:
            table.set_rows(rows, filters.show_truth, keep_cursor=self._keep_cursor)
        self._first_page_of = None if message.complete else message.generation
        self._store_empty = message.store_empty
        if message.complete:
            self.load_seconds = message.seconds
            self.set_status("no judged pairs in this store yet" if message.store_empty else f"{len(rows):,} pairs")
        else:
            self.set_status(f"{len(rows):,}+ pairs, loading the rest…")
        self._schedule_detail()

    def set_status(self, text: str) -> None:
        pending = self.app.writer.pending if self.app.writer else 0
        self._status_text = text
        suffix = f" · {pending} audit{'s' if pending != 1 else ''} saving…" if pending else ""
        busy = f" · {self.app.busy_message}" if self.app.busy_message and pending else ""
        for status in self.query("#status").results(Static):  # none while the app shuts down
            status.update(f"{text}{suffix}{busy} · auditor {self.app.auditor} · rule {self.app.rule}")

    def refresh_status(self) -> None:
        self.set_status(self._status_text)

    def on_store_error(self, message: StoreError) -> None:
        self.set_status(f"error {message.what}: {message.error} (press r to retry)")
        self.notify(message.error, title=f"error {message.what}", severity="error")

    @on(FiltersChanged)
    def _filters_changed(self) -> None:
        self.reload()

    @on(Input.Submitted, "#user-filter")
    def _user_entered(self) -> None:
        self.table.focus()  # Enter in the user box returns to the list

    # ---- the detail pane --------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        self._schedule_detail()

    def _schedule_detail(self) -> None:
        # Debounced: holding the arrow key down queries only where the cursor comes to rest.
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_due = True
        self._detail_timer = self.set_timer(0.12, self._load_current_detail)

    @property
    def busy(self) -> bool:
        """A list or detail load is due or running (tests and the benchmark wait on this)."""
        running = any(not w.is_finished for w in self.workers if w.group in ("rows", "detail"))
        return self.load_seconds is None or self._detail_due or running

    def _load_current_detail(self) -> None:
        self._detail_due = False
        row = self.current_row()
        pane = self.query_one(DetailView)
        if row is None:
            pane.clear(NO_VERDICTS_YET if getattr(self, "_store_empty", False) else "no pairs match these filters")
        else:
            self.load_detail(row)

    @work(thread=True, exclusive=True, group="detail")
    def load_detail(self, row: VerdictRow) -> None:
        try:
            self.post_message(DetailLoaded(fetch_detail(self.app.store, row.key)))
        except Exception as error:  # noqa: BLE001
            self.post_message(StoreError("loading the detail", str(error)))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        row = self.current_row()
        if row is not None and row.key == message.detail.key:
            self.query_one(DetailView).show(row, message.detail)

    # ---- actions ----------------------------------------------------------------------------
    def action_open_detail(self) -> None:
        row = self.current_row()
        if row is not None:
            self.app.push_screen(DetailScreen(row))

    @on(DataTable.RowSelected)
    def _row_selected(self) -> None:
        self.action_open_detail()

    def action_toggle_disagree(self) -> None:
        self.filter_bar.toggle_disagree()

    def action_cycle_action(self) -> None:
        self.filter_bar.cycle_action()

    def action_cycle_sort(self) -> None:
        self.filter_bar.cycle_sort()

    def action_focus_user(self) -> None:
        self.filter_bar.focus_user()

    def action_focus_list(self) -> None:
        self.table.focus()

    def action_toggle_truth(self) -> None:
        self.filter_bar.toggle_truth()

    def action_reload(self) -> None:
        self.reload(keep_cursor=True)

    def action_stats(self) -> None:
        self.app.push_screen(StatsScreen())

    def action_export(self) -> None:
        self.app.ask_export()


class DetailScreen(PairActions, Screen):
    """One pair on the whole screen; audit keys work here too."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back"), *AUDIT_BINDINGS]

    def __init__(self, row: VerdictRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        yield Header()
        yield DetailView(id="detail-full")
        yield Footer()

    def on_mount(self) -> None:
        self.load_detail()

    def current_row(self) -> VerdictRow | None:
        return self.app.current_state(self.row)

    def pair_written(self, key: PairKey) -> None:
        if key == self.row.key:
            self.load_detail()

    @work(thread=True, exclusive=True, group="detail")
    def load_detail(self) -> None:
        try:
            self.post_message(DetailLoaded(fetch_detail(self.app.store, self.row.key)))
        except Exception as error:  # noqa: BLE001
            self.post_message(StoreError("loading the detail", str(error)))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self.query_one(DetailView).show(self.current_row(), message.detail)

    def on_store_error(self, message: StoreError) -> None:
        self.notify(message.error, title=f"error {message.what}", severity="error")


class StatsScreen(Screen):
    """Judge-vs-audit agreement, overall and per view, and hallucination rates."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"), Binding("r", "reload", "Reload"), Binding("x", "export", "Export")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatsView("loading…", id="stats")
        yield Footer()

    def on_mount(self) -> None:
        self.load_stats()

    @work(thread=True, exclusive=True, group="stats")
    def load_stats(self) -> None:
        try:
            self.post_message(StatsLoaded(fetch_stats(self.app.store)))
        except Exception as error:  # noqa: BLE001
            self.post_message(StoreError("loading the stats", str(error)))

    def pair_written(self, key: PairKey) -> None:
        self.load_stats()

    def on_stats_loaded(self, message: StatsLoaded) -> None:
        self.query_one(StatsView).show(message.stats)

    def on_store_error(self, message: StoreError) -> None:
        self.query_one(StatsView).update(f"error {message.what}: {message.error} (press r to retry)")

    def action_reload(self) -> None:
        self.load_stats()

    def action_export(self) -> None:
        self.app.ask_export()
