"""`python -m evals.judge_value` on tiny data: the grid's cells, resuming, the report, the curve's
break-even, real judges read from judge_evals, and the judge gate's measured accuracy."""

import pandas as pd
import pytest

from evals.harness.ledger import write_ledger
from evals.judge_value import (
    JudgeValueConfig,
    cell_config,
    crossing,
    judge_key,
    main,
    real_judges,
    with_recorded_judges,
)
from judge.quality import stored_judge_accuracy
from pipeline.lab import read_lab
from recsys.store import Store
from tests.conftest import query, synthetic_ratings


@pytest.fixture
def ratings(tmp_path):
    path = tmp_path / "ratings.csv"
    synthetic_ratings(num_users=30, num_items=50).to_csv(path, index=False)
    return path


def grid(tmp_path, ratings, **overrides) -> JudgeValueConfig:
    base = dict(datasets=[str(ratings)], noise=["random:0.2"], accuracies=[0.5, 1.0], seeds=[0], split_seeds=[2026],
                methods=["clean", "lightgcn", "lightgcn_edited"], share=1.0, store=tmp_path / "grid.duckdb",
                judges_store=tmp_path / "none.duckdb", out=tmp_path / "judge_value.md", lab=tmp_path / "lab.json",
                set=["epochs=3", "batch_size=256", "patience=5"])
    return JudgeValueConfig(**(base | overrides))


def test_cells_are_simulated_judges_at_full_reach_with_the_gate_open(tmp_path, ratings):
    config = cell_config(grid(tmp_path, ratings), str(ratings), "random:0.2", "llmhni", seed=1, accuracy=0.7)
    assert (config.model, config.judge, config.judge_accuracy, config.candidate_share) == ("llmhni", "simulated", 0.7, 1.0)
    assert config.candidate_budget is None and config.force_edit and config.training_seed == 1
    clean = cell_config(grid(tmp_path, ratings), str(ratings), "random:0.2", "clean", seed=0)
    assert clean.noise_ratio == 0 and clean.model == "lightgcn" and not clean.edit_graph
    with pytest.raises(ValueError, match="kind:ratio"):
        grid(tmp_path, ratings, noise=["random-0.2"])
    with pytest.raises(ValueError, match="unknown methods"):
        grid(tmp_path, ratings, methods=["bogus"])


def test_the_grid_trains_each_cell_once_and_writes_its_report(tmp_path, ratings):
    config = grid(tmp_path, ratings)
    assert main(config) == 0
    runs = query(config.store, "SELECT model, count(*) FROM runs WHERE status = 'finished' GROUP BY model ORDER BY model")
    # clean + noisy + 2 accuracies of BPR on G', plus the candidates' pretraining backbone
    assert runs == [("bpr_edited", 2), ("lightgcn", 3)]  # the edited cells are bpr_edited runs
    text = config.out.read_text()
    assert "## Reading" in text and "BPR on G' (LightGCN)" in text and "No LM judge evaluation" in text
    assert "cells are missing" not in text and config.out.with_suffix(".png").exists()
    assert main(config) == 0  # a second run reads every cell back
    assert query(config.store, "SELECT count(*) FROM runs")[0][0] == 5
    dataset_id = query(config.store, "SELECT DISTINCT dataset_id FROM splits")[0][0]
    entry, = read_lab(config.lab)  # the complete BPR-on-G' curve's break-even, for the gate
    assert entry["dataset_id"] == dataset_id and (entry["noise_kind"], entry["noise_ratio"]) == ("random", 0.2)
    assert "llmhni" not in entry and (entry["bpr_on_g_prime"] is None or 0.5 <= entry["bpr_on_g_prime"] <= 1.0)
    notes = tmp_path / "notes.md"
    notes.write_text("## Reading by hand\n\nkept across regenerations\n")
    reported = grid(tmp_path, ratings, accuracies=[0.5, 0.8, 1.0], run=False, notes=notes)
    assert main(reported) == 0 and "**1 cells are missing**" in reported.out.read_text()
    assert reported.out.read_text().endswith("kept across regenerations\n")


def test_the_control_cells_remove_the_share_their_judged_cell_removed(tmp_path, ratings):
    config = grid(tmp_path, ratings, methods=["lightgcn", "lightgcn_edited", "random_edits", "score_only"],
                  accuracies=[0.5, 1.0])
    assert main(config) == 0
    rows = query(config.store, "SELECT r.config ->> '$.judge', CAST(r.config ->> '$.judge_accuracy' AS DOUBLE), "
                               "CAST(r.config ->> '$.judge_remove_share' AS DOUBLE), m.value FROM runs r JOIN metrics m "
                               "USING (run_id) WHERE m.split = 'denoise' AND m.name = 'edges_removed'")
    judged = {accuracy: removed for judge, accuracy, _, removed in rows if judge == "simulated"}
    controls = {(judge, share): removed for judge, _, share, removed in rows if judge != "simulated"}
    assert len(judged) == 2 and len(controls) == 4  # both controls at both shares
    shares = sorted({share for _, share in controls})
    # the lowest-scored share removes exactly as many edges as the judge whose share it copies
    assert sorted(removed for (judge, _), removed in controls.items() if judge == "score") == sorted(judged.values())
    assert shares[0] < 0.5 < shares[1]  # a perfect judge removes only the injected share; p = 0.5 about half
    text = config.out.read_text()
    assert "random edits, same share (control)" in text and "break-even p vs random edits" in text
    assert "bpr_on_g_prime_vs_random" in read_lab(config.lab)[0]  # what the gate prefers


