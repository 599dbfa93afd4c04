"""`python -m evals.judge_value`: what a judge of a given accuracy buys, per dataset and noise setting.

For each dataset and noise setting (random 20% and 40%, realistic 20% by default) it trains, over
the training seeds:

* reference lines: the clean ceiling (LightGCN at 0% noise), the noisy backbone (LightGCN), DNS and
  T-CE on the noisy split, and optionally the full model without denoising (``llmhni_noedit``);
* the curve: plain BPR on the judge-edited graph G' (``lightgcn_edited``: LightGCN with
  ``--edit-graph``) and the full model (``llmhni``), each with a simulated judge of accuracy p
  (``--judge simulated --judge-accuracy p``; p = 1 is the oracle) at full reach: the candidates are
  ``--share`` of *every* user's training positives (lowest-scored first), and the judge gate is
  forced open (``--force-edit``), since the curve is what the gate reads.

Each real judge whose balanced accuracy on a labeled set of the dataset is stored (``python -m
evals.judge`` writes ``judge_evals``) is placed on the curve at that accuracy. The break-even accuracy
is where the ``lightgcn_edited`` curve crosses the noisy backbone (linear between grid points).

Every cell is one `python -m recsys.train` run recorded in the store; a cell whose config already has a
finished run is read back, so a killed grid resumes (the helpers are :mod:`evals.harness.cells`'). Simulated
judges read the injected-noise flags: this is an analysis of the method, not a result of any LM.
"""

from __future__ import annotations

import re
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.cells import (
    NOISE_HELP,
    check_noise,
    option_values,
    parse_noise,
    read_results,
    settings_file,
    settings_values,
    train_or_read,
)
from evals.harness.ledger import export_cells, extra_records, ledger_path, read_into
from evals.harness.paths import CONFIGS_DIR, REPORTS_DIR
from evals.harness.tables import markdown_table, mean_std, text_source_note
from pipeline.lab import LAB_FILE, write_lab
from pipeline.train import TrainConfig
from recsys.cli import run_cli
from recsys.data.split import dataset_id_of
from recsys.store import DEFAULT_STORE_PATH, Store
from recsys.store.reports import dataset_ids_of_splits, latest_llm_judge_evals, run_denoise_metrics

REFERENCE_METHODS = ("clean", "lightgcn", "oracle_all", "dns", "tce", "llmhni_noedit")
# Controls at each p: the same model with the same share of candidate positives removed as the simulated judge
# at p removed (read off the judged run it controls), at random or the lowest-scored, reading nothing.
CONTROL_OF = {"random_edits": "lightgcn_edited", "score_only": "lightgcn_edited", "llmhni_random_edits": "llmhni"}
CONTROL_METHODS = tuple(CONTROL_OF)
JUDGED_METHODS = ("lightgcn_edited", "llmhni", *CONTROL_METHODS)
METHODS = (*REFERENCE_METHODS, *JUDGED_METHODS)
LABELS = {"clean": "clean ceiling (LightGCN, 0% noise)", "lightgcn": "noisy backbone (LightGCN)", "dns": "DNS",
          "tce": "T-CE", "oracle_all": "BPR on G minus every injected edge (oracle, every positive judged)",
          "llmhni_noedit": "LLMHNI, G' = G", "lightgcn_edited": "BPR on G' (LightGCN)",
          "llmhni": "LLMHNI on G'", "random_edits": "random edits, same share (control)",
          "score_only": "lowest-scored removed, same share (control)",
          "llmhni_random_edits": "LLMHNI on random edits, same share (control)"}


