"""The labeled hard/noise set, the judge's eval metrics, calibration, and the prompt optimizer."""

from __future__ import annotations

import json
import math
import shutil

import dspy
import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from judge import evaluation as judge_eval
from judge import optimize as judge_optimize
from judge.calibration import hard_probability, label_probabilities, tune_threshold
from judge.evaluation import classification_scores, judge_decisions
from judge.labels import LabelSetConfig, apply_audits, build_label_set, judge_examples
from judge.optimize import CallBudget, LMBudgetExhausted, OptimizeConfig, call_budget, hard_noise_metric, optimize
from judge.prompts import init_prompts, load_program
from recsys.data.datasets import DataValidationError
from recsys.store import Store
from tests.conftest import query


def label_config(ratings_csv, **overrides) -> LabelSetConfig:
    return LabelSetConfig(dataset=str(ratings_csv), label_users=24, **overrides)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from tests.conftest import synthetic_ratings

    folder = tmp_path_factory.mktemp("labels")
    ratings = folder / "ratings.csv"
    synthetic_ratings().to_csv(ratings, index=False)
    stores = []
    for name in ("a", "b"):
        store = Store(folder / f"{name}.duckdb")
        stores.append((store, build_label_set(store, label_config(ratings), progress=False)))
    return ratings, stores


def labeled_rows(store, label_set):
    return query(store.path, "SELECT user_idx, item_idx, kind, origin, part, label FROM labeled_pairs "
                             "WHERE label_set = ? ORDER BY ALL", [label_set])


def test_label_set_never_uses_validation_or_test_edges(built):
    _, [(store, labels), _] = built
    assert labels.created and labeled_rows(store, labels.label_set)
    leaked = query(store.path, "SELECT count(*) FROM labeled_pairs l JOIN interactions i ON i.split_id = ? "
                               "AND i.user_idx = l.user_idx AND i.item_idx = l.item_idx "
                               "WHERE l.label_set = ? AND i.split IN ('valid', 'test')",
                   [labels.split_id, labels.label_set])[0][0]
    assert leaked == 0
    # Reserved positives are outside every split the recommender sees.
    reserved = query(store.path, "SELECT count(*) FROM reserved_pairs r JOIN interactions i USING (split_id, "
                                 "user_idx, item_idx) WHERE r.split_id = ?", [labels.split_id])[0][0]
    assert reserved == 0
    assert query(store.path, "SELECT count(*) FROM reserved_pairs WHERE split_id = ?", [labels.split_id])[0][0] > 0


def test_labels_follow_the_ratings(built):
    _, [(store, labels), _] = built
    rows = query(store.path, "SELECT l.label, r.rating, l.origin, l.kind FROM labeled_pairs l "
                             "JOIN label_sets s USING (label_set) JOIN splits USING (split_id) "
                             "JOIN ratings r ON r.dataset_id = splits.dataset_id AND r.user_idx = l.user_idx "
                             "AND r.item_idx = l.item_idx WHERE l.label_set = ?", [labels.label_set])
    assert {label for label, *_ in rows} == {"hard", "noise"}
    for label, rating, origin, kind in rows:
        assert (rating >= 4) if label == "hard" else (rating <= 2)
        assert (origin in ("train_clean", "train_injected")) == (kind == "low_score_positive")
    assert {origin for *_, origin, _ in rows} >= {"train_clean", "train_injected", "reserved", "rated_low"}


def test_randomly_injected_positives_are_noise_without_a_rating(built, tmp_path):
    ratings, _ = built
    store = Store(tmp_path / "random.duckdb")
    labels = build_label_set(store, label_config(ratings, noise_kind="random", noise_ratio=0.3), progress=False)
    rows = query(store.path, "SELECT l.origin, l.rating, l.label FROM labeled_pairs l WHERE l.label_set = ? "
                             "AND l.kind = 'low_score_positive'", [labels.label_set])
    injected = [row for row in rows if row[0] == "train_injected"]
    assert injected and all(rating is None and label == "noise" for _, rating, label in injected)
    assert all(label == "hard" for origin, _, label in rows if origin == "train_clean")
    assert labels.label_set.endswith("|unrated_injected=noise")


def test_build_is_deterministic_and_splits_by_user(built):
    _, [(store_a, a), (store_b, b)] = built
    assert a.label_set == b.label_set
    assert labeled_rows(store_a, a.label_set) == labeled_rows(store_b, b.label_set)
    parts_per_user = query(store_a.path, "SELECT user_idx, count(DISTINCT part) FROM labeled_pairs "
                                         "WHERE label_set = ? GROUP BY user_idx", [a.label_set])
    assert all(count == 1 for _, count in parts_per_user)
    assert {part for *_, part, _ in labeled_rows(store_a, a.label_set)} == {"train", "dev", "test"}
    again = build_label_set(store_a, label_config(built[0]), progress=False)
    assert not again.created and labeled_rows(store_a, a.label_set) == labeled_rows(store_a, again.label_set)


