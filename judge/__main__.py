"""`python -m judge`: profiles, candidates and verdicts over what the store holds, and their status.

    python -m judge init-prompts            # write the zero-shot programs to prompts/ (once)
    python -m judge profiles --max-users 50 # user then item profiles with the embedded model
    python -m judge candidates              # train a backbone and pick candidate pairs
    python -m judge verdicts                # both views on every candidate pair
    python -m judge status                  # counts, failures, tokens and cost; killed runs show as abandoned
    python -m judge rename-lm --old 'openai/m@http://host:8000/v1' --new openai/m   # re-key old rows

Every command reads the split given by the data options (default: ml-100k, 10% realistic noise,
seed 2026), and resumes where a killed run stopped.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, CliApp, CliSubCommand, SettingsConfigDict
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from judge.batch import BatchAPIError
from judge.config import verdict_program_name
from judge.jobs import ProfileJobConfig, VerdictJobConfig, run_profiles, run_verdicts
from judge.lm import LMConfig, configure_dspy, lm_identity, rename_identity, stored_legacy_identities
from judge.programs import HardRule, is_hard
from judge.prompts import PROMPTS_DIR, init_prompts, load_program
from judge.records import STALE_AFTER_S, effective_status
from judge.runner import RunnerConfig, RunStats
from recsys.cli import EXIT_USAGE, configure_logging, run_cli
from recsys.data.split import DataConfig, load_split, make_split
from recsys.denoising.candidates import CandidateConfig
from recsys.store import DEFAULT_STORE_PATH, Store, StoreError
from recsys.store.judgments import (
    ProfileCount,
    VerdictCount,
    count_failed_rows,
    judged_pair_labels,
    newest_candidate_set,
    profile_counts,
    recent_judge_runs,
    recent_trainer_runs,
    verdict_counts,
)
from recsys.store.lm_work import open_batches

console = Console(stderr=True)


class StoreOptions(BaseModel):
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file.")
    prompts_dir: Path = Field(PROMPTS_DIR, description="Folder of the saved DSPy programs.")


def _wide_console() -> Console:
    # Tables of ids and counts are unreadable at the 80 columns rich assumes off a terminal.
    return Console() if sys.stdout.isatty() else Console(width=160)


def _print_stats(all_stats: list[RunStats]) -> None:
    table = Table(title="LM usage")
    for column in ("run", "status", "tasks", "ok", "failed", "skipped", "LM calls", "tokens in", "tokens out",
                   "cost", "seconds", "calls/min"):
        table.add_column(column, justify="right")
    for s in all_stats:
        rate = 60 * s.lm_calls / s.seconds if s.seconds else 0.0
        table.add_row(s.run_id, s.status, str(s.n_tasks), str(s.n_ok), str(s.n_failed), str(s.n_skipped),
                      str(s.lm_calls),
                      str(s.prompt_tokens), str(s.completion_tokens), f"{s.cost:.4f}", f"{s.seconds:.1f}",
                      f"{rate:.1f}")
    _wide_console().print(table)


def _failed_rows_hint(rows: str, n_failed: int, detail: str = "") -> None:
    """One line after a run: the failed rows of this LM and prompt that a re-run keeps (never calls again)
    unless asked to. A run can say 'finished' while some of its rows are failed ones."""
    if n_failed:
        shown = f" ({detail})" if detail else ""
        console.print(f"[yellow]{n_failed} failed {rows}{shown} of this LM and prompt are kept[/]: a re-run skips "
                      "them; --retry-failed asks the LM for them again.", soft_wrap=True)


class InitPrompts(StoreOptions):
    """Write the zero-shot default of each program to prompts/ (existing files are kept)."""

    force: bool = Field(False, description="Overwrite existing prompt files.")

    def cli_cmd(self) -> None:
        for path in init_prompts(self.prompts_dir, self.force):
            console.print(f"wrote {path}")


class Profiles(StoreOptions, DataConfig, LMConfig, RunnerConfig, ProfileJobConfig):
    """Write user profiles (from training items) and item profiles (from item text and takers)."""

    def cli_cmd(self) -> None:
        store = Store(self.store)
        split_id = make_split(store, self.data_config())
        user_program = load_program("profile_user", prompts_dir=self.prompts_dir)
        item_program = load_program("profile_item", prompts_dir=self.prompts_dir)
        configure_dspy(self)
        stats = run_profiles(store, split_id, user_program, item_program, self, self, self, self.seed)
        _print_stats(stats)
        if not self.retry_failed:
            lm_id = lm_identity(self)
            programs = {"user": user_program, "item": item_program}
            failed = {kind: count_failed_rows(store, "profiles", {
                "split_id": split_id, "kind": kind, "lm": lm_id, "prompt_hash": programs[kind].prompt_hash})
                for kind in self.kinds}
            _failed_rows_hint("profiles", sum(failed.values()),
                              ", ".join(f"{kind} {n}" for kind, n in failed.items() if n))


class Candidates(StoreOptions, DataConfig, CandidateConfig):
    """Train LightGCN on the noisy split (or reuse it) and store each user's candidate pairs."""

    progress: bool = Field(True, description="Show the training progress bar.")

    def cli_cmd(self) -> None:
        from recsys.denoising.candidates import PretrainConfig, pretrain_candidates

        store = Store(self.store)
        split_id = make_split(store, self.data_config())
        pretrain = PretrainConfig.model_validate(self.data_config().model_dump())
        candidate_set, created = pretrain_candidates(store, load_split(store, split_id), pretrain, self, self.progress)
        console.print(("stored candidate set " if created else "candidate set already stored: ") + candidate_set)