class JudgeValueConfig(BaseSettings):
    """Run (or read back) the judge-accuracy grid and write evals/reports/judge_value.md and its PNG."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.judge_value", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    datasets: list[str] = Field(["ml-100k"], description="Datasets (python -m recsys.train --dataset).")
    noise: list[str] = Field(["random:0.2", "random:0.4", "realistic:0.2"],
                             description=NOISE_HELP)
    accuracies: list[float] = Field([0.5, 0.6, 0.7, 0.8, 0.9, 1.0], description="Simulated judge accuracies p.")
    split_seeds: list[int] = Field([2026, 7, 11], description="Split seeds (--seed): every cell runs on each split "
                                   "(issue 28: at least 3), so the spread holds split-to-split variance.")
    seeds: list[int] = Field([0, 1], description="Training seeds on each split (the simulated judge's draws follow "
                             "them).")
    methods: list[str] = Field(["clean", "lightgcn", "dns", "tce", "lightgcn_edited", "llmhni", "random_edits",
                                "score_only"],
                               description=f"Any of {', '.join(METHODS)}.")
    share: float = Field(0.2, gt=0, le=1, description="Full reach: the judged share of every user's positives.")
    metric: str = Field("recall@20", description="The test metric of the curve and the tables.")
    set: list[str] = Field([], description="Extra recsys.train options as key=value for every cell.")
    llm_set: list[str] = Field(
        [], description="Extra options for the cells that run LM stages (llmhni, llmhni_noedit: profiles for the "
        "semantic negatives), e.g. max_items=10 where LM calls are slow; the reference cells keep their configs.")
    configs_dir: Path = Field(CONFIGS_DIR, description="Each cell starts from its model's tuned settings file "
                              "<configs-dir>/<dataset>/<model>.toml where one exists; the cell's own options, --set "
                              "and --llm-set go on top.")
    settings_files: bool = Field(True, description="Read the tuned settings files (--no-settings-files: the "
                                 "code's defaults).")
    store: Path = Field(DEFAULT_STORE_PATH.parent / "judge_value.duckdb", description="DuckDB store of the grid.")
    judges_store: Path = Field(DEFAULT_STORE_PATH, description="Store whose judge_evals place real judges.")
    out: Path = Field(REPORTS_DIR / "judge_value.md", description="The markdown report; the PNG goes beside it.")
    run: bool = Field(True, description="Train missing cells (--no-run only reports what is stored).")
    progress: bool = Field(False, description="Show per-run progress bars.")
    lab: Path | None = Field(LAB_FILE, description="Where the break-even accuracies go, merged by dataset and "
                             "noise setting; the full model's judge gate reads them (unset: not written).")
    notes: Path | None = Field(None, description="A hand-written markdown reading appended to the report "
                               "(kept in its own file so that regenerating the report keeps it).")
    ledger: bool = Field(True, description="Read the committed cell record beside the report (REPORT.cells.jsonl) "
                         "into the store first, so its cells count as stored, and write this report's cells (and "
                         "the real judges it placed) to it.")
    from_report: bool = Field(False, description="Only redraw --out's PNG from the numbers in --out itself (no "
                              "store, no ledger, nothing trained or written but the PNG): for a report whose store "
                              "and ledger are gone, e.g. judge_value_full_reach.md.")

    _noise = field_validator("noise")(check_noise)

    @field_validator("methods")
    @classmethod
    def _methods(cls, values: list[str]) -> list[str]:
        unknown = sorted(set(values) - set(METHODS))
        if unknown:
            raise ValueError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
        return values

    def cli_cmd(self) -> None:
        sys.exit(main(self))


def cell_config(grid: JudgeValueConfig, dataset: str, noise: str, method: str, seed: int,
                accuracy: float | None = None, remove_share: float | None = None, split_seed: int = 2026
                ) -> TrainConfig:
    """The recsys.train config of one cell."""
    kind, ratio = parse_noise(noise)
    base = {"dataset": dataset, "noise_kind": kind, "noise_ratio": ratio, "seed": split_seed, "train_seed": seed,
            "store": grid.store,
            "progress": grid.progress} | option_values(grid.set)
    reach = {"judge": "simulated", "judge_accuracy": accuracy, "candidate_share": grid.share, "candidate_budget": None,
             "judge_users": None, "force_edit": True}
    extra = {
        "clean": {"model": "lightgcn", "noise_ratio": 0.0},
        "lightgcn": {"model": "lightgcn"},
        "dns": {"model": "dns"},
        "tce": {"model": "tce"},
        "oracle_all": {"model": "lightgcn", "edit_graph": True} | reach | {"judge": "oracle", "judge_accuracy": None,
                                                                          "candidate_share": 1.0},
        "llmhni_noedit": {"model": "llmhni", "denoise": False},
        "lightgcn_edited": {"model": "lightgcn", "edit_graph": True} | reach,
        "llmhni": {"model": "llmhni"} | reach,
        "random_edits": {"model": "lightgcn", "edit_graph": True} | reach | {
            "judge": "random", "judge_accuracy": None, "judge_remove_share": remove_share},
        "score_only": {"model": "lightgcn", "edit_graph": True} | reach | {
            "judge": "score", "judge_accuracy": None, "judge_remove_share": remove_share},
        "llmhni_random_edits": {"model": "llmhni"} | reach | {
            "judge": "random", "judge_accuracy": None, "judge_remove_share": remove_share},
    }[method]
    if extra["model"] == "llmhni":
        extra |= option_values(grid.llm_set)
    path = settings_file(grid.configs_dir, dataset, extra["model"]) if grid.settings_files else None
    return TrainConfig(**(settings_values(path, extra["model"]) | base | extra), config=path)


def grid_cells(grid: JudgeValueConfig) -> list[dict]:
    cells = []
    for dataset in grid.datasets:
        for noise in grid.noise:
            for method in grid.methods:
                for accuracy in (grid.accuracies if method in JUDGED_METHODS else [None]):
                    for split_seed, seed in product(grid.split_seeds, grid.seeds):
                        cells.append({"dataset": dataset, "noise": noise, "method": method, "accuracy": accuracy,
                                      "split_seed": split_seed, "seed": seed})
    return cells


def run_grid(grid: JudgeValueConfig, console: Console) -> pd.DataFrame:
    """One row per cell with its run id (None where missing and --no-run)."""
    store = Store(grid.store)
    # the controls read the share their judged cell removed, so they come after every other cell
    cells = sorted(grid_cells(grid), key=lambda cell: cell["method"] in CONTROL_METHODS)
    judged_runs = {}
    for number, cell in enumerate(cells, 1):
        share = None
        if cell["method"] in CONTROL_METHODS:
            judged_method = CONTROL_OF[cell["method"]]
            judged = judged_runs.get((judged_method, cell["dataset"], cell["noise"], cell["accuracy"],
                                      cell["split_seed"], cell["seed"]))
            share = removed_share(store, judged) if judged else None
            if share is None:
                console.print(f"{cell['method']} p={cell['accuracy']:g} seed {cell['seed']}: no {judged_method} run "
                              "to match its removal share; skipped")
                cell["run_id"] = None
                continue
        config = cell_config(grid, cell["dataset"], cell["noise"], cell["method"], cell["seed"], cell["accuracy"],
                             share, cell["split_seed"])
        label = (f"[{number}/{len(cells)}] {cell['dataset']} {cell['noise']} {cell['method']}"
                 + (f" p={cell['accuracy']:g}" if cell["accuracy"] is not None else "")
                 + f" split {cell['split_seed']} seed {cell['seed']}")
        cell["run_id"] = train_or_read(store, config, label, grid.run, console)
        if cell["method"] in CONTROL_OF.values() and cell["run_id"]:
            judged_runs[(cell["method"], cell["dataset"], cell["noise"], cell["accuracy"], cell["split_seed"],
                         cell["seed"])] = cell["run_id"]
    return pd.DataFrame(cells)


def removed_share(store: Store, run_id: str) -> float | None:
    """The share of its candidate positives a judged run removed (rounded so that equal shares hash alike)."""
    metrics = run_denoise_metrics(store, run_id)
    candidates = metrics.get("injected_candidates", 0) + metrics.get("clean_candidates", 0)
    if not candidates or "edges_removed" not in metrics:
        return None
    return round(metrics["edges_removed"] / candidates, 6)


def trained_dataset_ids(store: Path, results: pd.DataFrame) -> dict[str, str]:
    """The store's dataset id of each dataset argument the grid trained on."""
    splits = results.dropna(subset=["split_id"]).drop_duplicates("dataset") if "split_id" in results else results[:0]
    if not len(splits):
        return {}
    ids = dataset_ids_of_splits(Store(store), splits.split_id.tolist())
    # a run read from the ledger may have no split row in this store
    return {row.dataset: ids.get(row.split_id, dataset_id_of(row.split_id)) for row in splits.itertuples()}