def test_audits_override_rating_labels_and_skip_other_splits(built, tmp_path):
    _, [(store, labels), _] = built
    user, item, kind, _, _, label = labeled_rows(store, labels.label_set)[0]
    flipped = "noise" if label == "hard" else "hard"
    base = {"candidate_set": "cs", "kind": kind, "labeler": "ana", "note": "checked",
            "labeled_at": "2026-11-20T10:00:00", "judge_decision": "hard", "audit": "hallucinated", "source": "audit"}
    lines = [base | {"split_id": labels.split_id, "user_idx": user, "item_idx": item, "label": flipped},
             base | {"split_id": "another split", "user_idx": user, "item_idx": item, "label": flipped}]
    path = tmp_path / "audits.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines))
    assert apply_audits(store, labels.label_set, labels.split_id, path, label_config(built[0])) == (1, 1)
    row = query(store.path, "SELECT label, source, labeler, note FROM labeled_pairs WHERE label_set = ? "
                            "AND user_idx = ? AND item_idx = ?", [labels.label_set, user, item])[0]
    assert row == (flipped, "audit", "ana", "checked")
    path.write_text('{"split_id": "x"}\n')
    with pytest.raises(DataValidationError, match="audits.jsonl:1"):
        apply_audits(store, labels.label_set, labels.split_id, path, label_config(built[0]))


def test_classification_scores_on_a_known_confusion():
    scores = classification_scores([True, True, False, False], [True, False, False, False])
    assert scores["accuracy"] == 0.75 and scores["balanced_accuracy"] == 0.75
    assert math.isclose(scores["kappa"], 0.5)
    assert math.isclose(scores["macro_f1"], (2 / 3 + 0.8) / 2)
    assert scores["confusion"] == {"hard_as_hard": 1, "hard_as_noise": 1, "noise_as_hard": 0, "noise_as_noise": 2}
    assert classification_scores([True, False], [True, True])["kappa"] == 0.0


def test_failed_views_leave_the_pair_alone():
    frame = pd.DataFrame({
        "kind": ["low_score_positive", "high_score_negative", "low_score_positive", "high_score_negative"],
        "user_status": ["ok", "ok", "failed", None], "item_status": ["ok", "ok", "ok", "ok"],
        "user_label": ["Low", "High", None, None], "item_label": ["High", "High", "Low", "High"]})
    assert judge_decisions(frame, "both_high").tolist() == [False, True, True, False]
    assert judge_decisions(frame, "either_high").tolist() == [True, True, True, False]


def test_each_pair_kind_is_scored_apart_with_abstentions_and_the_trivial_judges():
    from judge.evaluation import kind_section
    from judge.quality import scores_by_kind

    rows = []
    for user in range(6):  # per user: two low-scored positives (one noise), one high negative (hard); one failure
        rows += [
            {"user_idx": user, "kind": "low_score_positive", "label": "hard", "user_label": "High", "item_label": "High"},
            {"user_idx": user, "kind": "low_score_positive", "label": "noise", "user_label": "Low", "item_label": "Low"},
            {"user_idx": user, "kind": "high_score_negative", "label": "hard", "user_label": "High", "item_label": "Mid"},
        ]
    frame = pd.DataFrame(rows).assign(user_status="ok", item_status="ok")
    frame.loc[0, "user_status"] = "failed"
    by_kind = scores_by_kind(frame, "both_high")
    low, high = by_kind["low_score_positive"], by_kind["high_score_negative"]
    assert (low["pairs"], low["abstentions"], low["judge"]["n_pairs"]) == (12, 1, 11)
    assert low["judge"]["balanced_accuracy"] == 1.0 and low["judge"]["balanced_accuracy_ci"] == (1.0, 1.0)
    assert low["base_rate_noise"] == pytest.approx(6 / 11)
    assert low["leave alone"]["balanced_accuracy"] == low["by kind"]["balanced_accuracy"] == 0.5
    assert high["base_rate_noise"] == 0.0 and high["judge"]["accuracy"] == 0.0  # says noise on every hard negative
    assert high["by kind"]["accuracy"] == 1.0 and high["leave alone"]["accuracy"] == 0.0
    text = "\n".join(kind_section(by_kind))
    assert "| low_score_positive | 12 | 1 | 0.545 | judge | 1.000 | 1.000 (1.000–1.000)" in text
    assert "backbone score" not in low  # no score column, no score judge

    # the LM-free score judges: AUC per kind on the scored pairs, with an interval over users
    scored = frame.assign(backbone_score=[1.0, 0.0, 0.5] * 6,  # separates hard from noise among low positives
                          minilm_similarity=[0.0, 1.0, 0.5] * 6)  # the wrong way round
    low = scores_by_kind(scored, "both_high")["low_score_positive"]
    assert low["backbone score"]["auc"] == 1.0 and low["MiniLM similarity"]["auc"] == 0.0
    assert low["backbone score"]["n_pairs"] == 11 and low["backbone score"]["auc_ci"] == (1.0, 1.0)
    text = "\n".join(kind_section(scores_by_kind(scored, "both_high")))
    assert "| backbone score | – | – | – | 1.000 (1.000–1.000) |" in text


