"""`python -m evals.oneoff.judge_summary`: every judge measured on a labeled set, in one table and plot.

Reads the ``judge_evals`` rows that `python -m evals.judge` and `python -m judge.optimize` recorded
(the latest per judge and prompt), and writes ``evals/reports/judge.md`` with ``evals/reports/judge.png``: the
zero-shot judge, each optimizer's program, the calibrated judges and the trivial baselines, with the
LM calls and time each one cost.

``--from-report`` only redraws the PNG of an existing report (this one's, or a per-program report of
``python -m evals.judge`` under ``evals/reports/judge/``) from the numbers in its markdown, with no store:
``python -m evals.oneoff.judge_summary --from-report --out evals/reports/judge.md``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from evals.harness.paths import REPORTS_DIR
from evals.harness.plots import judge_dot_plot, judge_rows_from_markdown, label_set_text
from evals.harness.tables import markdown_table
from judge.evaluation import SCORE_COLUMNS, _cell
from recsys.cli import run_cli
from recsys.store import DEFAULT_STORE_PATH, Store
from recsys.store.reports import latest_judge_evals


def latest_evals(store: Store, label_set: str | None, part: str) -> tuple[str, pd.DataFrame]:
    """The newest row per (judge, prompt hash) on ``part`` of the label set (default: the newest set)."""
    # Zero-shot first, then each optimizer's program in the order it was first measured, then the
    # baselines; a calibrated row follows its plain judge.
    found = latest_judge_evals(store, label_set, part)
    if found is None:
        raise SystemExit("no judge evaluations in the store yet: run `python -m evals.judge` first.")
    return found


def row_name(row) -> str:
    return row.judge if pd.isna(row.prompt_hash) else f"{row.judge} ({row.prompt_hash[:8]})"


def plot_title(part: str, label_set: str | None, pairs) -> str:
    where = f" ({label_set_text(label_set)}, {pairs:.0f} pairs)" if label_set and pairs else ""
    return f"Judges on the labeled {part} part{where}"


def plot_rows(frame: pd.DataFrame) -> dict[str, dict]:
    """Each judge row's scores for :func:`judge_dot_plot`, with the 95% interval its details hold."""
    rows = {}
    for row in frame.itertuples():
        details = json.loads(row.details) if row.details else {}
        rows[row_name(row)] = {score: getattr(row, score) for score in SCORE_COLUMNS} | {
            "balanced_accuracy_ci": details.get("balanced_accuracy_ci")}
    return rows


def redraw(report: Path) -> Path:
    """The report's PNG again, from the judge table (and interval) in its markdown: no store needed."""
    text = report.read_text()
    rows = judge_rows_from_markdown(text)
    if not rows:
        raise SystemExit(f"{report}: no judge table to redraw")
    label_set = re.search(r"Labeled set: `([^`]+)`", text)
    part = re.search(r"on the labeled (\w+) part", text)
    pairs = next((row.get("n_pairs") for row in rows.values() if row.get("n_pairs")), None)
    program = re.search(r"^# Judge evaluation: `([^`]+)`", text, re.MULTILINE)
    heading = plot_title(part.group(1) if part else "test", label_set.group(1) if label_set else None, pairs)
    if program:  # a per-program report of evals.judge: "<program> on the labeled ... part (...)"
        heading = program.group(1) + heading.removeprefix("Judges")
    return judge_dot_plot(rows, report.with_suffix(".png"), heading)


def summary_markdown(label_set: str, part: str, frame: pd.DataFrame, plot_name: str) -> str:
    lines = [
        f"## Results on the labeled {part} part",
        "",
        f"Labeled set: `{label_set}`.",
        "",
        ("Rows are the latest evaluation of each judge and prompt (hash in brackets). *optimizer calls / s* "
         "is what compiling the program cost; *eval calls / s* is what judging this part cost (summed "
         "call latencies, with 2 calls in flight). Calibrated rows threshold P(both views say High), tuned "
         "on dev; baseline rows never call an LM."),
        "",
    ]
    rows = []
    for row in frame.itertuples():
        details = json.loads(row.details) if row.details else {}
        optimizer = details.get("optimizer", "–" if pd.isna(row.lm) else "zero-shot")
        compile_cost = (f"{details['optimizer_lm_calls']} / {details['optimizer_seconds']:.0f}"
                        if "optimizer_lm_calls" in details else "–")
        eval_cost = "–" if pd.isna(row.lm_calls) else f"{int(row.lm_calls)} / {row.seconds:.0f}"
        rows.append([row_name(row), optimizer, compile_cost, row.n_pairs,
                     *(_cell(getattr(row, column)) for column in SCORE_COLUMNS), _cell(row.parse_failure_rate),
                     eval_cost])
    lines += markdown_table(["judge", "optimizer", "optimizer calls / s", "pairs", "accuracy", "balanced acc.",
                             "macro-F1", "κ", "parse failures", "eval calls / s"], rows)
    lines += ["", f"![balanced accuracy and macro-F1 per judge]({plot_name})", ""]
    return "\n".join(lines)


class JudgeSummaryCli(BaseSettings):
    """Tabulate every judge evaluation of a labeled set into evals/reports/judge.md and its PNG."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.judge_summary", cli_kebab_case=True,
                                      cli_implicit_flags=True)

    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file.")
    label_set: str | None = Field(None, description="The labeled set (default: the most recently evaluated).")
    part: str = Field("test", description="The labeled part.")
    out: Path = Field(REPORTS_DIR / "judge.md", description="The markdown file; the plot goes beside it.")
    intro: Path | None = Field(None, description="Markdown (the commands that made the rows) put above the table.")
    from_report: bool = Field(False, description="Only redraw --out's PNG from the judge table in --out itself "
                              "(no store; works on evals.judge's per-program reports too).")

    def cli_cmd(self) -> None:
        if self.from_report:
            print(f"wrote {redraw(self.out)}")
            return
        label_set, frame = latest_evals(Store(self.store), self.label_set, self.part)
        plot = self.out.with_suffix(".png")
        judge_dot_plot(plot_rows(frame), plot, plot_title(self.part, label_set, frame.n_pairs.max()))
        text = summary_markdown(label_set, self.part, frame, plot.name)
        if self.intro is not None:
            text = self.intro.read_text().rstrip() + "\n\n" + text
        self.out.write_text(text)
        print(f"wrote {self.out} and {plot}")


if __name__ == "__main__":
    run_cli(JudgeSummaryCli)