def real_judges(path: Path, datasets: list[str]) -> pd.DataFrame:
    """The latest stored balanced accuracy of each LM judge (and prompt) per dataset: rows of
    (dataset, judge, lm, prompt_hash, balanced_accuracy, n_pairs, label_set); empty if none."""
    columns = ["dataset", "judge", "lm", "prompt_hash", "balanced_accuracy", "n_pairs", "label_set"]
    if not Path(path).exists():
        return pd.DataFrame(columns=columns)
    try:
        frame = latest_llm_judge_evals(Store(path))
    except Exception as error:  # noqa: BLE001 - an old or locked store: no judges to place, said in the report
        print(f"real judges not read from {path}: {error}", file=sys.stderr)
        return pd.DataFrame(columns=columns)
    return frame[frame.dataset.isin(datasets)][columns] if len(frame) else pd.DataFrame(columns=columns)


def judge_key(row: dict) -> list:
    return [row["dataset"], row["judge"], row["prompt_hash"], row["lm"]]


def with_recorded_judges(judges: pd.DataFrame, ledger: Path, datasets: list[str]) -> pd.DataFrame:
    """The stored judges plus the record's judges the store does not hold (its eval rows were in a lost
    store), so a measured judge stays placed on a fresh checkout."""
    have = {tuple(judge_key(row)) for row in judges.to_dict("records")}
    recorded = [{k: r[k] for k in judges.columns} for r in extra_records(ledger, "judge")
                if tuple(r["key"]) not in have and r["dataset"] in datasets]
    return pd.concat([judges, pd.DataFrame(recorded, columns=judges.columns)], ignore_index=True) if recorded \
        else judges


