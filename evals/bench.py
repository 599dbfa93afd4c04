"""`python -m evals.bench`: datasets x noise settings x methods x seeds under one protocol, with plots.

Every cell is one `python -m recsys.train` run (the same splits, noise, evaluation and early
stopping for every method), recorded in the store. A cell whose config hash already has a finished
run is read back, not trained again, so a killed benchmark resumes where it stopped; profiles,
embeddings and verdicts are reused through the store as in any run. The report holds:

* per dataset, test NDCG@20 / Recall@20 (mean ± std over the training seeds) per method and noise
  setting, and which differences exceed the seed spread;
* a noise-robustness plot: each metric against the noise ratio, one line per method and noise kind (PNG);
* what each denoiser did to injected against clean edges (T-CE's drop share, R-CE's weight, the
  LLM judge's removals among its candidates);
* efficiency: seconds per epoch, total seconds per run, LM calls and tokens of the LLM stages.
"""

from __future__ import annotations

import json
import sys
from itertools import product
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.cells import (
    LLM_METHODS,
    NOISE_HELP,
    check_noise,
    lm_work,
    noise_label,
    option_values,
    parse_noise,
    read_results,
    settings_file,
    settings_values,
    train_or_read,
)
from evals.harness.ledger import export_cells, extra_records, ledger_path, read_into, read_ledger
from evals.harness.paths import CONFIGS_DIR, REPORTS_DIR
from evals.harness.tables import markdown_table, mean_std, text_source_note
from pipeline.train import MODELS, TrainConfig
from recsys.cli import run_cli
from recsys.store import DEFAULT_STORE_PATH, Store


class BenchConfig(BaseSettings):
    """Run (or read back) a benchmark matrix (datasets x noise settings x methods x seeds) and write its report."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.bench", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    datasets: list[str] = Field(["ml-100k", "book-crossing"], description="Datasets every method trains on.")
    methods: list[str] = Field(
        ["lightgcn", "dns", "tce", "rce", "sgl", "simgcl", "rlmrec_con", "llmhd", "hnlmrec", "llmhni"],
        description=f"Methods (python -m recsys.train --model), any of {', '.join(MODELS)}.")
    noise: list[str] = Field(["random:0", "realistic:0.2", "random:0.2", "random:0.4"], description=NOISE_HELP)
    split_seeds: list[int] = Field([2026, 7, 11], description="Split seeds (--seed): every cell runs on each split, "
                                   "so the spread holds split-to-split variance too (issue 28: at least 3).")
    seeds: list[int] = Field([0, 1], description="Training seeds (--train-seed) on each split.")
    backbone: Literal["lightgcn", "ngcf"] = Field("lightgcn", description="The baselines' graph encoder.")
    metrics: list[str] = Field(["ndcg@20", "recall@20"], description="Test metrics to report.")
    spread_metric: str = Field("recall@20", description="The metric whose differences are tested against the "
                               "seed spread (a difference counts when it exceeds the sum of the two seed stds).")
    set: list[str] = Field([], description="Extra recsys.train options as key=value (e.g. epochs=50).")
    llm_set: list[str] = Field([], description="Extra options for the LLM methods' cells only "
                               f"({', '.join(LLM_METHODS)}), e.g. max_users=40 where LM calls are slow.")
    configs_dir: Path = Field(CONFIGS_DIR, description="Each cell starts from its method's tuned settings file "
                              "<configs-dir>/<dataset>/<method>.toml where one exists (python -m evals.tune writes "
                              "them); --set and --llm-set go on top.")
    settings_files: bool = Field(True, description="Read the tuned settings files (--no-settings-files: every "
                                 "method at the code's defaults).")
    store: Path = Field(DEFAULT_STORE_PATH, description="DuckDB store file.")
    out: Path = Field(REPORTS_DIR / "bench.md", description="The markdown report; plots go beside it.")
    run: bool = Field(True, description="Train missing cells (--no-run only reports what is stored).")
    progress: bool = Field(False, description="Show per-run progress bars.")
    ledger: bool = Field(True, description="Read the committed cell record beside the report (REPORT.cells.jsonl) "
                         "into the store first, so its cells count as stored, and write this report's cells to it.")
    notes: Path | None = Field(None, description="A hand-written markdown reading appended to the report "
                               "(kept in its own file so that regenerating the report keeps it).")
    plot_only: bool = Field(False, description="Only redraw the PNG beside --out from the runs in its ledger "
                            "(REPORT.cells.jsonl), read straight from the record: no store, no training, the "
                            "report and ledger untouched.")

    _noise = field_validator("noise")(check_noise)

    def cli_cmd(self) -> None:
        sys.exit(main(self))


def cell_config(bench: BenchConfig, dataset: str, method: str, noise: str, seed: int, split_seed: int = 2026
                ) -> TrainConfig:
    kind, ratio = parse_noise(noise)
    path = method_file(bench, dataset, method)
    overrides = settings_values(path, method) | {"dataset": dataset} | option_values(bench.set)
    if method in LLM_METHODS:
        overrides |= option_values(bench.llm_set)
    return TrainConfig(model=method, noise_kind=kind, noise_ratio=ratio, seed=split_seed, train_seed=seed,
                       backbone=bench.backbone, store=bench.store, progress=bench.progress, config=path, **overrides)


def method_file(bench: BenchConfig, dataset: str, method: str) -> Path | None:
    return settings_file(bench.configs_dir, dataset, method) if bench.settings_files else None


def settings_note(bench: BenchConfig) -> str:
    """Which cells started from a tuned settings file, for the report's header."""
    used = {dataset: [method for method in bench.methods if method_file(bench, dataset, method)]
            for dataset in bench.datasets}
    if not any(used.values()):
        return " Every method runs at the code's defaults (no settings files)."
    return (" Settings files (`configs/<dataset>/<method>.toml`, chosen on validation by `python -m evals.tune`): "
            + "; ".join(f"{dataset}: {', '.join(methods) or 'none'}" for dataset, methods in used.items())
            + "; the other methods run at the code's defaults.")