def test_the_optimizer_metric_scores_the_combined_decision():
    example = dspy.Example(hard=True)
    assert hard_noise_metric(example, dspy.Prediction(hard=True)) is True
    assert hard_noise_metric(example, dspy.Prediction(hard=False)) is False


def test_label_probabilities_from_logprobs():
    def token(text, logprob=0.0, alternatives=()):
        return {"token": text, "logprob": logprob, "top_logprobs": [{"token": t, "logprob": lp} for t, lp in alternatives]}

    content = [token('{"verdict": {"label": "'), token("L", math.log(0.5), [("L", math.log(0.5)), ("High", math.log(0.3)),
                                                                            ("M", math.log(0.1)), ("The", math.log(0.1))]),
               token("ow"), token('", "rationale": "x"}}')]
    probs = label_probabilities({"content": content})
    assert probs == pytest.approx({"High": 0.3 / 0.9, "Mid": 0.1 / 0.9, "Low": 0.5 / 0.9})
    assert label_probabilities({"content": [token("no label here")]}) is None
    assert label_probabilities(None) is None
    assert hard_probability({"High": 0.5}, {"High": 0.4}) == pytest.approx(0.2)


def test_threshold_is_tuned_for_balanced_accuracy():
    threshold = tune_threshold([0.1, 0.2, 0.7, 0.9, 0.3], [False, False, True, True, False])
    assert 0.3 < threshold <= 0.7
    with pytest.raises(ValueError):
        tune_threshold([0.1, 0.2], [True, True])


def test_call_budget_refuses_past_its_limit_and_counts_copies():
    lm = dspy.utils.DummyLM([{"answer": "a"}] * 5)
    budget = CallBudget(2)
    with call_budget(lm, budget):
        copy = lm.copy()
        lm("one")
        copy("two")
        with pytest.raises(LMBudgetExhausted):
            lm("three")
    assert (budget.calls, budget.refused) == (2, 1)
    lm("after the budget is lifted")


# -- the optimizer end to end, with DummyLM -------------------------------------------------------

PROFILE = {"profile": {"summary": "Enjoys films.", "liked_genres": ["Drama"], "tastes": "Anything."}}
HIGH = {"verdict": {"label": "High", "rationale": "Fits the profile."}}


@pytest.fixture
def dummy_lm(monkeypatch):
    lm = dspy.utils.DummyLM({"## history ##": PROFILE, "## candidate_item ##": HIGH}, adapter=dspy.JSONAdapter())
    dspy.configure(lm=lm, adapter=dspy.JSONAdapter(), track_usage=True)
    monkeypatch.setattr(judge_eval, "start_lm", lambda config, context: None)
    monkeypatch.setattr(judge_optimize, "start_lm", lambda config, context: None)
    yield lm
    dspy.configure(lm=None)