def curve(results: pd.DataFrame, column: str, method: str) -> pd.DataFrame:
    subset = results[(results.method == method) & results[column].notna()] if column in results else results[:0]
    return subset.groupby("accuracy")[column].agg(["mean", "std", "count"]).reset_index()


def crossing(points: pd.DataFrame, level: float) -> float | None:
    """The lowest accuracy where the curve's mean reaches ``level`` (linear between grid points)."""
    xs, ys = points.accuracy.to_numpy(), points["mean"].to_numpy()
    if not len(xs):
        return None
    if ys[0] >= level:
        return float(xs[0])
    for k in range(1, len(xs)):
        if ys[k] >= level > ys[k - 1]:
            return float(xs[k - 1] + (level - ys[k - 1]) * (xs[k] - xs[k - 1]) / (ys[k] - ys[k - 1]))
    return None


def paying_from(gain: pd.DataFrame) -> float | None:
    """The lowest p from which the gain's mean stays above 0 at every higher grid point (linear between the
    last point at or below 0 and the next); None if it does not pay at the grid's top."""
    xs, ys = gain.accuracy.to_numpy(), gain["mean"].to_numpy()
    if not len(xs) or ys[-1] <= 0:
        return None
    below = np.flatnonzero(ys <= 0)
    if not len(below):
        return float(xs[0])
    k = below[-1]
    return float(xs[k] + (0 - ys[k]) * (xs[k + 1] - xs[k]) / (ys[k + 1] - ys[k]))


def gain_over(points: pd.DataFrame, control: pd.DataFrame) -> pd.DataFrame:
    """The curve minus the control at each accuracy both have."""
    both = points.merge(control, on="accuracy", suffixes=("", "_control"))
    return pd.DataFrame({"accuracy": both.accuracy, "mean": both["mean"] - both["mean_control"]})


def at_accuracy(points: pd.DataFrame, accuracy: float) -> float | None:
    if len(points) < 2 or not points.accuracy.min() <= accuracy <= points.accuracy.max():
        return None
    return float(np.interp(accuracy, points.accuracy, points["mean"]))


def reference(results: pd.DataFrame, column: str, method: str) -> pd.Series:
    if column not in results:
        return pd.Series(dtype=float)
    return results.loc[(results.method == method) & results[column].notna(), column]


