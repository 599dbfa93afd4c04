"""Does a pre-split folder train exactly like the split it came from? `python -m evals.oneoff.presplit_check`.

The toolkit cuts ml-100k 3:1:1; :func:`recsys.data.presplit.write_matrix_layout` writes that split in the
RLMRec/SSLRec layout (binary ``trn_mat.pkl``/``val_mat.pkl``/``tst_mat.pkl`` plus ``items.csv``);
``--dataset DIR`` reads it back as a given split in a separate store. LightGCN is trained on both
with the same training seeds. Used as given, the folder must give the same counts and the same test
metrics. The report goes to evals/reports/presplit.md.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.tables import markdown_table
from pipeline.train import TrainConfig, run
from recsys.cli import run_cli
from recsys.data.presplit import write_matrix_layout
from recsys.data.split import make_split, split_summary
from recsys.store import Store

COUNTS = ("n_users_kept", "n_train_clean", "n_valid", "n_test")
METRICS = ("recall@20", "ndcg@20")


class PresplitCheckConfig(BaseSettings):
    """Train LightGCN on a toolkit split and on the same split read back from the RLMRec layout."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.presplit_check", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    dataset: str = Field("ml-100k", description="Dataset whose toolkit split is exported.")
    train_seeds: list[int] = Field([0, 1, 2], description="Training seeds, the same on both sides.")
    folder: Path = Field(Path("data/ml-100k-rlmrec"), description="Where the RLMRec layout is written.")
    store_dir: Path = Field(Path("store/presplit"), description="Folder of the two stores (toolkit, folder).")
    report: Path = Field(Path("evals/reports/presplit.md"), description="Markdown report to write.")

    def cli_cmd(self) -> None:
        main(self)


def main(config: PresplitCheckConfig) -> None:
    console = Console(stderr=True)
    config.store_dir.mkdir(parents=True, exist_ok=True)
    cut, given = config.store_dir / "toolkit.duckdb", config.store_dir / "folder.duckdb"
    source = TrainConfig(dataset=config.dataset, noise_ratio=0.0, model="lightgcn", store=cut, progress=False)
    split_id = make_split(Store(cut), source.data_config())
    files = write_matrix_layout(Store(cut), split_id, config.folder)
    console.print(f"wrote {config.folder}: {files}")
    folder_config = source.model_copy(update={"dataset": str(config.folder), "store": given})
    folder_split = make_split(Store(given), folder_config.data_config())
    counts = {"toolkit split": split_summary(Store(cut), split_id),
              "RLMRec folder": split_summary(Store(given), folder_split)}
    results: dict[str, list[dict]] = {name: [] for name in counts}
    for seed in config.train_seeds:
        for name, train_config in (("toolkit split", source), ("RLMRec folder", folder_config)):
            run_id, result = run(train_config.model_copy(update={"train_seed": seed}), console)
            results[name].append(result.test)
            console.print(f"{name} seed {seed}: run {run_id} test recall@20 {result.test['recall@20']:.4f}")
    lines = [
        "# A pre-split folder trains like the split it came from",
        "",
        (f"Command: `python -m evals.oneoff.presplit_check` (LightGCN, {config.dataset} at 0% noise, training seeds "
        f"{', '.join(map(str, config.train_seeds))}). The toolkit's 3:1:1 split `{split_id}` was written in the "
        f"RLMRec/SSLRec layout ({', '.join(f'{k} {v}' for k, v in files.items())} edges, plus items.csv) and read "
        f"back with `--dataset {config.folder}` as the given split `{folder_split}`."),
        "",
    ]
    rows = []
    for name, summary in counts.items():
        cells = [str(summary[c]) for c in COUNTS]
        cells += [" / ".join(f"{test[m]:.4f}" for test in results[name]) for m in METRICS]
        rows.append([name, *cells])
    lines += markdown_table(["source", *COUNTS, *(f"test {m} (per seed)" for m in METRICS)], rows,
                            "l" + "r" * (len(COUNTS) + len(METRICS)))
    same = all(a == b for a, b in zip(results["toolkit split"], results["RLMRec folder"]))
    lines += ["", f"Identical test metrics on every seed: **{'yes' if same else 'no'}**."]
    config.report.write_text("\n".join(lines) + "\n")
    console.print(f"wrote {config.report}")


if __name__ == "__main__":
    run_cli(PresplitCheckConfig)