@pytest.mark.parametrize("optimizer", ["LabeledFewShot", "BootstrapFewShot"])
def test_optimizer_end_to_end_round_trips_through_prompts(built, tmp_path, dummy_lm, optimizer):
    ratings, [(store, _), _] = built
    shutil.copyfile(store.path, tmp_path / "store.duckdb")  # the label set is reused, not pretrained again
    prompts = tmp_path / "prompts"
    init_prompts(prompts)
    config = OptimizeConfig(dataset=str(ratings), label_users=24, store=tmp_path / "store.duckdb", lm="dummy/judge",
                            prompts_dir=prompts, optimizer=optimizer, max_demos=2, train_size=8, max_lm_calls=40,
                            progress=False, promote=True, report_dir=tmp_path / "reports")
    result = optimize(config, Console(quiet=True))

    saved = result["out"]
    assert saved == prompts / f"dual_judge.{optimizer.lower()}.json" and saved.is_file()
    assert all(count == 2 for count in result["info"]["demos"].values())
    assert result["info"]["optimizer_lm_calls"] <= 40
    reloaded = load_program("dual_judge", path=saved)
    assert reloaded.prompt_hash == result["test"]["after"].program.prompt_hash
    assert [len(p.demos) for _, p in reloaded.program.named_predictors()] == [2, 2]
    # An always-High judge scores the same before and after, so it is "not worse" and promoted.
    assert result["not_worse_on_dev"] and result["promoted"]
    assert (prompts / "dual_judge.json").read_bytes() == saved.read_bytes()
    rows = query(config.store, "SELECT part, judge, prompt_hash FROM judge_evals WHERE judge LIKE 'llm:%'")
    assert {(part, hash_) for part, _, hash_ in rows} >= {
        ("dev", reloaded.prompt_hash), ("test", reloaded.prompt_hash),
        ("test", result["test"]["before"].program.prompt_hash)}
    baselines = {judge for (judge,) in query(config.store, "SELECT judge FROM judge_evals WHERE judge LIKE 'baseline:%'")}
    assert baselines == {"baseline:all-hard", "baseline:all-noise", "baseline:random", "baseline:embedding-similarity"}


def test_a_program_worse_on_dev_is_never_promoted(built, tmp_path, dummy_lm, monkeypatch):
    ratings, [(store, _), _] = built
    shutil.copyfile(store.path, tmp_path / "store.duckdb")
    prompts = tmp_path / "prompts"
    init_prompts(prompts)
    active = (prompts / "dual_judge.json").read_bytes()
    config = OptimizeConfig(dataset=str(ratings), label_users=24, store=tmp_path / "store.duckdb", lm="dummy/judge",
                            prompts_dir=prompts, optimizer="LabeledFewShot", max_demos=1, progress=False,
                            promote=True, calibrate=False)
    real = judge_eval.judge_scores
    calls = []

    def worse_after_on_dev(frame, rule):  # calls: dev before, dev after, test before, test after
        calls.append(1)
        scores = real(frame, rule)
        return scores | {"balanced_accuracy": scores["balanced_accuracy"] - 0.1} if len(calls) == 2 else scores

    monkeypatch.setattr(judge_eval, "judge_scores", worse_after_on_dev)
    result = optimize(config, Console(quiet=True))
    assert not result["not_worse_on_dev"] and not result["promoted"]
    assert (prompts / "dual_judge.json").read_bytes() == active


def test_judge_examples_carry_gold_and_demo_fields(built):
    _, [(store, labels), _] = built
    users = {user for user, *_ in labeled_rows(store, labels.label_set)}
    examples = judge_examples(store, labels.label_set, ("train",), {user: "A profile." for user in users})
    assert examples and all(set(e.inputs().keys()) == {"user_profile", "user_top_items", "candidate_item"}
                            for e in examples)
    assert all(e.verdict.label == ("High" if e.hard else "Low") for e in examples)
    assert {e.part for e in examples} == {"train"}
    assert np.mean([bool(e.user_top_items) for e in examples]) == 1.0


def test_gepa_runs_within_its_budget(built, tmp_path, monkeypatch):
    ratings, [(store, _), _] = built
    shutil.copyfile(store.path, tmp_path / "store.duckdb")
    reflection = {"new_instruction": "```Say High only when the item matches the profile's genres.```"}
    lm = dspy.utils.DummyLM({"## history ##": PROFILE, "## candidate_item ##": HIGH, "instruction": reflection},
                            adapter=dspy.JSONAdapter())
    dspy.configure(lm=lm, adapter=dspy.JSONAdapter(), track_usage=True)
    monkeypatch.setattr(judge_eval, "start_lm", lambda config, context: None)
    monkeypatch.setattr(judge_optimize, "start_lm", lambda config, context: None)
    prompts = tmp_path / "prompts"
    init_prompts(prompts)
    config = OptimizeConfig(dataset=str(ratings), label_users=24, store=tmp_path / "store.duckdb", lm="dummy/judge",
                            prompts_dir=prompts, optimizer="GEPA", train_size=8, valset_size=4, max_lm_calls=60,
                            progress=False, calibrate=False)
    try:
        result = optimize(config, Console(quiet=True))
    finally:
        dspy.configure(lm=None)
    assert 0 < result["info"]["optimizer_lm_calls"] <= 60
    assert load_program("dual_judge", path=result["out"]).prompt_hash == result["test"]["after"].program.prompt_hash
