"""`python -m evals.repro`: each method at its tuned settings file, beside what its paper claims.

For every method it trains (or reads back) the settings file ``configs/<name>/<method>.toml`` (chosen on
validation by :mod:`evals.tune`) over split seeds x training seeds, and writes one row per method and
noise setting: validation and test Recall@20 / NDCG@20 (mean ± std over all runs), the paper's or the
SSLRec-family tables' claim for that split, the command, and for the loss-reweighting denoisers the share of
injected and of clean edges they dropped. Then it checks the orderings the papers report and says plainly
which hold beyond the spread.
"""

from __future__ import annotations

import sys
from itertools import product
from pathlib import Path

import pandas as pd
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.cells import (
    NOISE_HELP,
    check_noise,
    noise_label,
    option_values,
    parse_noise,
    read_results,
    settings_file,
    settings_values,
    train_or_read,
)
from evals.harness.paths import CONFIGS_DIR, REPORTS_DIR, shown
from evals.harness.tables import markdown_table, mean_std
from pipeline.train import TrainConfig
from recsys.cli import run_cli
from recsys.store import DEFAULT_STORE_PATH, Store
from recsys.store.reports import valid_at_best_epoch

# What the papers and the SSLRec-family tables claim, per settings folder and method (test Recall@20 on the
# clean split unless it says otherwise). Quoted from issue 27 and the rlmrec-amazon README where the
# papers' own tables are not in ../shared/seeds.
CLAIMS = {
    "rlmrec-amazon": {
        "lightgcn": "≈ 0.14 (RLMRec's table); an SSLRec-family trainer on this split: 0.1434, N@20 0.0869",
        "sgl": "above LightGCN (SGL; RLMRec's and IRLLRec's tables)",
        "simgcl": "above SGL, which is above LightGCN (SimGCL; RLMRec's and IRLLRec's tables)",
        "dns": "no figure on this split; DNS beats BPR's uniform sampling in its paper",
        "tce": "no figure on this split; T-CE beats plain BPR under natural noise in ADT",
        "rce": "no figure on this split; R-CE beats plain BPR under natural noise in ADT",
    },
}
# (better, worse): orderings the papers report, checked on the clean setting.
ORDERINGS = {"rlmrec-amazon": [("sgl", "lightgcn"), ("simgcl", "lightgcn"), ("simgcl", "sgl")]}
DROP_METRICS = ("denoise/dropped_share_injected", "denoise/dropped_share_clean")


