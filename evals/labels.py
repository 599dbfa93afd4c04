"""`python -m evals.labels`: build (or reuse) the labeled hard/noise set and apply audit overrides.

The labeled set itself lives in the library (:mod:`judge.labels`), where the optimizer reads it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from judge.labels import LabelSetConfig, build_label_set, label_counts
from recsys.cli import run_cli
from recsys.data.datasets import DataValidationError
from recsys.store import DEFAULT_STORE_PATH, Store


class LabelsCli(BaseSettings, LabelSetConfig):
    """Build (or reuse) the labeled hard/noise set for the judge, and apply audit overrides."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.labels", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True,
                                      cli_hide_none_type=True)

    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file.")
    progress: bool = Field(True, description="Show progress bars.")

    def cli_cmd(self) -> None:
        console = Console(stderr=True)
        store = Store(self.store)
        try:
            built = build_label_set(store, self, self.progress)
        except DataValidationError as error:
            console.print(f"[red]error:[/] {error}")
            sys.exit(2)
        console.print(f"{'built' if built.created else 'reused'} [bold]{built.label_set}[/]")
        if self.audits:
            console.print(f"audits: {built.audits_applied} applied, {built.audits_skipped} skipped "
                          "(another split, or a validation/test edge)")
        Console().print(label_counts(store, built.label_set))


if __name__ == "__main__":
    run_cli(LabelsCli)