def has_lm_work(kinds: dict[str, dict[str, int]]) -> bool:
    return any(k["calls"] for k in kinds.values())


def with_recorded_work(work: dict, ledger: Path) -> dict:
    """A split's LM work from the ledger where the store holds none of it (a fresh store: the runs came
    from the ledger, the profiles and verdicts they read did not)."""
    recorded = {r["key"][0]: r["work"] for r in extra_records(ledger, "lm_work")}
    return {split_id: kinds if has_lm_work(kinds) else recorded.get(split_id, kinds)
            for split_id, kinds in work.items()}


def run_matrix(bench: BenchConfig, console: Console) -> pd.DataFrame:
    """One row per cell: its run id (None where missing and --no-run)."""
    store = Store(bench.store)
    cells = list(product(bench.datasets, bench.noise, bench.methods, bench.split_seeds, bench.seeds))
    rows = []
    for number, (dataset, noise, method, split_seed, seed) in enumerate(cells, 1):
        label = f"[{number}/{len(cells)}] {dataset} {method} {noise} split {split_seed} seed {seed}"
        config = cell_config(bench, dataset, method, noise, seed, split_seed)
        run_id = train_or_read(store, config, label, bench.run, console)
        rows.append({"dataset": dataset, "noise": noise, "method": method, "split_seed": split_seed, "seed": seed,
                     "run_id": run_id})
    return pd.DataFrame(rows)


def values(results: pd.DataFrame, dataset: str, noise: str, method: str, metric: str) -> pd.Series:
    """The test ``metric`` of every stored seed of one cell group."""
    column = f"test/{metric}"
    if column not in results:
        return pd.Series(dtype=float)
    return results.loc[(results.dataset == dataset) & (results.noise == noise) & (results.method == method),
                       column].dropna()


