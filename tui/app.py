"""The audit app: review the judge's verdicts, mark hallucinated edges, and keep the audits.

The app owns the store handle, the audit writer (one background thread, see :mod:`tui.writer`)
and the undo stack; the screens read through thread workers and ask the app to write.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import get_current_worker

from recsys.store import Store
from tui.components.text_prompt import TextPrompt
from tui.export import export_jsonl
from tui.messages import AuditRejected, AuditWritten, StoreBusy, StoreError
from tui.queries import Audit, AuditValue, Filters, Rule, VerdictRow
from tui.screens import AuditScreen
from tui.writer import AuditWriter, WriteOp


class AuditApp(App[None]):
    """Audit the verdicts in the store at ``store_path``.

    Args:
        store_path: The DuckDB store (it must exist; the app adds its audits table if needed).
        auditor: Name recorded with every audit.
        rule: How the two views combine into hard or noise (as in ``python -m judge status``).
        filters: What the list shows first.
        lock_retries: Bounded retry of each store connection while another process holds the lock.
        quit_wait_s: How long quitting waits for audits still being written (the rest stay journaled).
    """

    CSS_PATH = "app.tcss"
    TITLE = "LLMHNI verdict audit"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]

    def __init__(self, store_path: str | Path, auditor: str, rule: Rule = "both_high",
                 filters: Filters | None = None, lock_retries: int = 10, quit_wait_s: float = 10.0) -> None:
        super().__init__()
        self.store_path = Path(store_path)
        self.auditor = auditor
        self.rule: Rule = rule
        self.initial_filters = filters or Filters()
        self.lock_retries = lock_retries
        self.quit_wait_s = quit_wait_s
        self.store: Store | None = None
        self.writer: AuditWriter | None = None
        self.busy_message = ""
        self.undo_stack: list[tuple[Audit, str | None, str | None]] = []
        self.in_flight: Counter[str] = Counter()  # writes not yet in the store, per pair
        self.shown: dict[str, tuple[str | None, str | None]] = {}  # the audit state shown for those pairs
        self.sub_title = f"{self.store_path.name} · auditor {auditor}"

    @property
    def audit_screen(self) -> AuditScreen:
        return self.get_screen("audit")  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.install_screen(AuditScreen(), "audit")
        self.push_screen("audit")
        self._open_store()

    @work(thread=True, exclusive=True, group="open")
    def _open_store(self) -> None:
        # Opening migrates (adds the audits table once), which needs the write lock: off the UI thread.
        try:
            store = Store(self.store_path, lock_retries=self.lock_retries)
            writer = AuditWriter(store)
        except Exception as error:  # noqa: BLE001
            self.post_message(StoreError("opening the store", str(error)))
            return
        self.call_from_thread(self._store_ready, store, writer)

    def _store_ready(self, store: Store, writer: AuditWriter) -> None:
        self.store, self.writer = store, writer
        if writer.pending:
            self.notify(f"{writer.pending} audits from an earlier session were still to be written; writing them now.")
        self.run_worker(self._write_loop, thread=True, group="writer", name="audit writer")
        self.audit_screen.reload()

    def on_store_error(self, message: StoreError) -> None:
        self.audit_screen.on_store_error(message)

    # ---- writing ------------------------------------------------------------------------------
    def _write_loop(self) -> None:
        worker = get_current_worker()
        self.writer.run(lambda: worker.is_cancelled,
                        lambda op, pending: self.post_message(AuditWritten(op, pending)),
                        lambda pending, error, locked: self.post_message(StoreBusy(pending, error, locked)),
                        lambda op, reason, pending: self.post_message(
                            AuditRejected(op, reason, pending, str(self.writer.rejected))))

    def on_audit_rejected(self, message: AuditRejected) -> None:
        # Like a written audit for the row's pending mark; then say where it went and why.
        self.on_audit_written(AuditWritten(message.op, message.pending))
        self.notify(f"An audit could not be stored and was set aside in {message.path}: {message.reason[:200]}",
                    severity="error", timeout=10)

    def on_audit_written(self, message: AuditWritten) -> None:
        key_id = message.op.audit.key.as_id()
        self.in_flight[key_id] -= 1
        if self.in_flight[key_id] <= 0:
            del self.in_flight[key_id]
            self.audit_screen.table.set_pending(key_id, False)
            self.shown.pop(key_id, None)
        if not message.pending:
            self.busy_message = ""
        self.audit_screen.refresh_status()
        written = getattr(self.screen, "pair_written", None)
        if written is not None:
            written(message.op.audit.key)

    def on_store_busy(self, message: StoreBusy) -> None:
        self.busy_message = ("store locked by another process, retrying" if message.locked
                             else f"write failed ({message.error}), retrying")
        self.audit_screen.refresh_status()

    def _submit(self, op: WriteOp, shown: str | None, shown_auditor: str | None) -> None:
        key_id = op.audit.key.as_id()
        self.in_flight[key_id] += 1
        self.shown[key_id] = (shown, shown_auditor)
        self.writer.submit(op)
        self.audit_screen.table.set_audit(key_id, shown, shown_auditor, pending=True)
        self.audit_screen.refresh_status()

    def audit(self, row: VerdictRow, value: AuditValue, note: str | None = None) -> bool:
        """Record an audit of ``row``; False (with a notice) when the pair has no decision to audit."""
        if self.writer is None:
            self.notify("the store is not open yet", severity="warning")
            return False
        if row.decision is None:
            self.notify("This pair has no decision (a view failed or is missing): nothing to audit.",
                        severity="warning")
            return False
        audit = Audit(
            audit_id=uuid.uuid4().hex, key=row.key, split_id=row.split_id, kind=row.kind, rule=self.rule,
            user_label=row.user_label, item_label=row.item_label, judge_decision=row.decision, audit=value,
            note=note or None, auditor=self.auditor,
            audited_at=datetime.now(timezone.utc).replace(tzinfo=None),
        )
        self.undo_stack.append((audit, row.audit, row.auditor))
        self._submit(WriteOp("insert", audit), value, self.auditor)
        return True

    def note(self, row: VerdictRow) -> None:
        """Ask for a note; it is stored as a new audit with the same verdict (so undo removes just the note)."""
        if row.audit is None:
            self.notify("Mark the pair first (c, h or u), then add a note.", severity="warning")
            return

        def save(note: str | None) -> None:
            if note is not None:
                self.audit(self.current_state(row), row.audit, note.strip())

        self.push_screen(TextPrompt(f"Note on this audit ({row.audit})", placeholder="why?"), save)

    def undo(self) -> None:
        if not self.undo_stack:
            self.notify("Nothing to undo.")
            return
        audit, previous, previous_auditor = self.undo_stack.pop()
        self._submit(WriteOp("delete", audit), previous, previous_auditor)
        table = self.audit_screen.table
        position = table.positions.get(audit.key.as_id())
        if position is not None:
            table.move_cursor(row=position)  # back to the pair, as it was before the audit moved on
        self.notify(f"Undid {audit.audit} on user {audit.key.user_idx}, item {audit.key.item_idx}.")

    def current_state(self, row: VerdictRow) -> VerdictRow:
        """``row`` as the list shows it now (its audit may have changed since it was handed out)."""
        table = self.audit_screen.table
        position = table.positions.get(row.key.as_id())
        return table.all_rows[position] if position is not None else row

    def overlay_pending(self, rows: list[VerdictRow]) -> list[VerdictRow]:
        """Rows fresh from the store, with the audits still being written shown as made."""
        if not self.shown:
            return rows
        return [row._replace(audit=self.shown[k][0], auditor=self.shown[k][1])
                if (k := row.key.as_id()) in self.shown else row for row in rows]

    # ---- export and quit ----------------------------------------------------------------------
    def ask_export(self) -> None:
        def go(path: str | None) -> None:
            if path:
                self._export(Path(path).expanduser())

        self.push_screen(TextPrompt("Export audits as labeled pairs (JSONL) to", "audits.jsonl"), go)

    @work(thread=True, group="export")
    def _export(self, path: Path) -> None:
        try:
            n = export_jsonl(self.store, path)
        except Exception as error:  # noqa: BLE001
            self.post_message(StoreError("exporting", str(error)))
            return
        pending = self.writer.pending if self.writer else 0
        extra = f" ({pending} audits still being written are not in it)" if pending else ""
        self.notify(f"Wrote {n} labeled pairs to {path}{extra}.", title="export")

    async def action_quit(self) -> None:
        if self.writer is not None and self.writer.pending:
            self.notify(f"Saving {self.writer.pending} audits…")
            deadline = asyncio.get_running_loop().time() + self.quit_wait_s
            while self.writer.pending and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            if self.writer.pending:
                self.exit(message=f"{self.writer.pending} audits could not be written yet (the store is locked); "
                                  f"they are kept in {self.writer.journal} and written on the next start.")
                return
        self.exit()