def setting_section(results: pd.DataFrame, grid: JudgeValueConfig, dataset: str, noise: str,
                    judges: pd.DataFrame) -> tuple[list[str], dict]:
    """The markdown of one dataset x noise setting and its headline numbers."""
    column = f"test/{grid.metric}"
    part = results[(results.dataset == dataset) & (results.noise == noise)]
    kind, ratio = parse_noise(noise)
    refs, rows = {}, []
    for method in REFERENCE_METHODS:
        if method in grid.methods:
            values = reference(part, column, method)
            refs[method] = float(values.mean()) if len(values) else None
            rows.append([LABELS[method], mean_std(values.tolist()) if len(values) else "–", len(values)])
    lines = [f"### {dataset}, {ratio:.0%} {kind} noise", "",
             *markdown_table(["reference", f"test {grid.metric}", "runs"], rows)]
    curves = {method: curve(part, column, method) for method in JUDGED_METHODS if method in grid.methods}
    rows = []
    for accuracy in grid.accuracies:
        cells = []
        for points in curves.values():
            row = points[points.accuracy == accuracy]
            if len(row):
                mean, std, count = row.iloc[0]["mean"], row.iloc[0]["std"], int(row.iloc[0]["count"])
                cells.append(f"{mean:.4f} ± {0.0 if np.isnan(std) else std:.4f}"
                             + (f" (n={count})" if count < len(grid.seeds) * len(grid.split_seeds) else ""))
            else:
                cells.append("–")
        rows.append([f"{accuracy:g}{' (oracle)' if accuracy == 1 else ''}", *cells])
    lines += ["", *markdown_table(["judge accuracy p", *(LABELS[m] for m in curves)], rows)]
    note = text_source_note(part)
    if note:
        lines += ["", note]
    edited = curves.get("lightgcn_edited", pd.DataFrame(columns=["accuracy", "mean"]))
    full = curves.get("llmhni", pd.DataFrame(columns=["accuracy", "mean"]))
    clean, noisy, dns = refs.get("clean"), refs.get("lightgcn"), refs.get("dns")
    headline = {"dataset": dataset, "noise": noise, "clean": clean, "noisy": noisy, "dns": dns,
                "oracle_all": refs.get("oracle_all")}
    oracle = edited.loc[edited.accuracy == 1.0, "mean"]
    if clean is not None and noisy is not None:
        gap = clean - noisy
        headline["gap"] = gap
        if len(oracle):
            headline["closed"] = (float(oracle.iloc[0]) - noisy) / gap if abs(gap) > 1e-12 else float("nan")
        if refs.get("oracle_all") is not None:
            headline["ceiling"] = (refs["oracle_all"] - noisy) / gap if abs(gap) > 1e-12 else float("nan")
    complete = lambda points: len(points) == len(grid.accuracies)  # a break-even needs the whole curve
    if noisy is not None:
        headline["break_even"] = crossing(edited, noisy)
        headline["break_even_complete"] = complete(edited)
    full_oracle = full.loc[full.accuracy == 1.0, "mean"]
    if len(full_oracle):
        headline["llmhni_oracle"] = float(full_oracle.iloc[0])
        if clean is not None and noisy is not None and abs(clean - noisy) > 1e-12:
            headline["llmhni_closed"] = (float(full_oracle.iloc[0]) - noisy) / (clean - noisy)
    if refs.get("llmhni_noedit") is not None:
        headline["llmhni_break_even"] = crossing(full, refs["llmhni_noedit"])
        headline["llmhni_break_even_complete"] = complete(full)
    for control in CONTROL_METHODS:  # the judge's own information: its gain over a control removing as much
        points, judged = curves.get(control), {"lightgcn_edited": edited, "llmhni": full}[CONTROL_OF[control]]
        if points is None or not len(points) or not len(judged):
            continue
        gain = gain_over(judged, points)
        top = gain.loc[gain.accuracy == gain.accuracy.max(), "mean"]
        headline[f"gain_over_{control}"] = float(top.iloc[0]) if len(top) else None
        headline[f"gain_over_{control}_at"] = float(gain.accuracy.max()) if len(gain) else None
        headline[f"break_even_vs_{control}"] = paying_from(gain)
        headline[f"break_even_vs_{control}_complete"] = complete(points) and complete(judged)
    lines.append("")
    placed = judges[judges.dataset == dataset] if len(judges) else judges
    if len(placed):
        rows = []
        for row in placed.itertuples():
            there = [at_accuracy(points, row.balanced_accuracy) for points in (edited, full)]
            cells = ["– (outside the grid)" if value is None else f"{value:.4f}" for value in there]
            rows.append([f"{row.judge} ({row.prompt_hash})", f"`{row.lm}`", f"{row.balanced_accuracy:.3f}",
                         row.n_pairs, *cells])
        lines += ["Real judges on this dataset's labeled set, placed on the curves at their balanced accuracy:", "",
                  *markdown_table(["judge", "LM", "balanced acc.", "pairs", "BPR on G' there", "LLMHNI on G' there"],
                                  rows), ""]
    return lines, headline


def reading(headlines: list[dict]) -> list[str]:
    def f(value, spec=".4f"):
        return "–" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)

    header = ["dataset", "noise", "clean", "noisy", "clean − noisy", "all noise removed closes",
              "BPR on oracle G' closes", "break-even p (BPR on G' vs noisy)", "LLMHNI p = 1", "LLMHNI p = 1 closes",
              "DNS", "LLMHNI p = 1 − DNS", "break-even p (LLMHNI vs LLMHNI G' = G)",
              "BPR on G' − random edits, top p", "break-even p vs random edits", "BPR on G' − score-only, top p",
              "LLMHNI − LLMHNI on random edits, top p", "break-even p (LLMHNI vs LLMHNI on random edits)"]
    rows = []
    for h in headlines:
        diff = (h["llmhni_oracle"] - h["dns"]) if h.get("llmhni_oracle") is not None and h.get("dns") is not None else None
        rows.append([h["dataset"], h["noise"], f(h.get("clean")), f(h.get("noisy")), f(h.get("gap"), "+.4f"),
                     f(h.get("ceiling"), ".0%"), f(h.get("closed"), ".0%"), f(h.get("break_even"), ".2f"),
                     f(h.get("llmhni_oracle")), f(h.get("llmhni_closed"), ".0%"), f(h.get("dns")),
                     f(diff, "+.4f"), f(h.get("llmhni_break_even"), ".2f"), f(h.get("gain_over_random_edits"), "+.4f"),
                     f(h.get("break_even_vs_random_edits"), ".2f"), f(h.get("gain_over_score_only"), "+.4f"),
                     f(h.get("gain_over_llmhni_random_edits"), "+.4f"),
                     f(h.get("break_even_vs_llmhni_random_edits"), ".2f")])
    return markdown_table(header, rows)


