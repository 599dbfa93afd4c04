"""What the screens need from the app that hosts them, so that screens never import the app.

The dependency runs one way: `tui.app` builds the screens and implements :class:`AuditHost`; the
screens (:mod:`tui.screens`) read the store and submit audits through it.
"""

from __future__ import annotations

from typing import Protocol

from textual.screen import Screen

from recsys.store import Store
from tui.queries import AuditValue, Filters, Rule, VerdictRow
from tui.writer import AuditWriter


class AuditHost(Protocol):
    store: Store | None
    rule: Rule
    auditor: str
    initial_filters: Filters
    writer: AuditWriter | None
    busy_message: str

    def audit(self, row: VerdictRow, value: AuditValue, note: str | None = None) -> bool: ...

    def note(self, row: VerdictRow) -> None: ...

    def undo(self) -> None: ...

    def current_state(self, row: VerdictRow) -> VerdictRow: ...

    def overlay_pending(self, rows: list[VerdictRow]) -> list[VerdictRow]: ...

    def ask_export(self) -> None: ...

    def push_screen(self, screen: Screen) -> object: ...
