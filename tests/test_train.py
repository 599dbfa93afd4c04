import math
import subprocess
import sys

import pytest

from pipeline.train import TrainConfig, main, run
from recsys.cli import run_cli


def _config(tmp_path, **overrides):
    defaults = dict(store=tmp_path / "store.duckdb", model="lightgcn", progress=False, epochs=4, patience=10,
                    store_flush_seconds=0.01)
    return TrainConfig(**(defaults | overrides))


def test_short_end_to_end_run_is_recorded(tmp_path, ratings_csv):
    config = _config(tmp_path, dataset=str(ratings_csv), epochs=8, batch_size=64, lr=0.01)
    run_id, result = run(config)
    assert result.epochs_run == 8 and 1 <= result.best_epoch <= 8
    assert all(0.0 <= value <= 1.0 for value in result.test.values())
    from recsys.store import Store

    with Store(config.store).connect() as con:
        status, best_epoch, config_hash = con.execute(
            "SELECT status, best_epoch, config_hash FROM runs WHERE run_id = ?", [run_id]).fetchone()
        losses = [row[0] for row in con.execute(
            "SELECT value FROM metrics WHERE run_id = ? AND split = 'train' AND name = 'loss' ORDER BY epoch",
            [run_id]).fetchall()]
        n_valid = con.execute(
            "SELECT count(DISTINCT epoch) FROM metrics WHERE run_id = ? AND split = 'valid'", [run_id]).fetchone()[0]
        test_rows = con.execute(
            "SELECT epoch, count(*) FROM metrics WHERE run_id = ? AND split = 'test' GROUP BY epoch",
            [run_id]).fetchall()
    assert status == "finished" and best_epoch == result.best_epoch
    assert len(losses) == 8 and all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0]  # BPR loss goes down
    assert n_valid == 8
    assert test_rows == [(result.best_epoch, 6)]  # recall and NDCG at 5, 10, 20


def test_config_hash_ignores_display_options_only(tmp_path):
    from pipeline.train import NON_RESULT_FIELDS
    from recsys.training.runs import config_hash

    base = config_hash(_config(tmp_path), NON_RESULT_FIELDS)
    assert config_hash(_config(tmp_path / "elsewhere", progress=True), NON_RESULT_FIELDS) == base
    assert config_hash(_config(tmp_path, seed=1), NON_RESULT_FIELDS) != base


def test_seeded_runs_reproduce(tmp_path, ratings_csv):
    first = run(_config(tmp_path, dataset=str(ratings_csv), epochs=3, batch_size=64))[1]
    second = run(_config(tmp_path, dataset=str(ratings_csv), epochs=3, batch_size=64))[1]
    assert first.test == second.test


@pytest.mark.slow
def test_lightgcn_on_ml100k_beats_random_after_a_few_epochs(tmp_path):
    trained = run(_config(tmp_path, epochs=3))[1]
    floor = run(_config(tmp_path, model="random"))[1]
    assert trained.test["recall@20"] > 3 * floor.test["recall@20"]


def test_ngcf_runs(tmp_path, ratings_csv):
    result = run(_config(tmp_path, dataset=str(ratings_csv), model="ngcf", epochs=2, batch_size=64))[1]
    assert all(math.isfinite(v) for v in result.test.values())


def test_bad_input_gives_a_one_line_error_and_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "ratings.csv"
    bad.write_text("user_id,item_id\n1,2\n")
    assert main(_config(tmp_path, dataset=str(bad))) == 2
    err = capsys.readouterr().err
    assert "lacks column(s) rating" in err


def test_cli_help_lists_the_methods_and_the_full_models_options():
    out = subprocess.run([sys.executable, "-m", "recsys.train", "--help"], capture_output=True, text=True,
                         check=True).stdout
    from pipeline.run import METHODS, method_settings

    for name in METHODS:
        assert f"  {name}: " in out, name
    for field in method_settings("llmhni").model_fields:
        assert "--" + field.replace("_", "-") in out, field
    assert "--dns-candidates int" not in out and "--sgl-weight float" not in out  # other methods' options


@pytest.mark.parametrize("name", ["dns", "tce", "sgl", "llmhd", "popularity", "bpr_edited"])
def test_each_methods_help_shows_its_own_options_only(name, capsys):
    from pipeline.run import METHODS, method_settings
    from pipeline.train import command_line

    with pytest.raises(SystemExit) as exit_info:
        run_cli(command_line(name), ["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert f"python -m recsys.train {name}" in out
    own = set(method_settings(name).model_fields)
    for field in own:
        assert "--" + field.replace("_", "-") + " " in out or "--" + field.replace("_", "-") + "," in out, field
    others = {f for m in METHODS for f in method_settings(m).model_fields} - own
    for field in others:
        assert "--" + field.replace("_", "-") + " " not in out, field


def test_older_model_flag_and_method_argument_pick_the_same_method():
    from pipeline.train import parse_args

    by_name, rest = parse_args(["dns", "--epochs", "2"])
    by_flag, rest_flag = parse_args(["--model", "dns", "--epochs", "2"])
    assert by_name.method_name == by_flag.method_name == "dns" and rest == rest_flag == ["--epochs", "2"]
    edited, rest = parse_args(["--model", "ngcf", "--edit-graph"])
    assert edited.method_name == "bpr_edited" and rest == ["--backbone", "ngcf"]
    assert parse_args([])[0].method_name == "llmhni"
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--model", "lightgnc"])
    assert exit_info.value.code == 2


def test_the_last_epoch_is_validated_when_eval_every_does_not_divide_epochs(tmp_path, ratings_csv):
    config = _config(tmp_path, dataset=str(ratings_csv), epochs=2, eval_every=3, batch_size=64, lr=0.01)
    run_id, result = run(config)
    assert result.best_epoch == 2  # not 0: the untrained model is never the one tested
    assert result.valid
    from recsys.store import Store

    with Store(config.store).connect() as con:
        epochs = [row[0] for row in con.execute(
            "SELECT DISTINCT epoch FROM metrics WHERE run_id = ? AND split = 'valid'", [run_id]).fetchall()]
    assert epochs == [2]


LM_FREE_RUNS = {
    "lightgcn": {}, "ngcf": {}, "dns": {}, "tce": {"tce_num_gradual": 2}, "rce": {}, "sgl": {}, "simgcl": {},
    "popularity": {}, "random": {},
    "bpr_edited": {"judge": "oracle", "candidate_share": 0.5},
    "llmhni": {"judge": "oracle", "semantic_negatives": False, "candidate_share": 0.5},
}


@pytest.mark.parametrize("name", sorted(LM_FREE_RUNS))
def test_every_lm_free_method_runs_from_its_own_command_line(name, tmp_path, ratings_csv):
    from pipeline.run import METHODS
    from pipeline.train import command_line

    config = command_line(name).model_validate({"store": tmp_path / "s.duckdb", "dataset": str(ratings_csv),
                                                 "epochs": 1, "batch_size": 64, "progress": False,
                                                 **LM_FREE_RUNS[name]})
    assert main(config) == 0
    from recsys.store import Store

    with Store(config.store).connect() as con:
        models = [row[0] for row in con.execute("SELECT model FROM runs WHERE status = 'finished'").fetchall()]
    assert name in models
    assert set(LM_FREE_RUNS) | {m for m, method in METHODS.items() if method.uses_lm} == set(METHODS)