def lab_entries(grid: JudgeValueConfig, headlines: list[dict], dataset_ids: dict[str, str], command: str
                ) -> list[dict]:
    """The break-even table the full model's gate reads (:mod:`pipeline.lab`): one entry per
    setting whose curve is complete, keyed by the dataset id the runs trained on."""
    entries = []
    for h in headlines:
        if h["dataset"] not in dataset_ids:
            continue
        kind, ratio = parse_noise(h["noise"])
        entry = {"dataset_id": dataset_ids[h["dataset"]], "noise_kind": kind, "noise_ratio": ratio,
                 "candidate_share": grid.share, "accuracies": grid.accuracies, "seeds": grid.seeds,
                 "split_seeds": grid.split_seeds,
                 "metric": grid.metric, "command": command, "store": str(grid.store)}
        for curve, key in (("llmhni", "llmhni_break_even"), ("bpr_on_g_prime", "break_even"),
                           ("bpr_on_g_prime_vs_random", "break_even_vs_random_edits"),
                           ("llmhni_vs_random", "break_even_vs_llmhni_random_edits")):
            if h.get(f"{key}_complete"):
                entry[curve] = h[key]
                entry[f"{curve}_command"] = command  # the entry's curves may come from different grids
                entry[f"{curve}_at_grid_floor"] = h[key] is not None and h[key] <= min(grid.accuracies)
        if {"llmhni", "bpr_on_g_prime", "bpr_on_g_prime_vs_random", "llmhni_vs_random"} & set(entry):
            entries.append(entry)
    return entries


REFERENCE_STYLES = {"clean": ("black", "-"), "lightgcn": ("grey", "--"), "oracle_all": ("tab:olive", "-"),
                    "dns": ("tab:red", ":"), "tce": ("tab:purple", "-."), "llmhni_noedit": ("tab:green", ":")}
CURVE_STYLES = {"lightgcn_edited": ("tab:blue", "o"), "llmhni": ("tab:orange", "s"), "random_edits": ("tab:gray", "x"),
                "score_only": ("tab:brown", "^"), "llmhni_random_edits": ("tab:pink", "d")}


def plot_panels(results: pd.DataFrame, grid: JudgeValueConfig) -> list[dict]:
    """What the plot draws, per dataset x noise setting: the reference means and the judged curves."""
    column = f"test/{grid.metric}"
    panels = []
    for dataset in grid.datasets:
        for noise in grid.noise:
            part = results[(results.dataset == dataset) & (results.noise == noise)]
            refs = {m: float(reference(part, column, m).mean()) for m in REFERENCE_STYLES
                    if len(reference(part, column, m))}
            curves = {m: curve(part, column, m) for m in CURVE_STYLES if len(curve(part, column, m))}
            panels.append({"dataset": dataset, "noise": noise, "refs": refs, "curves": curves})
    return panels


def plot(results: pd.DataFrame, grid: JudgeValueConfig, judges: pd.DataFrame, path: Path) -> None:
    draw(plot_panels(results, grid), judges, path, grid.metric, grid.share, grid.seeds, len(grid.noise))


