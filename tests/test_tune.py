"""Equal tuning (`python -m evals.tune`) and the reproduction report (`python -m evals.repro`)."""

import tomllib

import pandas as pd
import pytest

from evals.repro import ReproConfig, beyond_spread
from evals.repro import main as repro_main
from evals.tune import TuneConfig, draw_trials, read_spaces
from evals.tune import main as tune_main
from pipeline.config_files import read_config_file
from pipeline.registry import method_settings
from tests.conftest import query


def test_every_method_gets_the_same_trials_the_defaults_first_and_no_repeat():
    spaces = read_spaces(TuneConfig().spaces, ["lightgcn", "dns", "tce", "rce", "sgl", "simgcl", "rlmrec_con", "llmhni"])
    for method, space in spaces.items():
        trials = draw_trials(method, space, 4)
        assert len(trials) == 4 and trials[0] == {}  # the code's defaults first
        assert len({tuple(sorted(t.items())) for t in trials}) == 4  # distinct, none equal to the defaults
        assert trials == draw_trials(method, space, 4)  # the same draws on every run (a killed run resumes)
        defaults = method_settings(method)()
        assert all(any(getattr(defaults, k) != v for k, v in t.items()) for t in trials[1:])
    with pytest.raises(ValueError, match="no option"):
        draw_trials("dns", {"dns_candidate": [1, 2]}, 2)


def test_tuning_writes_a_loadable_settings_file_and_repro_reads_it(ratings_csv, tmp_path):
    tune = TuneConfig(dataset=str(ratings_csv), name="tiny", noise="random:0.2", methods=["lightgcn", "rce"], trials=2,
                      split_seeds=[2026, 7], seeds=[0], set=["epochs=2", "batch_size=256"],
                      configs_dir=tmp_path / "configs", store=tmp_path / "s.duckdb", out=tmp_path / "tuning.md")
    assert tune_main(tune) == 0
    assert query(tune.store, "SELECT count(*) FROM runs WHERE status = 'finished'")[0][0] == 2 * 2 * 2
    path = tmp_path / "configs" / "tiny" / "rce.toml"
    settings = tomllib.loads(path.read_text())
    assert settings["epochs"] == 2 and settings["dataset"] == str(ratings_csv) and "seed" not in settings
    assert "split seeds [2026, 7]" in settings["tuning"]["chosen_on"] and "2 trials" in settings["tuning"]["search"]
    read_config_file(path, method_settings("rce"), "rce")  # loads as any --config file
    assert "**chosen**" in tune.out.read_text() and "the test split is not read" in tune.out.read_text()

    repro = ReproConfig(dataset=str(ratings_csv), name="tiny", noise=["random:0"], denoisers_noise=[],
                        methods=["lightgcn", "rce"], seeds=[0, 1], configs_dir=tmp_path / "configs",
                        store=tmp_path / "s.duckdb", out=tmp_path / "repro.md")
    assert repro_main(repro) == 0
    text = repro.out.read_text()
    assert "| rce | clean 0% |" in text and "--config" in text and "tiny/rce.toml" in text


def test_beyond_the_spread_needs_a_gap_larger_than_either_std():
    assert beyond_spread(pd.Series([0.30, 0.31]), pd.Series([0.20, 0.21]))
    assert not beyond_spread(pd.Series([0.30, 0.20]), pd.Series([0.24, 0.25]))
    assert not beyond_spread(pd.Series([0.30]), pd.Series([0.20]))