class ReproConfig(BaseSettings):
    """Train each method at its settings file over seeds; compare with its paper's claims."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.repro", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    dataset: str = Field("/work/shared/data/rlmrec-amazon", description="Dataset (python -m recsys.train --dataset).")
    name: str | None = Field(None, description="Its folder under configs/ (default: the dataset's last path part).")
    noise: list[str] = Field(["random:0"], description=NOISE_HELP)
    denoisers_noise: list[str] = Field(
        [], description="Extra noise settings run only for T-CE, to show what "
        "they drop.")
    methods: list[str] = Field(["lightgcn", "sgl", "simgcl", "dns", "tce", "rce"], description="Methods.")
    split_seeds: list[int] = Field([2026], description="Split seeds (a pre-split dataset has one split).")
    seeds: list[int] = Field([0, 1, 2], description="Training seeds per split.")
    set: list[str] = Field([], description="recsys.train options of every run on top of the settings files.")
    configs_dir: Path = Field(CONFIGS_DIR, description="Where <name>/<method>.toml are read.")
    store: Path = Field(DEFAULT_STORE_PATH.parent / "tuning.duckdb", description="DuckDB store (the tuning's, so "
                        "that its runs at the chosen settings are reused).")
    out: Path = Field(REPORTS_DIR / "repro.md", description="The markdown report.")
    notes: Path | None = Field(None, description="A hand-written markdown reading appended to the report (kept in "
                               "its own file so that regenerating the report keeps it).")
    run: bool = Field(True, description="Train missing runs (--no-run only reports what is stored).")

    _check_noise = field_validator("noise", "denoisers_noise")(check_noise)

    @property
    def folder(self) -> str:
        return self.name or Path(self.dataset).name

    def cli_cmd(self) -> None:
        sys.exit(main(self))


def method_file(repro: ReproConfig, method: str) -> Path | None:
    return settings_file(repro.configs_dir, repro.folder, method)


def run_config(repro: ReproConfig, method: str, noise: str, split_seed: int, seed: int) -> TrainConfig:
    kind, ratio = parse_noise(noise)
    path = method_file(repro, method)
    values = settings_values(path, method) | {"dataset": repro.dataset} | option_values(repro.set)
    return TrainConfig(model=method, noise_kind=kind, noise_ratio=ratio, seed=split_seed, train_seed=seed,
                       store=repro.store, progress=False, config=path, **values)


def command(repro: ReproConfig, method: str, noise: str) -> str:
    kind, ratio = parse_noise(noise)
    path = method_file(repro, method)
    parts = [f"python -m recsys.train {method}", f"--config {shown(path)}" if path else "",
             f"--dataset {repro.dataset}", f"--noise-kind {kind} --noise-ratio {ratio:g}",
             " ".join(f"--{k.replace('_', '-')} {v}" for k, v in option_values(repro.set).items()),
             f"--seed {{{','.join(map(str, repro.split_seeds))}}} --train-seed {{{','.join(map(str, repro.seeds))}}}"]
    return " ".join(part for part in parts if part)


def cells(repro: ReproConfig) -> list[tuple[str, str]]:
    plain = [(method, noise) for noise in repro.noise for method in repro.methods]
    extra = [(method, noise) for noise in repro.denoisers_noise for method in repro.methods
             if method == "tce"]
    return plain + extra


def main(repro: ReproConfig) -> int:
    console = Console(stderr=True)
    store = Store(repro.store)
    rows = []
    plan = [(m, n, s, t) for (m, n) in cells(repro) for s, t in product(repro.split_seeds, repro.seeds)]
    for number, (method, noise, split_seed, seed) in enumerate(plan, 1):
        label = f"[{number}/{len(plan)}] {method} {noise} split {split_seed} seed {seed}"
        run_id = train_or_read(store, run_config(repro, method, noise, split_seed, seed), label, repro.run, console)
        rows.append({"method": method, "noise": noise, "split_seed": split_seed, "seed": seed, "run_id": run_id})
    results = read_results(store, pd.DataFrame(rows))
    valid = valid_at_best_epoch(store, [r for r in results.run_id if r], "recall@20")
    results["valid"] = results.run_id.map(valid)
    repro.out.parent.mkdir(parents=True, exist_ok=True)
    repro.out.write_text(report(repro, results))
    console.print(f"wrote {repro.out}")
    return 0


def cell(values: pd.Series) -> str:
    values = values.dropna()
    return mean_std(values.tolist()) if len(values) else "–"


def beyond_spread(better: pd.Series, worse: pd.Series) -> bool:
    """The gap of the means exceeds the larger of the two standard deviations (over all runs)."""
    better, worse = better.dropna(), worse.dropna()
    if len(better) < 2 or len(worse) < 2:
        return False
    return better.mean() - worse.mean() > max(better.std(), worse.std())


def report(repro: ReproConfig, results: pd.DataFrame) -> str:
    claims = CLAIMS.get(repro.folder, {})
    done = results[results.run_id.notna()]
    lines = [f"# Reproduction on {repro.folder}: each method at its tuned settings, beside its paper", "",
             (f"Command: `python -m evals.repro {' '.join(a for a in sys.argv[1:] if a != '--no-run')}`. "
              f"Store: `{repro.store}`."), "",
             (f"{repro.dataset}; every cell: mean ± std over split seeds {repro.split_seeds} x training seeds "
              f"{repro.seeds}. Settings: `configs/{repro.folder}/<method>.toml`, chosen on validation by "
              "`python -m evals.tune` (see each file's `[tuning]` table); a method without a file runs on its "
              "defaults. Validation R@20 at the best epoch; test at that epoch."), ""]
    rows = []
    for (method, noise), part in done.groupby(["method", "noise"], sort=False):
        path = method_file(repro, method)
        rows.append([method, noise_label(noise), f"`{shown(path)}`" if path else "defaults", cell(part.valid),
                     cell(part.get("test/recall@20", pd.Series(dtype=float))),
                     cell(part.get("test/ndcg@20", pd.Series(dtype=float))), len(part),
                     claims.get(method, "–") if parse_noise(noise)[1] == 0 else "–"])
    lines += markdown_table(["method", "noise", "settings", "valid R@20", "test R@20", "test N@20", "runs",
                             "the papers' claim"], rows)
    lines += ["", "Commands (one run per seed pair):", ""]
    lines += [f"- {method}, {noise_label(noise)}: `{command(repro, method, noise)}`" for method, noise in cells(repro)]
    orderings = ORDERINGS.get(repro.folder, [])
    clean = [n for n in repro.noise if parse_noise(n)[1] == 0]
    if orderings and clean:
        lines += ["", ("## The papers' orderings (clean split, test R@20, beyond = the gap of the means exceeds "
                       "the larger std)"), ""]
        test = "test/recall@20"
        for better, worse in orderings:
            b = done[(done.method == better) & (done.noise == clean[0])].get(test, pd.Series(dtype=float))
            w = done[(done.method == worse) & (done.noise == clean[0])].get(test, pd.Series(dtype=float))
            if b.dropna().empty or w.dropna().empty:
                lines.append(f"- {better} > {worse}: not measured")
                continue
            gap = b.mean() - w.mean()
            single = min(len(b.dropna()), len(w.dropna())) < 2
            verdict = ("does not hold" if gap <= 0 else
                       "holds (a single run on one side: no spread to test against)" if single else
                       "holds beyond the spread" if beyond_spread(b, w) else "holds, within the spread")
            lines.append(f"- {better} > {worse}: {verdict} ({b.mean():.4f} vs {w.mean():.4f}, gap {gap:+.4f})")
    dropping = done[done.method.isin(["tce", "rce"])]
    if all(metric in dropping for metric in DROP_METRICS) and dropping[list(DROP_METRICS)].notna().any().any():
        lines += ["", "## What the denoisers drop (share of each kind of training edge, over the run)", ""]
        rows = [[method, noise_label(noise), cell(part[DROP_METRICS[0]]), cell(part[DROP_METRICS[1]])]
                for (method, noise), part in dropping.groupby(["method", "noise"], sort=False)
                if part[DROP_METRICS[0]].notna().any()]
        lines += markdown_table(["method", "noise", "injected edges dropped", "clean edges dropped"], rows)
    if repro.notes is not None and repro.notes.exists():
        lines += ["", repro.notes.read_text().rstrip()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run_cli(ReproConfig)