def split_spread(results: pd.DataFrame, dataset: str, noise: str, method: str, metric: str) -> float | None:
    """The standard deviation of the per-split means (None with fewer than two splits stored)."""
    column = f"test/{metric}"
    if column not in results or "split_seed" not in results:
        return None
    part = results.loc[(results.dataset == dataset) & (results.noise == noise) & (results.method == method)]
    means = part.dropna(subset=[column]).groupby("split_seed")[column].mean()
    return float(means.std()) if len(means) > 1 else None


def beyond_spread(a: pd.Series, b: pd.Series) -> bool:
    """Whether two methods' means differ by more than the sum of their seed standard deviations (with
    3 seeds a stricter reading than "the mean ± std intervals do not overlap" is not affordable)."""
    if len(a) < 2 or len(b) < 2:
        return False
    return abs(a.mean() - b.mean()) > a.std() + b.std()


def metric_table(results: pd.DataFrame, bench: BenchConfig, dataset: str) -> list[str]:
    """Methods x (noise setting, metric): mean ± std, the best of each column in bold, and ▲ / ▼ where a
    method is above / below the backbone by more than the seed spread."""
    header = [f"{noise_label(noise)} {metric}" for noise in bench.noise for metric in bench.metrics]
    best = {(noise, metric): max((values(results, dataset, noise, m, metric).mean() for m in bench.methods
                                  if len(values(results, dataset, noise, m, metric))), default=None)
            for noise, metric in product(bench.noise, bench.metrics)}
    rows = []
    for method in bench.methods:
        cells = []
        for noise, metric in product(bench.noise, bench.metrics):
            these = values(results, dataset, noise, method, metric)
            if not len(these):
                cells.append("–")
                continue
            cell = mean_std(these.tolist())
            cell = f"**{cell}**" if these.mean() == best[noise, metric] else cell
            base = values(results, dataset, noise, bench.backbone, metric)
            if method != bench.backbone and beyond_spread(these, base):
                cell += " ▲" if these.mean() > base.mean() else " ▼"
            spread = split_spread(results, dataset, noise, method, metric)
            cell += f" [splits {spread:.4f}]" if spread is not None else ""
            cells.append(cell + (f" (n={len(these)})" if len(these) < len(bench.seeds) * len(bench.split_seeds) else ""))
        rows.append([method, *cells])
    return markdown_table(["method", *header], rows)


def spread_reading(results: pd.DataFrame, bench: BenchConfig, dataset: str) -> list[str]:
    """Per noise setting: the best method and whether it leads beyond the spread, and which methods
    differ from the backbone beyond the spread (on ``bench.spread_metric``)."""
    metric, lines = bench.spread_metric, []
    for noise in bench.noise:
        stats = {m: values(results, dataset, noise, m, metric) for m in bench.methods}
        stats = {m: v for m, v in stats.items() if len(v)}
        if not stats:
            continue
        ranked = sorted(stats, key=lambda m: -stats[m].mean())
        text = f"- **{noise_label(noise)}**: best {ranked[0]} ({mean_std(stats[ranked[0]].tolist())})"
        if len(ranked) > 1:
            runner = ranked[1]
            text += (f", {'ahead of' if beyond_spread(stats[ranked[0]], stats[runner]) else 'within the spread of'}"
                     f" {runner} ({mean_std(stats[runner].tolist())})")
        base = stats.get(bench.backbone)
        if base is not None:
            others = [m for m in ranked if m != bench.backbone]
            beyond = [m for m in others if beyond_spread(stats[m], base)]
            listed = {sign: ", ".join(f"{m} ({stats[m].mean() - base.mean():+.4f})" for m in beyond
                                      if sign * (stats[m].mean() - base.mean()) > 0) or "none" for sign in (1, -1)}
            within = [m for m in others if m not in beyond]
            text += (f". Above {bench.backbone} beyond the spread: {listed[1]}. Below it: {listed[-1]}. "
                     f"Within it: {', '.join(within) or 'none'}.")
        lines.append(text)
    return lines