def draw(panels: list[dict], judges: pd.DataFrame, path: Path, metric: str, share: float, seeds: list[int],
         noise_settings: int) -> None:
    """A grid of panels (a row per dataset where it has 2-3 noise settings, else rows of up to 3), one
    legend below them. Each panel: the reference lines, the judged curves (mean ± std over the seeds) and
    the real judges' balanced accuracy as a gold line (a star where it meets the BPR-on-G' curve)."""
    import matplotlib.lines as mlines

    from evals.harness.plots import legend_below, panel_grid, save, short_judge_name, title

    columns = noise_settings if 2 <= noise_settings <= 3 else 3
    # one panel: wide enough for a two-column legend of the long reference labels
    fig, axes = panel_grid(len(panels), columns, width=8.0 if len(panels) == 1 else 4.6, height=3.5,
                           legend_rows=6 if len(panels) == 1 else 3)
    placed = False
    xs = [x for panel in panels for points in panel["curves"].values() for x in points.accuracy]
    xs += [float(x) for x in judges.balanced_accuracy] if len(judges) else []
    for ax, panel in zip(axes, panels):
        for method, value in panel["refs"].items():
            color, style = REFERENCE_STYLES[method]
            ax.axhline(value, color=color, ls=style, lw=1.2, label=LABELS[method])
        for method, points in panel["curves"].items():
            color, marker = CURVE_STYLES[method]
            ax.errorbar(points.accuracy, points["mean"], yerr=points["std"].fillna(0), marker=marker, ms=4.5,
                        capsize=3, color=color, label=LABELS[method])
        here = judges[judges.dataset == panel["dataset"]] if len(judges) else judges
        names: dict[float, list[str]] = {}
        for row in here.itertuples():
            names.setdefault(round(float(row.balanced_accuracy), 3), []).append(short_judge_name(row.judge))
        edited = panel["curves"].get("lightgcn_edited")
        for accuracy, labels in names.items():
            placed = True
            ax.axvline(accuracy, color="sienna", lw=2.2, alpha=0.45)
            ax.annotate(", ".join(dict.fromkeys(labels)), (accuracy, 0.97), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=6.5, va="top", ha="right", xytext=(-2, 0), textcoords="offset points",
                        color="saddlebrown")
            value = at_accuracy(edited, accuracy) if edited is not None else None
            if value is not None:
                ax.plot([accuracy], [value], "*", ms=12, color="gold", mec="black", zorder=5)
        kind, ratio = parse_noise(panel["noise"])
        ax.set_title(f"{panel['dataset']}, {ratio:.0%} {kind} noise", fontsize=9.5)
        if xs:  # the same p axis in every panel, wide enough for every real judge
            ax.set_xlim(min(xs) - 0.03, max(xs) + 0.03)
        ax.set_xlabel("simulated judge accuracy p (1 = oracle)", fontsize=8.5)
        ax.set_ylabel(f"test {metric}", fontsize=8.5)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    extra = [(mlines.Line2D([], [], color="sienna", lw=2.2, alpha=0.45),
              "a real LM judge's balanced accuracy (labeled set)")] if placed else []
    legend_below(fig, axes, columns=3 if min(columns, len(panels)) >= 3 else 2, extra=extra)
    title(fig, f"Test {metric} against simulated judge accuracy p: {share:.0%} of every user's positives judged "
          f"(mean ± std over all runs: training seeds {seeds} on each split)")
    save(fig, path)


def panels_from_report(text: str) -> tuple[list[dict], pd.DataFrame, dict]:
    """The plot's panels, real judges and settings (metric, share, seeds, noise settings) read back from a
    report this script wrote: its per-setting tables hold every number the plot draws."""
    from evals.harness.plots import markdown_tables, mean_and_std, number

    by_label = {label: method for method, label in LABELS.items()}
    panels, judges = [], []
    sections = re.split(r"^### ", text.split("\n## Real judges", 1)[0], flags=re.MULTILINE)[1:]
    for section in sections:
        heading = section.splitlines()[0]
        found = re.fullmatch(r"(.+), (\d+)% (random|realistic) noise", heading.strip())
        if found is None:
            continue
        dataset, noise = found.group(1), f"{found.group(3)}:{int(found.group(2)) / 100:g}"
        refs, curves = {}, {}
        for header, rows in markdown_tables(section):
            if header[0] == "reference":
                for row in rows:
                    value = mean_and_std(row[1])
                    if by_label.get(row[0]) in REFERENCE_STYLES and value is not None:
                        refs[by_label[row[0]]] = value[0]
            elif header[0] == "judge accuracy p":
                for k, label in enumerate(header[1:], 1):
                    points = [(number(row[0]), *mean_and_std(row[k])) for row in rows if mean_and_std(row[k])]
                    if points and by_label.get(label) in CURVE_STYLES:
                        curves[by_label[label]] = pd.DataFrame(points, columns=["accuracy", "mean", "std"])
            elif header[0] == "judge":
                judges += [{"dataset": dataset, "judge": row[0].split(" (")[0], "balanced_accuracy": number(row[2])}
                           for row in rows]
        panels.append({"dataset": dataset, "noise": noise, "refs": refs, "curves": curves})
    metric = re.search(r"\| reference \| test (\S+) \|", text)
    share = re.search(r"--candidate-share ([\d.]+)", text)
    seeds = re.search(r"training seeds \[([\d, ]*)\]", text)
    settings = {"metric": metric.group(1) if metric else "recall@20",
                "share": float(share.group(1)) if share else 0.2,
                "seeds": [int(s) for s in seeds.group(1).split(",")] if seeds and seeds.group(1) else [],
                "noise_settings": len(dict.fromkeys(p["noise"] for p in panels))}
    return panels, pd.DataFrame(judges, columns=["dataset", "judge", "balanced_accuracy"]).drop_duplicates(), settings


def redraw(report: Path) -> Path:
    """The report's PNG again from its own tables (``--from-report``): no store, no ledger, no training."""
    panels, judges, settings = panels_from_report(report.read_text())
    if not panels:
        raise SystemExit(f"{report}: no per-setting tables to redraw")
    png = report.with_suffix(".png")
    draw(panels, judges, png, **settings)
    return png