class Verdicts(StoreOptions, DataConfig, LMConfig, RunnerConfig, VerdictJobConfig):
    """Judge every candidate pair from the user view and the item view."""

    candidate_set: str | None = Field(None, description="Candidate set id (default: the newest for the split).")

    def cli_cmd(self) -> None:
        store = Store(self.store)
        split_id = make_split(store, self.data_config())
        candidate_set = self.candidate_set
        if candidate_set is None:
            candidate_set = newest_candidate_set(store, split_id)
            if candidate_set is None:
                console.print("[red]error:[/] no candidates for this split; run `python -m judge candidates` first.")
                sys.exit(2)
        judge_program = load_program(verdict_program_name(self.verdict_mode), prompts_dir=self.prompts_dir)
        user_prompt_hash = load_program("profile_user", prompts_dir=self.prompts_dir).prompt_hash
        configure_dspy(self)
        stats = run_verdicts(store, candidate_set, judge_program, user_prompt_hash, self, self, self, self.seed)
        _print_stats([stats])
        if not self.retry_failed:
            _failed_rows_hint("verdicts", count_failed_rows(store, "verdicts", {
                "candidate_set": candidate_set, "lm": lm_identity(self), "prompt_hash": judge_program.prompt_hash}))


class Status(StoreOptions, LMConfig):
    """Counts of profiles and verdicts (ok / failed by kind), recent runs, and the hard/noise split.
    A run still marked running whose process is gone, or whose heartbeat stopped, shows as abandoned."""

    rule: HardRule = Field("both_high", description="Rule that turns the two views into hard or noise.")
    stale_after_s: float = Field(STALE_AFTER_S, gt=0, description="A running run whose heartbeat is older "
                                 "than this (and whose process is not on this host) is reported abandoned.")

    def cli_cmd(self) -> None:
        store = Store.open_existing(self.store)  # read-only: a mistyped --store is an error, not a new store
        out = _wide_console()
        with store.connect() as con:
            _print_rows_table(out, "profiles", ProfileCount._fields, profile_counts(con))
            _print_rows_table(out, "verdicts", VerdictCount._fields, verdict_counts(con))
            runs = recent_judge_runs(con)
            table = Table(title="judge runs (last 10)")
            for column in ("judge_run_id", "command", "status", "tasks", "ok", "failed", "skipped", "lm_calls",
                           "prompt_tokens", "completion_tokens", "cost", "seconds"):
                table.add_column(column)
            for run in runs:
                status = effective_status(run[2], run[12], run[13], run[14], self.stale_after_s)
                shown = {"abandoned": "[red]abandoned[/]", "incomplete": "[yellow]incomplete[/]",
                         "interrupted": "[yellow]interrupted[/]", "failed": "[red]failed[/]"}.get(status, status)
                table.add_row(run[0], run[1], shown, *("" if v is None else str(v) for v in run[3:12]))
            out.print(table)
            batches = open_batches(con)
            if batches:
                table = Table(title="open batches (--batch-api: a re-run polls them, never resubmits)")
                for column in ("batch_id", "command", "requests", "last status", "submitted"):
                    table.add_column(column)
                for row in batches:
                    table.add_row(*(str(value) for value in row))
                out.print(table)
            trainer_runs = recent_trainer_runs(con)
            if trainer_runs:
                table = Table(title="trainer runs (last 5)")
                for column in ("run_id", "model", "status", "started_at"):
                    table.add_column(column)
                for run_id, model, status, started, age, pid, host in trainer_runs:
                    table.add_row(run_id, model, effective_status(status, age, pid, host, self.stale_after_s),
                                  str(started))
                out.print(table)
            pairs = judged_pair_labels(con)
        decisions = Counter((kind, "hard" if is_hard(u, i, self.rule) else "noise") for kind, u, i in pairs)
        table = Table(title=f"decisions ({self.rule})")
        for column in ("kind", "decision", "n"):
            table.add_column(column)
        for (kind, decision), n in sorted(decisions.items()):
            table.add_row(kind, decision, str(n))
        out.print(table)
        out.print(f"current LM: {lm_identity(self)}")
        for legacy in stored_legacy_identities(store, self):
            out.print(f"rows of this model stored under the older, URL-bearing identity {legacy!r}: pass "
                      f"--lm-id {legacy!r} to use them, or `python -m judge rename-lm --old {legacy!r} "
                      f"--new {lm_identity(self)!r}` once.", soft_wrap=True)