def denoising_table(results: pd.DataFrame) -> list[str]:
    rows = []
    measures = (
        ("denoise/dropped_share_injected", "denoise/dropped_share_clean", "share of batches the edge was dropped from"),
        ("denoise/mean_weight_injected", "denoise/mean_weight_clean", "mean loss weight"),
    )
    for (dataset, method, noise), group in results.groupby(["dataset", "method", "noise"], sort=False):
        where = [dataset, method, noise_label(noise)]
        for injected, clean, text in measures:
            if injected in group and group[injected].notna().any():
                rows.append([*where, text, f"{group[injected].mean():.3f}", f"{group[clean].mean():.3f}"])
        if "denoise/injected_candidates" in group and group["denoise/injected_candidates"].notna().any():
            row = group.dropna(subset=["denoise/injected_candidates"]).iloc[0]
            rows.append([
                *where, "judge removals among its candidates",
                (f"{row['denoise/injected_removed']:.0f} of {row['denoise/injected_candidates']:.0f} "
                f"({row['denoise/injected_in_train']:.0f} injected in train)"),
                f"{row['denoise/clean_removed']:.0f} of {row['denoise/clean_candidates']:.0f}"])
    return markdown_table(["dataset", "method", "noise", "what it measures", "on injected edges", "on clean edges"],
                          rows)


def efficiency_table(results: pd.DataFrame, work: dict) -> list[str]:
    rows = []
    for (dataset, method), group in results.dropna(subset=["run_id"]).groupby(["dataset", "method"], sort=False):
        calls = tokens = 0
        for split_id in group.split_id.dropna().unique():
            for kind in LLM_METHODS.get(method, ()):
                calls += work[split_id][kind]["calls"]
                tokens += work[split_id][kind]["tokens"]
        per_epoch = group.seconds_per_epoch.mean() if "seconds_per_epoch" in group else float("nan")
        rows.append([dataset, method, f"{per_epoch:.2f}", f"{group.best_epoch.mean():.0f}",
                     f"{group.total_seconds.mean():.0f}", calls, tokens])
    return markdown_table(["dataset", "method", "s / epoch", "best epoch", "total s / run", "LM calls", "LM tokens"],
                          rows)


LLM_MARKERS = ("s", "D", "^", "v", "P", "X")


