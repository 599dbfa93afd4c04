import math
import subprocess
import sys

import pytest

from recsys.train import TrainConfig, main, run


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
    from recsys.runs import config_hash
    from recsys.train import NON_RESULT_FIELDS

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


def test_cli_help_documents_every_option():
    out = subprocess.run([sys.executable, "-m", "recsys.train", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for field in TrainConfig.model_fields:
        assert "--" + field.replace("_", "-") in out, field


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
