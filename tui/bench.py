"""`python -m tui.bench`: how fast the audit app opens and scrolls a store of 50,000 judged pairs.

It builds a synthetic store (:mod:`tui.synthetic`: 50,000 pairs, 100,000 verdict rows), then measures:
* the list query alone: the first page, and the whole sorted list;
* the app, headless (``App.run_test``): importing it, mounting until the first rows show, until the
  whole list is held for paging, and a filter change;
* scrolling: key presses through the list (each waits until the screen has caught up), and
  ctrl+end, which pages in more rows; against the same app on 200 pairs, and a stock DataTable.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BenchConfig(BaseSettings):
    """Time opening and scrolling the audit app on a large synthetic store."""

    model_config = SettingsConfigDict(cli_parse_args=True, cli_prog_name="python -m tui.bench", cli_kebab_case=True)

    users: int = Field(12_500, description="Synthetic users; each has 2 low-score positives and 2 high-score negatives.")
    store: Path | None = Field(None, description="Reuse (or create) this store; None: a temporary one.")
    repeats: int = Field(3, description="Repeats of each timing; the median is reported.")


def _median(times: list[float]) -> float:
    return statistics.median(times)


def _import_seconds() -> float:
    # A fresh interpreter, as `python -m tui` pays it.
    code = "import time; t = time.perf_counter(); import tui.app; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


async def _app_timings(path: Path) -> dict[str, float]:
    from tui.app import AuditApp

    started = time.perf_counter()
    app = AuditApp(path, "bench")
    result: dict[str, float] = {}
    async with app.run_test(size=(120, 36)) as pilot:
        screen = None
        while "first_rows" not in result or "full_list" not in result:
            await asyncio.sleep(0.005)
            screen = app.audit_screen if app.screen_stack and app.store else None
            if screen is None:
                continue
            if "first_rows" not in result and screen.table.row_count:
                result["first_rows"] = time.perf_counter() - started
            if screen.load_seconds is not None:
                result["full_list"] = time.perf_counter() - started
        table = screen.table
        result["rows"] = len(table.all_rows)
        await pilot.pause(0.3)

        steps = 200
        t = time.perf_counter()
        for _ in range(steps):
            await pilot.press("down")
        result["down_ms"] = 1000 * (time.perf_counter() - t) / steps
        t = time.perf_counter()
        for _ in range(50):
            await pilot.press("pagedown")
        result["pagedown_ms"] = 1000 * (time.perf_counter() - t) / 50
        loaded = table.row_count
        t = time.perf_counter()
        for _ in range(10):
            await pilot.press("ctrl+end")
        result["page_in_ms"] = 1000 * (time.perf_counter() - t) / max(1, (table.row_count - loaded) / table.page_size)
        result["loaded_after_scroll"] = table.row_count

        t = time.perf_counter()
        await pilot.press("d")  # views disagree: a new query over all pairs
        while screen.busy:
            await asyncio.sleep(0.005)
        result["filter_s"] = time.perf_counter() - t
        result["filtered_rows"] = len(table.all_rows)
    return result


async def _bare_table_ms() -> float:
    """Cursor-down cost of a stock DataTable of 200 rows in the same harness: the floor for any app."""
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable, Footer

    class Bare(App):
        def compose(self) -> ComposeResult:
            yield DataTable(cursor_type="row", zebra_stripes=True)
            yield Footer()

        def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns(*"abcdefghi")
            table.add_rows([[f"cell {i} {j}" for j in range(9)] for i in range(200)])
            table.focus()

    app = Bare()
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause(0.3)
        t = time.perf_counter()
        for _ in range(200):
            await pilot.press("down")
        return 1000 * (time.perf_counter() - t) / 200


def main() -> None:
    config = BenchConfig()
    from recsys.store import Store
    from tui.queries import Filters, count_pairs_and_verdicts, fetch_rows
    from tui.synthetic import build_store

    with tempfile.TemporaryDirectory() as folder:
        path = config.store or Path(folder) / "bench.duckdb"
        if not path.exists():
            t = time.perf_counter()
            build_store(path, n_users=config.users, n_items=1_601)
            print(f"built {path} in {time.perf_counter() - t:.1f} s")
        # The same app on 200 pairs: what the key presses cost when the store's size plays no part.
        small = Path(folder) / "small.duckdb"
        build_store(small, n_users=50, n_items=1_601)
        store = Store(path)
        pairs, verdicts = count_pairs_and_verdicts(store)
        first, full = [], []
        for _ in range(config.repeats):
            t = time.perf_counter()
            fetch_rows(store, Filters(), limit=200)
            first.append(time.perf_counter() - t)
            t = time.perf_counter()
            fetch_rows(store, Filters())
            full.append(time.perf_counter() - t)
        imports = [_import_seconds() for _ in range(config.repeats)]
        runs = [asyncio.run(_app_timings(path)) for _ in range(config.repeats)]
        small_runs = [asyncio.run(_app_timings(small)) for _ in range(config.repeats)]
        bare = _median([asyncio.run(_bare_table_ms()) for _ in range(config.repeats)])

    def med(key: str, of: list[dict] = runs) -> float:
        return _median([r[key] for r in of])

    opened = _median(imports) + med("first_rows")
    print(f"\n{pairs:,} judged pairs ({verdicts:,} verdict rows) against 200 pairs, median of {config.repeats} runs\n")
    print(f"| measure | {pairs:,} pairs | 200 pairs |")
    print("|---|---|---|")
    print(f"| list query, first page (200 rows) | {1000 * _median(first):.0f} ms | |")
    print(f"| list query, all rows sorted | {1000 * _median(full):.0f} ms | |")
    print(f"| import the app (fresh interpreter) | {1000 * _median(imports):.0f} ms | |")
    print(f"| mount to first rows on screen | {1000 * med('first_rows'):.0f} ms "
          f"| {1000 * med('first_rows', small_runs):.0f} ms |")
    print(f"| **open: import + first rows** | **{opened:.2f} s** "
          f"| {_median(imports) + med('first_rows', small_runs):.2f} s |")
    print(f"| mount to the whole list held for paging | {1000 * med('full_list'):.0f} ms | |")
    print(f"| cursor down, per key (200 keys) | {med('down_ms'):.1f} ms | {med('down_ms', small_runs):.1f} ms |")
    print(f"| the same on a stock DataTable of 200 rows | | {bare:.1f} ms |")
    print(f"| page down, per key (50 keys) | {med('pagedown_ms'):.1f} ms "
          f"| {med('pagedown_ms', small_runs):.1f} ms |")
    print(f"| page in 200 more rows (ctrl+end) | {med('page_in_ms'):.1f} ms | |")
    print(f"| filter 'views disagree' ({int(med('filtered_rows')):,} rows) | {1000 * med('filter_s'):.0f} ms "
          f"| {1000 * med('filter_s', small_runs):.0f} ms |")


if __name__ == "__main__":
    main()