def write_report(grid: JudgeValueConfig, results: pd.DataFrame, judges: pd.DataFrame, command: str,
                 dataset_ids: dict[str, str] | None = None) -> Path:
    png = grid.out.with_suffix(".png")
    plot(results, grid, judges, png)
    sections, headlines = [], []
    for dataset in grid.datasets:
        for noise in grid.noise:
            lines, headline = setting_section(results, grid, dataset, noise, judges)
            sections += lines
            headlines.append(headline)
    missing = int(results.run_id.isna().sum())
    judged = results[results.method.isin(JUDGED_METHODS) & results.run_id.notna()]
    reach = ""
    if "denoise/injected_candidates" in judged and len(judged):
        row = judged.iloc[0]
        reach = (f" At this reach the candidates held {row['denoise/injected_candidates']:.0f} of the "
                 f"{row.get('denoise/injected_in_train', float('nan')):.0f} injected edges of the first setting "
                 f"({row['dataset']}, {row['noise']}).")
    lines = [
        "# The value of a judge: gain against judge accuracy",
        "",
        f"Command: `{command}`. Store: `{grid.store}`.",
        "",
        "Each cell is a `python -m recsys.train` run, validated on Recall@20 every epoch with patience 20; test "
        f"metrics at the best validation epoch, mean ± std over all runs (split seeds {grid.split_seeds} x training "
        f"seeds {grid.seeds}). The judged methods use "
        f"`--judge simulated --judge-accuracy p --candidate-share {grid.share:g}` with the "
        "global `--candidate-budget` unset, and `--force-edit`: a simulated judge decides each candidate positive from the injected-noise flag, right "
        "with probability p (seeded per pair by the training seed; p = 1 is the oracle; negatives are never "
        "added, as the oracle adds none). It reads ground truth: these curves bound what a real judge of that "
        f"accuracy buys, they are not an LM's result.{reach}"
        + (f" **{missing} cells are missing** (not run yet): the command trains them and reads every finished "
           "cell back from the store." if missing else ""),
        "",
        "## Reading",
        "",
        ("*closes*: the share of the clean − noisy gap won back; *all noise removed* is the data's denoising "
        "ceiling (an oracle that judges every positive), *BPR on oracle G'* the ceiling at the curve's reach. "
        "*break-even p*: where the curve's mean crosses "
        "the reference (linear between grid points; – where it never does in the grid or a line is missing)."),
        "",
        *reading(headlines),
        "",
        f"![gain against judge accuracy]({png.name})",
        "",
        "## Per setting",
        "",
        *sections,
        "## Real judges",
        "",
    ]
    if len(judges):
        lines.append(f"Read from `{grid.judges_store}` (table `judge_evals`, the latest row per judge, prompt and LM); "
                     "each is placed on its dataset's curves in the sections above and as a star in the plot.")
    else:
        lines.append(f"No LM judge evaluation on a labeled set of {', '.join(grid.datasets)} is stored in "
                     f"`{grid.judges_store}`, so no real judge is placed on the curves. `python -m evals.judge "
                     "--dataset NAME` measures one (and the full model's judge gate reads it); "
                     "[evals/judge.md](judge.md) reports the embedded judges' balanced accuracy between 0.47 and "
                     "0.54 on ml-100k (10% realistic noise labeled set), which is left of every curve here.")
    entries = lab_entries(grid, headlines, dataset_ids or {}, command)
    if grid.lab is not None and entries:
        write_lab(entries, grid.lab)
        lines += ["", (f"The break-even accuracies of the complete curves went to `{grid.lab.name}`, which the full "
                  "model's judge gate reads for these datasets and noise settings (`--gate-lab`).")]
    if grid.notes is not None:
        lines += ["", grid.notes.read_text().rstrip()]
    grid.out.write_text("\n".join(lines) + "\n")
    return grid.out


def main(grid: JudgeValueConfig) -> int:
    console = Console(stderr=True)
    if grid.from_report:
        console.print(f"wrote {redraw(grid.out)}")
        return 0
    store, ledger = Store(grid.store), ledger_path(grid.out)
    if grid.ledger:
        read_into(store, ledger, console)
    cells = run_grid(grid, console)
    results = read_results(store, cells)
    judges = real_judges(grid.judges_store, grid.datasets)
    if grid.ledger:
        judges = with_recorded_judges(judges, ledger, grid.datasets)
        export_cells(store, ledger, cells.run_id, [{"kind": "judge", "key": judge_key(row), **row}
                                                   for row in judges.to_dict("records")])
    command = "python -m evals.judge_value " + " ".join(arg for arg in sys.argv[1:] if arg != "--no-run")
    path = write_report(grid, results, judges, command, trained_dataset_ids(grid.store, results))
    console.print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    run_cli(JudgeValueConfig)
