"""Throughput and parse rate of the judge's programs on the embedded model (or any --lm).

    python -m evals.oneoff.bench_judge          # 12 ml-100k users, writes evals/reports/judge_throughput.md

On a fresh store in a temporary folder (so nothing is reused), it picks candidate pairs for the first
N users from a LightGCN trained on ml-100k with 10% realistic noise, then runs user profiles, item
profiles and verdicts, then the same verdicts again in shuffled order on a copy of the store, to
measure what grouping a user's calls behind one shared prompt prefix buys, and listwise (one call
per user and view, ``prompts/listwise_judge.json``) on another copy, to measure pairs judged per
minute in both modes on the same pairs.
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from evals.harness.tables import markdown_table
from judge.config import LISTWISE_LIMIT
from judge.jobs import ProfileJobConfig, VerdictJobConfig, run_profiles, run_verdicts
from judge.lm import LMConfig, configure_dspy, lm_identity
from judge.prompts import PROMPTS_DIR, load_program
from judge.runner import RunnerConfig, RunStats
from pipeline.train import TrainConfig, run
from recsys.cli import run_cli
from recsys.data.split import load_split, make_split
from recsys.denoising.candidates import CandidateConfig, select_candidates, write_candidates
from recsys.store import Store
from recsys.store.reports import (
    failed_profile_kinds,
    failed_verdict_kinds,
    judged_pairs_per_user,
    ok_verdict_labels,
)


class BenchJudgeConfig(BaseSettings, LMConfig):
    """Measure profiles/min, verdicts/min, parse rates, and grouped vs shuffled ordering."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.bench_judge", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    users: int = Field(12, gt=0, description="Users whose candidates are judged (and who get profiles).")
    items: int = Field(24, gt=0, description="Item profiles to write.")
    parallel: int = Field(2, gt=0, description="LM calls in flight (the embedded server gets as many slots).")
    report: Path = Field(Path("evals/reports/judge_throughput.md"), description="Markdown report to write.")
    shuffled: bool = Field(True, description="Also run the pairwise verdicts in shuffled order (prefix-reuse check).")
    listwise: bool = Field(True, description="Also run the listwise judge on the same pairs.")
    listwise_max_candidates: int = Field(8, gt=0, le=LISTWISE_LIMIT, description="Listwise: most candidates per call.")

    def cli_cmd(self) -> None:
        main(self)


def _row(name: str, stats: RunStats) -> list[str]:
    calls = stats.n_ok + stats.n_failed
    parsed = 100 * stats.n_ok / calls if calls else 0.0
    per_min = 60 * calls / stats.seconds if stats.seconds else 0.0
    return [name, str(calls), f"{parsed:.0f}%", f"{per_min:.1f}", f"{stats.seconds / max(calls, 1):.2f}",
            f"{stats.prompt_tokens / max(stats.n_ok, 1):.0f}", f"{stats.completion_tokens / max(stats.n_ok, 1):.0f}"]


def pairs_per_minute(stats: RunStats, views: int = 2) -> float:
    """Candidate pairs judged (both views, a row each, ok or failed) per wall-clock minute."""
    return 60 * (stats.n_ok + stats.n_failed) / views / stats.seconds if stats.seconds else 0.0


