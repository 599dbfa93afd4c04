"""`python -m tui`: audit the judge's verdicts in a Textual app, or export the audits as labels.

    python -m tui                                  # the app on store/llmhni.duckdb
    python -m tui --store run.duckdb --auditor ana # another store, a named auditor
    python -m tui export --out audits.jsonl        # audits as labeled pairs for the evals
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, CliSubCommand, SettingsConfigDict, get_subcommand

from recsys.cli import run_cli
from recsys.store import DEFAULT_STORE_PATH, Store, StoreError
from tui.queries import ActionFilter, Filters, Rule


def login_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "auditor"


def _require(store: Path) -> None:
    # Opening a missing path would create an empty store, and a folder or a file that is not a store
    # fails deep in the app: say what is wrong, in one line, instead.
    if not store.exists():
        print(f"error: no store at {store}; pass --store PATH (or set LLMHNI_STORE).", file=sys.stderr)
        sys.exit(2)
    try:
        Store.open_existing(store)
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


class Export(BaseModel):
    """Write each auditor's latest correct/hallucinated audit of each pair as one JSON object per line."""

    out: Path = Field(description="The JSONL file to write (replaced whole).")
    store: Path | None = Field(None, description="DuckDB store file; None: the app's --store.")
    auditor: str | None = Field(None, description="Only this auditor's audits; None: everyone's.")

    def run(self, default_store: Path) -> None:
        from tui.export import export_jsonl

        store = self.store or default_store
        _require(store)
        n = export_jsonl(Store(store), self.out, self.auditor)
        print(f"wrote {n} labeled pairs to {self.out}")


class TuiCLI(BaseSettings):
    """Audit the LLM judge's verdicts: read both views side by side, mark hallucinated edges, export labels."""

    model_config = SettingsConfigDict(cli_prog_name="python -m tui", cli_kebab_case=True, cli_implicit_flags=True,
                                      cli_avoid_json=True, env_prefix="LLMHNI_TUI_")

    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file (also LLMHNI_STORE).")
    auditor: str = Field(default_factory=login_name,
                         description="Name recorded with every audit.")
    rule: Rule = Field("both_high", description="How the user and item views combine into hard or noise.")
    user: int | None = Field(None, description="Show only this user's pairs at start.")
    action: ActionFilter = Field("any", description="Show only pairs whose graph action is this at start.")
    disagree: bool = Field(False, description="Show only pairs whose two views disagree at start.")
    candidate_set: str | None = Field(None, description="Only this candidate set; None: all.")
    lm: str | None = Field(None, description="Only verdicts by this LM identity; None: all.")
    export: CliSubCommand[Export] = Field(description="Export audits as labeled pairs (JSONL).")

    def cli_cmd(self) -> None:
        command = get_subcommand(self, is_required=False)
        if command is not None:
            command.run(self.store)
            return
        _require(self.store)
        from tui.app import AuditApp

        filters = Filters(user=self.user, action=self.action, disagree=self.disagree,
                          candidate_set=self.candidate_set, lm=self.lm)
        AuditApp(self.store, self.auditor, self.rule, filters).run()


if __name__ == "__main__":
    run_cli(TuiCLI)