def plot_robustness(results: pd.DataFrame, bench: BenchConfig, path: Path) -> None:
    """One panel per (dataset, metric): the metric against the noise ratio, a line per method and noise
    kind (random solid with filled markers, realistic dashed with hollow ones), each starting from the
    clean split; the LLM methods in their own markers and thicker lines; one legend below the panels. A
    method with a single stored setting shows as a lone point; a method with none is named under the title."""
    import matplotlib.lines as mlines

    from evals.harness.plots import legend_below, panel_grid, save, title

    parsed = {noise: parse_noise(noise) for noise in bench.noise}
    kinds = sorted({kind for kind, ratio in parsed.values() if ratio > 0})
    drawn = [m for m in bench.methods
             if any(len(values(results, d, n, m, x)) for d in bench.datasets for n in bench.noise for x in bench.metrics)]
    llm = [m for m in drawn if m in LLM_METHODS]
    styles = {}
    for k, method in enumerate(m for m in drawn if m not in LLM_METHODS):
        styles[method] = {"color": f"C{k % 10}", "marker": "o", "lw": 1.2, "ms": 4.5}
    for k, method in enumerate(llm):
        styles[method] = {"color": f"C{(len(styles) + k) % 10}", "marker": LLM_MARKERS[k % len(LLM_MARKERS)],
                          "lw": 2.0, "ms": 6.5}
    dodge = {method: (k - (len(drawn) - 1) / 2) * 0.25 for k, method in enumerate(drawn)}  # points apart
    fig, axes = panel_grid(len(bench.datasets) * len(bench.metrics), len(bench.metrics), width=5.4, height=3.8,
                           legend_rows=2 + len(drawn) // 5)
    for ax, (dataset, metric) in zip(axes, product(bench.datasets, bench.metrics)):
        for method, kind in product(drawn, kinds):
            points = [(ratio, values(results, dataset, noise, method, metric))
                      for noise, (k, ratio) in parsed.items() if ratio == 0 or k == kind]
            points = sorted((ratio, v.mean(), v.std() if len(v) > 1 else 0.0) for ratio, v in points if len(v))
            if not points or (kind != kinds[0] and all(ratio == 0 for ratio, *_ in points)):
                continue  # the clean point is drawn once, with the first kind
            style = styles[method]
            xs, ys, errors = zip(*points)
            ax.errorbar([x * 100 + dodge[method] for x in xs], ys, yerr=errors, capsize=2.5, color=style["color"],
                        marker=style["marker"], ms=style["ms"], lw=style["lw"],
                        linestyle="-" if kind == "random" else "--",
                        mfc=style["color"] if kind == "random" else "white", mew=1.3,
                        markevery=[k for k, x in enumerate(xs) if x > 0 or kind == kinds[0]])  # clean: filled once
        ax.set_title(f"{dataset}: test {metric}", fontsize=9.5)
        ax.set_xlabel("injected noise (% of training edges)", fontsize=8.5)
        ax.set_ylabel(f"test {metric}", fontsize=8.5)
        ax.set_xticks(sorted({ratio * 100 for _, ratio in parsed.values()}))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    extra = [(mlines.Line2D([], [], color=styles[m]["color"], marker=styles[m]["marker"], lw=styles[m]["lw"],
                            ms=styles[m]["ms"]), m + (" (LLM)" if m in LLM_METHODS else "")) for m in drawn]
    extra += [(mlines.Line2D([], [], color="black", marker="o", ms=4.5, ls="-" if kind == "random" else "--",
                             mfc="black" if kind == "random" else "white"),
               f"{kind} noise ({'solid, filled' if kind == 'random' else 'dashed, hollow'})") for kind in kinds]
    legend_below(fig, axes, columns=6, extra=extra)
    absent = [m for m in bench.methods if m not in drawn]
    title(fig, f"Robustness to injected noise (mean ± std over split seeds {bench.split_seeds} x training seeds "
          f"{bench.seeds}; a lone point: the method's only stored setting)" + (f". Not stored, not drawn: {', '.join(absent)}" if absent else ""))
    save(fig, path)


def results_from_ledger(ledger: Path) -> pd.DataFrame:
    """The ledger's runs as :func:`read_results` rows (dataset, noise, method, seed and test metrics),
    read straight from the record: no store and no config hashes, so a run still counts when the
    method's code (and so its config hash) changed since it was recorded. The latest run of a cell wins."""
    rows = []
    for record in read_ledger(ledger):
        if record["kind"] != "run" or record["run"].get("status") != "finished":
            continue
        run, config = record["run"], json.loads(record["run"]["config"])
        ratio = float(config["noise_ratio"])
        rows.append({"dataset": config["dataset"], "noise": "random:0" if ratio == 0 else
                     f"{config['noise_kind']}:{ratio:g}", "method": run["model"], "seed": config["train_seed"],
                     "split_seed": config.get("seed", 2026),
                     "run_id": run["run_id"], "finished_at": run["finished_at"]}
                    | {f"{split}/{name}": value for _, split, name, value in record["metrics"] if split == "test"})
    frame = pd.DataFrame(rows)
    if not len(frame):
        return frame
    frame = frame.sort_values("finished_at").drop_duplicates(["dataset", "noise", "method", "split_seed", "seed"],
                                                             keep="last")
    frame["noise"] = frame.noise.map(lambda n: "random:0" if parse_noise(n)[1] == 0 else n)
    return frame


def write_report(bench: BenchConfig, results: pd.DataFrame, work: dict, command: str) -> Path:
    plot = bench.out.with_suffix(".png")
    plot_robustness(results, bench, plot)
    missing = results[results.run_id.isna()]
    missing_text = ""
    if len(missing):
        groups = missing.groupby(["dataset", "method"], sort=False).noise.unique()
        missing_text = (f" **{len(missing)} cells are missing** (not run yet): "
                        + "; ".join(f"{dataset} {method} at {', '.join(noise_label(n) for n in noises)}"
                                    for (dataset, method), noises in groups.items())
                        + ". The command trains them and reads every finished cell back from the store.")
    lines = [
        f"# Benchmark: {', '.join(bench.datasets)}, {bench.backbone} backbone",
        "",
        f"Command: `{command}`. Each cell is `python -m recsys.train` runs on the same splits per dataset and "
        "noise setting, validated on Recall@20 every epoch with patience 20; test metrics at the best validation "
        f"epoch, mean ± std over all runs (split seeds {bench.split_seeds} x training seeds {bench.seeds}); in "
        "brackets the std of the per-split means, the split-to-split part of the spread. Bold: the best mean of a "
        f"column. ▲ / ▼: above / below {bench.backbone} on the same splits by more than the sum of the two stds."
        + settings_note(bench) + missing_text,
        "",
    ]
    for dataset in bench.datasets:
        note = text_source_note(results[results.dataset == dataset])
        lines += [f"## {dataset}", "", *metric_table(results, bench, dataset), "", *([note, ""] if note else []),
                  f"Which {bench.spread_metric} differences exceed the seed spread:", "",
                  *spread_reading(results, bench, dataset), ""]
    lines += [
        f"![noise robustness]({plot.name})",
        "",
        "## What the denoisers did to injected and clean edges",
        "",
        *denoising_table(results),
        "",
        "## Efficiency",
        "",
        ("Seconds on this machine's 2-core CPU; runs that shared it with another job (an LM stage, the tests) "
         "took up to about twice as long, so compare seconds within a factor of two. LM calls and tokens are the "
         "stored LM work each method reads, summed over the noise settings: it is made once per split and reused "
         "by every seed, and work that methods share (the user profiles) counts for each of them. "
         + "; ".join(f"{method}: {', '.join(kinds)}" for method, kinds in LLM_METHODS.items()) + "."),
        "",
        *efficiency_table(results, work),
        "",
    ]
    if bench.notes is not None:
        lines += [bench.notes.read_text().rstrip(), ""]
    bench.out.write_text("\n".join(lines))
    return bench.out


def main(bench: BenchConfig) -> int:
    console = Console(stderr=True)
    if bench.plot_only:
        plot = bench.out.with_suffix(".png")
        plot_robustness(results_from_ledger(ledger_path(bench.out)), bench, plot)
        console.print(f"wrote {plot}")
        return 0
    unknown = sorted(set(bench.methods) - set(MODELS))
    if unknown:
        console.print(f"[red]error:[/] unknown methods {unknown}; choose from {', '.join(MODELS)}")
        return 2
    store, ledger = Store(bench.store), ledger_path(bench.out)
    if bench.ledger:
        read_into(store, ledger, console)
    cells = run_matrix(bench, console)
    results = read_results(store, cells)
    work = lm_work(store, [s for s in results.split_id.dropna().unique()])
    if bench.ledger:
        work = with_recorded_work(work, ledger)
        export_cells(store, ledger, cells.run_id, [
            {"kind": "lm_work", "key": [split_id], "work": kinds} for split_id, kinds in work.items()
            if has_lm_work(kinds)])
    # --no-run only reports: the command that reproduces the report (and trains what is missing) omits it
    command = "python -m evals.bench " + " ".join(arg for arg in sys.argv[1:] if arg != "--no-run")
    path = write_report(bench, results, work, command)
    console.print(f"wrote {path} and {path.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    run_cli(BenchConfig)
