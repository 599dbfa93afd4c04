"""`python -m evals.judge`: measure a judge prompt on the labeled hard/noise set, against trivial
baselines, and write the report (under ``evals/reports/judge/``). The measuring code is the library's
(:mod:`judge.evaluation`), which `python -m judge.optimize` shares.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.markup import escape

from evals.harness.paths import REPORTS_DIR
from judge.config import verdict_program_name
from judge.evaluation import JudgeEvalConfig, evaluate_program, prepare, scores_table, write_report
from judge.prompts import load_program
from recsys.cli import run_cli
from recsys.data.datasets import DataValidationError
from recsys.store import StoreLockedError


class JudgeEvalCli(BaseSettings, JudgeEvalConfig):
    """Measure a judge prompt on the labeled hard/noise set, against trivial baselines."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.judge", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True,
                                      cli_hide_none_type=True)

    report_dir: Path = Field(REPORTS_DIR / "judge", description="Where the markdown report and its plot go.")

    def cli_cmd(self) -> None:
        console = Console(stderr=True)
        try:
            # The program first: a missing or broken --prompt fails at once, not after the profiling.
            program = load_program(verdict_program_name(self.verdict_mode), path=self.prompt,
                                   prompts_dir=self.prompts_dir, rule=self.rule)
            context = prepare(self, console)
            report = evaluate_program(context, self, program, console)
        except (DataValidationError, StoreLockedError, FileNotFoundError, ValueError) as error:
            console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
            sys.exit(2)
        Console(width=160).print(scores_table(report.rows, f"{program.path.name} on the labeled {self.part} part"))
        path = write_report(report, self, "python -m evals.judge " + " ".join(sys.argv[1:]))
        console.print(f"report: {path} (and its .png); scores recorded in {self.store} (judge_evals)")


if __name__ == "__main__":
    run_cli(JudgeEvalCli)