def test_break_even_is_where_the_curve_crosses_the_reference():
    points = pd.DataFrame({"accuracy": [0.5, 0.7, 0.9], "mean": [0.20, 0.26, 0.30]})
    assert crossing(points, 0.28) == pytest.approx(0.8)
    assert crossing(points, 0.1) == 0.5 and crossing(points, 0.4) is None


def labeled_set_with_verdicts(store: Store, ratings, perfect: bool) -> str:
    """A labeled set (the evals builder) whose test part both views judge: perfectly, or all High."""
    from judge.labels import LabelSetConfig, build_label_set

    built = build_label_set(store, LabelSetConfig(dataset=str(ratings), noise_ratio=0.1, label_users=20,
                                                  epochs=3, batch_size=256), progress=False)
    with store.transaction() as con:
        pairs = con.execute("SELECT user_idx, item_idx, label FROM labeled_pairs WHERE label_set = ?",
                            [built.label_set]).fetchall()
        for user, item, label in pairs:
            verdict = "High" if (label == "hard" or not perfect) else "Low"
            for view in ("user", "item"):
                con.execute("INSERT INTO verdicts (candidate_set, user_idx, item_idx, view, lm, prompt_hash, status, "
                            "label, attempts, judge_run_id) VALUES (?, ?, ?, ?, 'lm', 'p', 'ok', ?, 1, 'j')",
                            [built.label_set, user, item, view, verdict])
    return built.label_set


@pytest.mark.parametrize("perfect,accuracy", [(True, 1.0), (False, 0.5)])
def test_the_gate_reads_the_judges_balanced_accuracy_from_stored_verdicts(tmp_path, ratings, perfect, accuracy):
    store = Store(tmp_path / "store.duckdb")
    label_set = labeled_set_with_verdicts(store, ratings, perfect)
    dataset_id, = query(store.path, "SELECT dataset_id FROM splits LIMIT 1")[0]
    measured = stored_judge_accuracy(store, dataset_id, "lm", "p", "both_high")
    assert measured["label_set"] == label_set and measured["balanced_accuracy"] == pytest.approx(accuracy)
    assert stored_judge_accuracy(store, dataset_id, "other-lm", "p", "both_high") is None
    assert stored_judge_accuracy(store, "another-dataset", "lm", "p", "both_high") is None


def test_real_judges_come_from_stored_evaluations(tmp_path, ratings):
    store = Store(tmp_path / "store.duckdb")
    label_set = labeled_set_with_verdicts(store, ratings, perfect=True)
    dataset_id, = query(store.path, "SELECT dataset_id FROM splits LIMIT 1")[0]
    with store.transaction() as con:
        for judge, value in (("llm:dual_judge", 0.6), ("baseline:random", 0.5)):
            con.execute("INSERT INTO judge_evals (eval_id, label_set, part, judge, lm, prompt_hash, n_pairs, "
                        "balanced_accuracy) VALUES (?, ?, 'test', ?, 'lm', 'p', 10, ?)", [judge, label_set, judge, value])
    judges = real_judges(store.path, [dataset_id])
    assert judges.judge.tolist() == ["llm:dual_judge"] and judges.balanced_accuracy.tolist() == [0.6]
    assert real_judges(tmp_path / "missing.duckdb", [dataset_id]).empty

    # the report's cell record keeps a measured judge placed once the store that measured it is gone
    ledger = tmp_path / "judge_value.cells.jsonl"
    write_ledger(ledger, [{"kind": "judge", "key": judge_key(row), **row} for row in judges.to_dict("records")])
    carried = with_recorded_judges(real_judges(tmp_path / "missing.duckdb", [dataset_id]), ledger, [dataset_id])
    assert carried.judge.tolist() == ["llm:dual_judge"] and carried.balanced_accuracy.tolist() == [0.6]
    assert len(with_recorded_judges(judges, ledger, [dataset_id])) == 1  # the store's own row is not doubled