class RenameLm(StoreOptions):
    """Re-key every stored row of one LM identity as another (e.g. an old `model@URL` identity as the
    model's own name), in one transaction; rows the new identity already has are kept."""

    old: str = Field(description="The identity the rows carry now.")
    new: str = Field(description="The identity to give them.")

    def cli_cmd(self) -> None:
        # Only re-keys rows a store already holds: a missing --store is an error, not a new empty store.
        moved = rename_identity(Store.open_existing(self.store), self.old, self.new)
        console.print(", ".join(f"{table}: {n}" for table, n in moved.items()) or f"no rows of {self.old!r}")


def _print_rows_table(out: Console, title: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(value) for value in row))
    out.print(table)


class JudgeCLI(BaseSettings):
    """The LLM judge: profiles, candidate pairs and dual-perspective verdicts, stored in DuckDB."""

    model_config = SettingsConfigDict(cli_prog_name="python -m judge", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    init_prompts: CliSubCommand[InitPrompts] = Field(description="Write the default programs to prompts/.")
    profiles: CliSubCommand[Profiles] = Field(description="User and item profiles.")
    candidates: CliSubCommand[Candidates] = Field(description="Candidate pairs from a trained backbone.")
    verdicts: CliSubCommand[Verdicts] = Field(description="Dual-perspective verdicts on candidate pairs.")
    status: CliSubCommand[Status] = Field(description="Counts, failures, usage and decisions.")
    rename_lm: CliSubCommand[RenameLm] = Field(description="Re-key stored rows of one LM identity as another.")

    def cli_cmd(self) -> None:
        configure_logging()
        try:
            CliApp.run_subcommand(self)
        except (BatchAPIError, StoreError) as error:
            console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
            sys.exit(EXIT_USAGE)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]: every result received so far is stored; re-run to resume.")
            sys.exit(130)


if __name__ == "__main__":
    run_cli(JudgeCLI)
