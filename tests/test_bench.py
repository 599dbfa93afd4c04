"""The benchmark matrix: every cell a recorded run, resumed from the store, reported with a plot."""

from __future__ import annotations

from evals.bench import BenchConfig, main
from tests.conftest import query


def test_bench_runs_each_cell_once_and_reports(ratings_csv, tmp_path):
    bench = BenchConfig(dataset=str(ratings_csv), methods=["lightgcn", "tce", "rce"], noise_ratios=[0.0, 0.2],
                        seeds=[0, 1], set=["epochs=2", "tce_num_gradual=2"], store=tmp_path / "s.duckdb",
                        out=tmp_path / "bench.md")
    assert main(bench) == 0
    runs = query(bench.store, "SELECT model, count(*) FROM runs WHERE status = 'finished' GROUP BY model ORDER BY model")
    assert runs == [("lightgcn", 4), ("rce", 4), ("tce", 4)]
    report = bench.out.read_text()
    assert "| tce |" in report and "share of batches the edge was dropped from" in report
    assert "mean loss weight" in report and (tmp_path / "bench.png").stat().st_size > 0

    assert main(bench) == 0  # a re-run reads every cell back instead of training it again
    assert query(bench.store, "SELECT count(*) FROM runs")[0][0] == 12

def test_unknown_methods_are_an_error(tmp_path):
    bench = BenchConfig(methods=["nope"], store=tmp_path / "s.duckdb", out=tmp_path / "b.md")
    assert main(bench) == 2