def test_the_gate_scores_the_edited_kind_counts_abstentions_apart_and_matches_the_noise(tmp_path, ratings):
    store = Store(tmp_path / "store.duckdb")
    label_set = labeled_set_with_verdicts(store, ratings, perfect=True)
    dataset_id, = query(store.path, "SELECT dataset_id FROM splits LIMIT 1")[0]
    with store.transaction() as con:  # one view of two low-scored positives fails
        failed = con.execute("SELECT user_idx, item_idx FROM labeled_pairs WHERE label_set = ? AND part = 'test' "
                             "AND kind = 'low_score_positive' ORDER BY user_idx, item_idx LIMIT 2", [label_set]).fetchall()
        for user, item in failed:
            con.execute("UPDATE verdicts SET status = 'failed', label = NULL WHERE candidate_set = ? AND user_idx = ? "
                        "AND item_idx = ? AND view = 'user'", [label_set, user, item])
        kinds = dict(con.execute("SELECT kind, count(*) FROM labeled_pairs WHERE label_set = ? AND part = 'test' "
                                 "GROUP BY kind", [label_set]).fetchall())
    measured = stored_judge_accuracy(store, dataset_id, "lm", "p", "both_high")
    assert measured["kind"] == "low_score_positive" and measured["abstentions"] == 2
    assert measured["n_pairs"] == kinds["low_score_positive"] - 2
    assert measured["balanced_accuracy"] == pytest.approx(1.0) and measured["balanced_accuracy_ci"] == (1.0, 1.0)
    everything = stored_judge_accuracy(store, dataset_id, "lm", "p", "both_high", kind=None)
    assert everything["n_pairs"] == sum(kinds.values()) - 2
    assert stored_judge_accuracy(store, dataset_id, "lm", "p", "both_high", noise=("realistic", 0.1)) is not None
    assert stored_judge_accuracy(store, dataset_id, "lm", "p", "both_high", noise=("random", 0.4)) is None


def test_the_break_even_against_random_edits_is_where_the_judge_keeps_beating_them():
    from evals.judge_value import gain_over, paying_from

    judged = pd.DataFrame({"accuracy": [0.5, 0.7, 0.9, 1.0], "mean": [0.200, 0.205, 0.230, 0.240]})
    random = pd.DataFrame({"accuracy": [0.5, 0.7, 0.9, 1.0], "mean": [0.201, 0.215, 0.220, 0.222]})
    gain = gain_over(judged, random)
    assert gain["mean"].round(3).tolist() == [-0.001, -0.010, 0.010, 0.018]
    assert paying_from(gain) == pytest.approx(0.8)  # noise at 0.5 does not count as paying
    assert paying_from(gain.assign(mean=[0.001, 0.002, 0.003, 0.004])) == 0.5
    assert paying_from(gain.assign(mean=[0.001, 0.002, 0.003, -0.004])) is None


def test_the_gate_prefers_the_break_even_against_random_edits(tmp_path):
    from pipeline.lab import lab_break_even, write_lab

    path = tmp_path / "lab.json"
    write_lab([{"dataset_id": "d", "noise_kind": "random", "noise_ratio": 0.2, "llmhni": 0.5, "bpr_on_g_prime": 0.55}],
              path)
    assert lab_break_even("d", "random", 0.2, "llmhni", path)[0] == 0.5
    write_lab([{"dataset_id": "d", "noise_kind": "random", "noise_ratio": 0.2, "bpr_on_g_prime_vs_random": 0.83}],
              path)
    value, source = lab_break_even("d", "random", 0.2, "llmhni", path)
    assert value == 0.83 and "vs_random" in source
    write_lab([{"dataset_id": "d", "noise_kind": "random", "noise_ratio": 0.2, "llmhni_vs_random": 0.71}], path)
    value, source = lab_break_even("d", "random", 0.2, "llmhni", path)  # the full model's own control first
    assert value == 0.71 and "llmhni_vs_random" in source
    assert lab_break_even("d", "random", 0.2, "bpr_on_g_prime", path)[0] == 0.83


def test_the_full_model_is_read_against_its_own_random_edit_control(tmp_path, ratings):
    from evals.judge_value import lab_entries, setting_section

    config = grid(tmp_path, ratings, methods=["lightgcn", "llmhni", "llmhni_random_edits"], accuracies=[0.5, 0.75, 1.0])
    control = cell_config(config, str(ratings), "random:0.2", "llmhni_random_edits", seed=0, accuracy=1.0,
                          remove_share=0.3)
    assert (control.model, control.judge, control.judge_remove_share) == ("llmhni", "random", 0.3)
    column = "test/recall@20"
    rows = [{"method": "lightgcn", "accuracy": None, column: 0.10}]
    for accuracy, judged, random_edits in ((0.5, 0.100, 0.104), (0.75, 0.110, 0.106), (1.0, 0.120, 0.108)):
        rows += [{"method": "llmhni", "accuracy": accuracy, column: judged},
                 {"method": "llmhni_random_edits", "accuracy": accuracy, column: random_edits}]
    results = pd.DataFrame(rows).assign(dataset=str(ratings), noise="random:0.2")
    lines, headline = setting_section(results, config, str(ratings), "random:0.2", pd.DataFrame())
    assert headline["gain_over_llmhni_random_edits"] == pytest.approx(0.012)
    # it pays from the point where the judged curve stays above its control: between 0.5 (−0.004) and 0.75 (+0.004)
    assert headline["break_even_vs_llmhni_random_edits"] == pytest.approx(0.625)
    assert "LLMHNI on random edits, same share (control)" in "\n".join(lines)
    entry, = lab_entries(config, [headline], {str(ratings): "d"}, "cmd")
    assert entry["llmhni_vs_random"] == pytest.approx(0.625)