def _mode_row(name: str, stats: RunStats) -> list[str]:
    """Pairs per minute, whatever a call covers: verdict rows are pair x view, calls are LM calls."""
    rows = stats.n_ok + stats.n_failed
    return [name, str(rows // 2), str(stats.lm_calls), f"{100 * stats.n_ok / max(rows, 1):.0f}%",
            f"{pairs_per_minute(stats):.1f}", f"{stats.seconds:.1f}",
            f"{stats.prompt_tokens / max(stats.lm_calls, 1):.0f}", f"{stats.completion_tokens / max(stats.lm_calls, 1):.0f}"]


def main(config: BenchJudgeConfig) -> None:
    lm = LMConfig.model_validate(config.model_dump(include=set(LMConfig.model_fields))
                                 | {"embedded_slots": config.parallel})
    runner = RunnerConfig(parallel=config.parallel, progress=True)
    folder = Path(tempfile.mkdtemp(prefix="bench_judge_"))
    load_start = os.getloadavg()
    try:
        store = Store(folder / "bench.duckdb")
        train = TrainConfig(store=store.path, model="lightgcn", progress=False)
        run_id, result = run(train)
        split_id = make_split(store, train.data_config())  # made by the training run; this reads it
        data = load_split(store, split_id)
        candidates = CandidateConfig(max_users=config.users)
        rows = select_candidates(data, *result.embeddings, candidates)
        write_candidates(store, "bench", split_id, run_id, candidates, rows)

        user_program = load_program("profile_user", prompts_dir=PROMPTS_DIR)
        item_program = load_program("profile_item", prompts_dir=PROMPTS_DIR)
        judge_program = load_program("dual_judge", prompts_dir=PROMPTS_DIR)
        configure_dspy(lm)
        user_stats, item_stats = run_profiles(
            store, split_id, user_program, item_program, lm, runner,
            ProfileJobConfig(max_users=config.users, max_items=config.items))
        shuffled_store = Store(shutil.copy(store.path, folder / "shuffled.duckdb"))
        listwise_store = Store(shutil.copy(store.path, folder / "listwise.duckdb"))
        grouped = run_verdicts(store, "bench", judge_program, user_program.prompt_hash, lm, runner,
                               VerdictJobConfig(order="grouped"))
        listwise = None  # right after the grouped run, so that both modes meet the same machine load
        if config.listwise:
            listwise = run_verdicts(listwise_store, "bench", load_program("listwise_judge", prompts_dir=PROMPTS_DIR),
                                    user_program.prompt_hash, lm, runner,
                                    VerdictJobConfig(verdict_mode="listwise",
                                                     listwise_max_candidates=config.listwise_max_candidates))
            with listwise_store.connect() as con:
                listwise_labels = ok_verdict_labels(con)
                listwise_failures = failed_verdict_kinds(con)
                per_user = judged_pairs_per_user(con, "bench")
        shuffled = (run_verdicts(shuffled_store, "bench", judge_program, user_program.prompt_hash, lm, runner,
                                 VerdictJobConfig(order="shuffled")) if config.shuffled else None)
        load_end = os.getloadavg()
        with store.connect() as con:
            labels = ok_verdict_labels(con)
            failures = failed_profile_kinds(con)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    lines = [
        "# Judge throughput and parse rate",
        "",
        f"Command: `python -m evals.oneoff.bench_judge --users {config.users} --items {config.items} "
        f"--parallel {config.parallel}" + ("" if config.shuffled else " --no-shuffled")
        + ("" if config.listwise else " --no-listwise")
        + (f" --listwise-max-candidates {config.listwise_max_candidates}" if config.listwise_max_candidates != 8 else "")
        + (f" --embedded-threads {config.embedded_threads}" if config.embedded_threads else "")
        + f"`. LM: `{lm_identity(lm)}`, temperature {lm.temperature}, "
        f"max_tokens {lm.max_tokens}, schema-constrained JSON (JSONAdapter + llama.cpp grammar). "
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, {lm.embedded_threads} llama.cpp threads, "
        f"{config.parallel} slots x {lm.embedded_context_per_slot} tokens. Fresh store, nothing reused. "
        f"Load average (1/5/15 min) at the start {'/'.join(f'{x:.2f}' for x in load_start)}, at the end "
        f"{'/'.join(f'{x:.2f}' for x in load_end)}: other jobs share the cores when it is above 0.",
        "",
        *markdown_table(
            ["program", "calls", "parsed", "calls / min", "s / call (wall)", "prompt tokens / call",
             "output tokens / call"],
            [_row("user profile", user_stats), _row("item profile", item_stats),
             _row("verdict, grouped by user (prefix reuse)", grouped),
             *([_row("verdict, shuffled", shuffled)] if shuffled else [])], "lrrrrrr"),
        "",
        *([(f"Grouped over shuffled verdict throughput: {shuffled.seconds / grouped.seconds:.2f}x "
           f"({grouped.seconds:.1f} s vs {shuffled.seconds:.1f} s for the same {grouped.n_tasks} calls)."), ""]
          if shuffled else []),
    ]
    if listwise is not None:
        lines += [
            "## Pairwise and listwise verdicts on the same pairs",
            "",
            (f"Both views on every candidate pair ({per_user:.1f} pairs per user); listwise judges all of a user's "
            f"pairs in one call per view (at most {config.listwise_max_candidates} a call). Pairs / min counts a pair "
            "once both of its view rows are written (ok or failed), over the run's wall-clock time."),
            "",
            *markdown_table(
                ["mode", "pairs", "LM calls", "rows parsed", "pairs / min", "seconds", "prompt tokens / call",
                 "output tokens / call"],
                [_mode_row("pairwise, grouped (dual_judge)", grouped), _mode_row("listwise (listwise_judge)", listwise)],
                "lrrrrrrr"),
            "",
            (f"Listwise over pairwise: {pairs_per_minute(listwise) / max(pairs_per_minute(grouped), 1e-9):.2f}x pairs "
            "per minute."),
            "Listwise labels: " + ", ".join(f"{view} view {label}: {n}" for view, label, n in listwise_labels) + "; "
            "failed rows: " + (", ".join(f"{kind} {n}" for kind, n in listwise_failures) or "none") + ".",
            "",
        ]
    lines += [
        "Verdict labels (grouped run): " + ", ".join(f"{view} view {label}: {n}" for view, label, n in labels) + ".",
        "Profile failures: " + (", ".join(f"{k} {e}: {n}" for k, e, n in failures) or "none") + ".",
        "",
        "Parsing is what the schema guarantees; judgement quality is not measured here (see the judge evals).",
        "The embedded model has 135M parameters: it is there so that every stage runs offline, not to judge well.",
    ]
    config.report.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    run_cli(BenchJudgeConfig)
