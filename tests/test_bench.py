"""The benchmark matrix: every cell a recorded run, resumed from the store, reported with a plot."""

from __future__ import annotations

import pandas as pd
import pytest

from evals.bench import BenchConfig, beyond_spread, cell_config, main, settings_note
from evals.harness.cells import noise_label, option_values, parse_noise
from evals.harness.ledger import read_ledger
from evals.oneoff.bench_scale import ScaleConfig
from evals.oneoff.bench_scale import main as scale_main
from tests.conftest import query


def test_bench_runs_each_cell_once_and_reports(ratings_csv, tmp_path):
    bench = BenchConfig(datasets=[str(ratings_csv)], methods=["lightgcn", "tce", "rce"],
                        noise=["random:0", "realistic:0.2"], split_seeds=[2026, 7],
                        seeds=[0], set=["epochs=2", "tce_num_gradual=2"], store=tmp_path / "s.duckdb",
                        out=tmp_path / "bench.md")
    assert main(bench) == 0
    runs = query(bench.store, "SELECT model, count(*) FROM runs WHERE status = 'finished' GROUP BY model ORDER BY model")
    assert runs == [("lightgcn", 4), ("rce", 4), ("tce", 4)]
    report = bench.out.read_text()
    assert "| tce |" in report and "share of batches the edge was dropped from" in report
    assert "mean loss weight" in report and (tmp_path / "bench.png").stat().st_size > 0
    assert "Which recall@20 differences exceed the seed spread" in report and "- **clean 0%**: best " in report
    assert "[splits " in report and "split seeds [2026, 7]" in report  # the split-to-split part, apart

    assert main(bench) == 0  # a re-run reads every cell back instead of training it again
    assert query(bench.store, "SELECT count(*) FROM runs")[0][0] == 12

    # the committed cell record regenerates the report on a fresh checkout, whose store is gone
    ledger = tmp_path / "bench.cells.jsonl"
    assert len(ledger.read_text().splitlines()) == 12
    fresh = bench.model_copy(update={"store": tmp_path / "fresh.duckdb", "out": tmp_path / "again.md", "run": False})
    (tmp_path / "again.cells.jsonl").write_text(ledger.read_text())
    assert main(fresh) == 0
    assert query(fresh.store, "SELECT count(*) FROM runs")[0][0] == 12
    assert fresh.out.read_text() == report.replace("bench.png", "again.png")  # the same report, no cell missing


def test_a_broken_ledger_line_is_a_clear_error(tmp_path):
    ledger = tmp_path / "bench.cells.jsonl"
    ledger.write_text('{"kind": "run"\n')
    with pytest.raises(ValueError, match=r"bench.cells.jsonl:1: not a JSON record"):
        read_ledger(ledger)


def test_a_difference_counts_only_beyond_the_sum_of_the_seed_stds():
    a, b = pd.Series([0.30, 0.31, 0.32]), pd.Series([0.27, 0.28, 0.29])  # std 0.01 each, 0.03 apart
    assert beyond_spread(a, b) and beyond_spread(b, a)
    assert not beyond_spread(a, b + 0.015)  # 0.015 apart: within 0.02
    assert not beyond_spread(a, pd.Series([0.1]))  # one seed has no spread to compare with


def test_noise_settings_are_kind_colon_ratio():
    assert parse_noise("random:0.4") == ("random", 0.4) and noise_label("realistic:0") == "clean 0%"
    for bad in ("rand:0.2", "random", "random:1", "random:x"):
        with pytest.raises(ValueError, match="write kind:ratio"):
            parse_noise(bad)


def test_unknown_methods_are_an_error(tmp_path):
    bench = BenchConfig(methods=["nope"], store=tmp_path / "s.duckdb", out=tmp_path / "b.md")
    assert main(bench) == 2


def test_scale_projects_a_run_from_the_reference_epochs(ratings_csv, tmp_path):
    reference = BenchConfig(datasets=[str(ratings_csv)], methods=["lightgcn", "dns"], noise=["realistic:0.1"], seeds=[0],
                            split_seeds=[2026], set=["epochs=3"], store=tmp_path / "ref.duckdb", out=tmp_path / "bench.md")
    assert main(reference) == 0
    dataset_id = query(reference.store, "SELECT dataset_id FROM splits")[0][0]
    scale = ScaleConfig(dataset=str(ratings_csv), methods=["bpr", "dns"], epochs=1, store=tmp_path / "scale.duckdb",
                        reference_store=reference.store, reference_dataset=dataset_id, report=tmp_path / "scale.md")
    scale_main(scale)
    rows = {line.split("|")[1].strip(): line.split("|") for line in scale.report.read_text().splitlines()
            if line.startswith(("| bpr ", "| dns "))}
    assert set(rows) == {"bpr", "dns"}
    for cells in rows.values():  # the reference ran its 3 epochs: projected = 3 x (s/epoch + s/eval) + data stage
        epoch_s, eval_s, ref_epochs, projected = float(cells[2]), float(cells[3]), cells[6].strip(), float(cells[8])
        assert ref_epochs == "3" and abs(projected - 3 * (epoch_s + eval_s)) < 1.5
    assert "The 2 methods, one seed each" in scale.report.read_text()


def test_markdown_table_writes_the_reports_table_lines():
    from evals.harness.tables import markdown_table, mean_std

    assert markdown_table(["method", "test recall@20"], [["lightgcn", mean_std([0.25, 0.35])], ["dns", 3]]) == [
        "| method | test recall@20 |", "|---|---|", "| lightgcn | 0.3000 ± 0.0707 |", "| dns | 3 |"]
    assert markdown_table(["model", "noise", "s"], [], "lrr") == ["| model | noise | s |", "|---|---:|---:|"]
    assert markdown_table(["a", "b"], [["x", ""]])[-1] == "| x |  |"  # an empty cell keeps both spaces
    with pytest.raises(ValueError, match="2 column rules for 3 columns"):
        markdown_table(["a", "b", "c"], [], "lr")


def test_cells_start_from_the_tuned_settings_file_below_set(tmp_path):
    folder = tmp_path / "configs" / "ml-100k"
    folder.mkdir(parents=True)
    (folder / "tce.toml").write_text('method = "tce"\ntce_max_drop_rate = 0.05\ntce_ramp_epochs = 40\n'
                                     '[tuning]\nvalid_recall_at_20 = "0.3"\n')
    bench = BenchConfig(datasets=["ml-100k"], methods=["tce", "lightgcn"], configs_dir=tmp_path / "configs",
                        set=["tce_ramp_epochs=10"], store=tmp_path / "s.duckdb")
    config = cell_config(bench, "ml-100k", "tce", "random:0.2", seed=0)
    assert config.config == folder / "tce.toml"
    assert (config.for_method().tce_max_drop_rate, config.for_method().tce_ramp_epochs) == (0.05, 10)
    assert cell_config(bench, "ml-100k", "lightgcn", "random:0.2", seed=0).config is None
    assert "ml-100k: tce" in settings_note(bench)
    untuned = bench.model_copy(update={"settings_files": False})
    assert cell_config(untuned, "ml-100k", "tce", "random:0.2", seed=0).config is None
    assert "code's defaults" in settings_note(untuned)


def test_options_are_key_equals_value():
    assert option_values(["epochs=40", "judge_users=None", "lr=1e-3"]) == {
        "epochs": "40", "judge_users": None, "lr": "1e-3"}
    with pytest.raises(ValueError, match="key=value"):
        option_values(["epochs"])
