"""`python -m evals.judge_summary`: every judge measured on a labeled set, in one table and plot.

Reads the ``judge_evals`` rows that `python -m evals.judge` and `python -m judge.optimize` recorded
(the latest per judge and prompt), and writes ``evals/judge.md`` with ``evals/judge.png``: the
zero-shot judge, each optimizer's program, the calibrated judges and the trivial baselines, with the
LM calls and time each one cost.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from judge.evaluation import SCORE_COLUMNS, _cell, plot_scores
from recsys.cli import run_cli
from recsys.store import DEFAULT_STORE_PATH, Store

EVALS_DIR = Path(__file__).resolve().parent


def latest_evals(store: Store, label_set: str | None, part: str) -> tuple[str, pd.DataFrame]:
    """The newest row per (judge, prompt hash) on ``part`` of the label set (default: the newest set)."""
    with store.connect() as con:
        if label_set is None:
            found = con.execute("SELECT label_set FROM judge_evals WHERE part = ? ORDER BY created_at DESC LIMIT 1",
                                [part]).fetchone()
            if found is None:
                raise SystemExit("no judge evaluations in the store yet: run `python -m evals.judge` first.")
            label_set = found[0]
        # Zero-shot first, then each optimizer's program in the order it was first measured, then the
        # baselines; a calibrated row follows its plain judge.
        frame = con.execute(
            "SELECT *, min(created_at) OVER (PARTITION BY prompt_hash) AS first_seen FROM judge_evals "
            "WHERE label_set = ? AND part = ? "
            "QUALIFY row_number() OVER (PARTITION BY judge, coalesce(prompt_hash, '') ORDER BY created_at DESC) = 1 "
            "ORDER BY prompt_hash IS NULL, json_extract_string(details, '$.optimizer') IS NOT NULL, first_seen, "
            "regexp_replace(judge, '^llm(-calibrated)?:', ''), judge LIKE 'llm-calibrated:%', created_at",
            [label_set, part]).df()
    return label_set, frame


def row_name(row) -> str:
    return row.judge if pd.isna(row.prompt_hash) else f"{row.judge} ({row.prompt_hash[:8]})"


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
        ("| judge | optimizer | optimizer calls / s | pairs | accuracy | balanced acc. | macro-F1 | κ "
         "| parse failures | eval calls / s |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in frame.itertuples():
        details = json.loads(row.details) if row.details else {}
        optimizer = details.get("optimizer", "–" if pd.isna(row.lm) else "zero-shot")
        compile_cost = (f"{details['optimizer_lm_calls']} / {details['optimizer_seconds']:.0f}"
                        if "optimizer_lm_calls" in details else "–")
        eval_cost = "–" if pd.isna(row.lm_calls) else f"{int(row.lm_calls)} / {row.seconds:.0f}"
        lines.append(f"| {row_name(row)} | {optimizer} | {compile_cost} | {row.n_pairs} | "
                     + " | ".join(_cell(getattr(row, column)) for column in SCORE_COLUMNS)
                     + f" | {_cell(row.parse_failure_rate)} | {eval_cost} |")
    lines += ["", f"![balanced accuracy and macro-F1 per judge]({plot_name})", ""]
    return "\n".join(lines)


class JudgeSummaryCli(BaseSettings):
    """Tabulate every judge evaluation of a labeled set into evals/judge.md and evals/judge.png."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.judge_summary", cli_kebab_case=True,
                                      cli_implicit_flags=True)

    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file.")
    label_set: str | None = Field(None, description="The labeled set (default: the most recently evaluated).")
    part: str = Field("test", description="The labeled part.")
    out: Path = Field(EVALS_DIR / "judge.md", description="The markdown file; the plot goes beside it.")
    intro: Path | None = Field(None, description="Markdown (the commands that made the rows) put above the table.")

    def cli_cmd(self) -> None:
        label_set, frame = latest_evals(Store(self.store), self.label_set, self.part)
        plot = self.out.with_suffix(".png")
        rows = {row_name(row): {"balanced_accuracy": row.balanced_accuracy, "macro_f1": row.macro_f1}
                for row in frame.itertuples()}
        plot_scores(rows, plot, f"judges on the labeled {self.part} part")
        text = summary_markdown(label_set, self.part, frame, plot.name)
        if self.intro is not None:
            text = self.intro.read_text().rstrip() + "\n\n" + text
        self.out.write_text(text)
        print(f"wrote {self.out} and {plot}")


if __name__ == "__main__":
    run_cli(JudgeSummaryCli)
