"""`python -m tui.screenshot`: redraw tui/screenshot.svg, the README's picture of the main screen.

It opens the app headless on a small synthetic store (:mod:`tui.synthetic`) with a few audits in it.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime
from pathlib import Path

from recsys.store import Store
from tui.queries import Audit, Filters, fetch_rows, insert_audit
from tui.synthetic import build_store

TARGET = Path(__file__).with_name("screenshot.svg")


def _audit(row, value: str, note: str | None, minute: int) -> Audit:
    return Audit(f"shot-{row.user_idx}-{row.item_idx}", row.key, row.split_id, row.kind, "both_high", row.user_label,
                 row.item_label, row.decision, value, note, "ana", datetime(2026, 11, 20, 10, minute))


async def _shoot(path: Path, target: Path) -> None:
    from tui.app import AuditApp

    app = AuditApp(path, "ana")
    async with app.run_test(size=(120, 36)) as pilot:
        while app.store is None or app.audit_screen.busy:
            await pilot.pause(0.05)
        await pilot.press("down")  # the hallucinated edge, with its note
        await pilot.pause(0.1)
        while app.audit_screen.busy:
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        app.save_screenshot(filename=target.name, path=str(target.parent))


def main(target: Path = TARGET) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "demo.duckdb"
        build_store(path, n_users=12, n_items=40)
        store = Store(path)
        rows = [r for r in fetch_rows(store, Filters()) if r.decision]
        for minute, (row, value, note) in enumerate([(rows[0], "correct", None),
                                                     (rows[1], "hallucinated", "a comedy fan, not a misclick"),
                                                     (rows[2], "correct", None)]):
            insert_audit(store, _audit(row, value, note, minute))
        asyncio.run(_shoot(path, target))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
