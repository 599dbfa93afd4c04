"""`python -m recsys.train` end to end on a tiny subset: every stage, reuse, ablations, the oracle."""

import json
import os

import pytest

from recsys.train import TrainConfig, main, run_with_report
from tests.conftest import query, synthetic_ratings
from tests.fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def ratings(tmp_path):
    path = tmp_path / "ratings.csv"
    synthetic_ratings(num_users=30, num_items=50).to_csv(path, index=False)
    return path


def config(tmp_path, ratings, fake, **overrides) -> TrainConfig:
    os.environ.setdefault("FAKE_API_KEY", "sk-fake")
    base = dict(
        dataset=str(ratings), store=tmp_path / "store.duckdb", progress=False, store_flush_seconds=0.01,
        noise_ratio=0.1, epochs=4, patience=10, batch_size=256, align_epochs=3,
        lm="openai/fake", api_base=fake.api_base, json_schema=True, api_key_env="FAKE_API_KEY", backoff_s=0.01,
        encoder="openai/fake-embed", encoder_api_base=fake.api_base, encoder_api_key_env="FAKE_API_KEY",
        max_users=6, max_items=5, pool_size=10, hard_keep=3, semantic_neighbours=3,
    )
    return TrainConfig(**(base | overrides))


def test_full_pipeline_runs_every_stage_then_reuses_the_store(tmp_path, ratings, fake):
    cfg = config(tmp_path, ratings, fake)
    requests_before = fake.requests
    run_id, result, report = run_with_report(cfg)
    assert list(report.stage_seconds) == ["data", "profiles", "embeddings", "alignment", "pretrain + candidates",
                                          "verdicts", "graph edit", "train"]
    assert result.epochs_run == 4 and all(0 <= v <= 1 for v in result.test.values())
    llm_calls = fake.requests - requests_before
    # 6 user profiles + 5 item profiles + 6 users x (2 low + 1 high) pairs x 2 views (+ embedding requests)
    assert llm_calls >= 6 + 5 + 36
    assert query(cfg.store, "SELECT count(*) FROM profiles WHERE status = 'ok'") == [(11,)]
    assert query(cfg.store, "SELECT count(*) FROM verdicts WHERE status = 'ok'") == [(36,)]
    status, timings = query(cfg.store, "SELECT status, timings FROM runs WHERE run_id = ?", [run_id])[0]
    assert status == "finished"
    timings = json.loads(timings)
    assert {"stage_profiles_seconds", "stage_verdicts_seconds", "sampling_share_of_epoch"} <= set(timings)
    stored = dict(query(cfg.store, "SELECT name, value FROM metrics WHERE run_id = ? AND split = 'denoise'", [run_id]))
    denoise = report.metrics["denoise"]
    assert stored["edges_removed"] == denoise["edges_removed"] and stored["injected_in_train"] > 0
    assert denoise["edges_in_g_prime"] == denoise["edges_removed"] * -1 + denoise["edges_added"] + \
        int(query(cfg.store, "SELECT count(*) FROM interactions WHERE split = 'train'")[0][0])
    assert "valid_auc_aligned" in report.metrics["alignment"]

    # A re-run reuses profiles, embeddings, candidates and verdicts: no LM call, no second pretraining.
    requests_before = fake.requests
    _, again, _ = run_with_report(cfg)
    assert fake.requests == requests_before
    assert again.test == result.test  # same seed, same inputs
    assert query(cfg.store, "SELECT count(*) FROM runs WHERE model = 'lightgcn'") == [(1,)]


@pytest.mark.parametrize("overrides,stages", [
    ({"semantic_negatives": False}, {"profiles", "verdicts", "graph edit"}),
    ({"align": False}, {"alignment"}),
    ({"denoise": False}, {"embeddings"}),
    ({"hallucination_loss": False, "judge": "oracle"}, {"graph edit"}),
])
def test_ablations_switch_modules_off(tmp_path, ratings, fake, overrides, stages):
    cfg = config(tmp_path, ratings, fake, **overrides)
    run_id, result, report = run_with_report(cfg)
    assert stages <= set(report.stage_seconds)
    if not cfg.denoise:
        assert "verdicts" not in report.stage_seconds and "pretrain + candidates" not in report.stage_seconds
    if not cfg.semantic_negatives:
        assert "embeddings" not in report.stage_seconds and "sampling_share_of_epoch" in result.timings
    if cfg.judge == "oracle":
        assert "verdicts" not in report.stage_seconds
        assert report.metrics["denoise"]["edges_added"] == 0
        assert report.metrics["denoise"]["injected_removed"] == report.metrics["denoise"]["injected_candidates"]
    saved = json.loads(query(cfg.store, "SELECT config FROM runs WHERE run_id = ?", [run_id])[0][0])
    assert all(saved[key] == value for key, value in overrides.items())


def test_an_exhausted_lm_budget_stops_with_a_clear_error(tmp_path, ratings, fake, capsys):
    assert main(config(tmp_path, ratings, fake, max_calls=3)) == 2
    assert "budget" in capsys.readouterr().err
    assert query(tmp_path / "store.duckdb", "SELECT count(*) FROM runs WHERE model = 'llmhni'") == [(0,)]


@pytest.mark.slow
def test_default_models_end_to_end_on_one_user(tmp_path, ratings):
    """The embedded SmolLM2 judge and MiniLM encoder, for a handful of real calls."""
    cfg = TrainConfig(dataset=str(ratings), store=tmp_path / "store.duckdb", progress=False, epochs=2,
                      batch_size=256, align_epochs=2, max_users=1, max_items=1, low_positives=1, high_negatives=1,
                      pool_size=10, hard_keep=3, semantic_neighbours=3)
    run_id, result, report = run_with_report(cfg)
    assert query(cfg.store, "SELECT status, count(*) FROM verdicts GROUP BY status") == [("ok", 4)]
    assert query(cfg.store, "SELECT kind, count(*) FROM profiles WHERE status = 'ok' GROUP BY kind ORDER BY kind") \
        == [("item", 1), ("user", 1)]
    assert "all-MiniLM-L6-v2" in report.notes["embeddings"]


def test_llmhd_scores_pruned_positives_updates_preferences_and_resumes(tmp_path, ratings, fake):
    cfg = config(tmp_path, ratings, fake, model="llmhd", llmhd_rounds=1)
    run_id, result, report = run_with_report(cfg)
    assert list(report.stage_seconds) == ["data", "profiles", "pretrain + candidates", "llmhd scoring",
                                          "graph edit", "train"]
    assert result.epochs_run == 4 and all(0 <= v <= 1 for v in result.test.values())
    # user profiles only, and a variance-pruned candidate set of positives (no negatives to score)
    assert query(cfg.store, "SELECT kind, count(*) FROM profiles GROUP BY kind") == [("user", 6)]
    candidate_set, params = query(cfg.store, "SELECT candidate_set, params FROM candidate_sets")[0]
    assert "|variance=" in candidate_set and json.loads(params)["high_negatives"] == 0
    assert query(cfg.store, "SELECT count(*) FROM method_outputs WHERE task = 'llmhd_score' AND round = 0") == [(12,)]
    updates = query(cfg.store, "SELECT count(*) FROM method_outputs WHERE task = 'llmhd_update'")[0][0]
    rescored = query(cfg.store, "SELECT count(DISTINCT user_idx) FROM method_outputs "
                                "WHERE task = 'llmhd_score' AND round = 1")[0][0]
    assert 0 < updates == rescored <= 6
    denoise = report.metrics["denoise"]
    assert denoise["edges_removed"] + denoise["edges_protected"] == 12
    stored = dict(query(cfg.store, "SELECT name, value FROM metrics WHERE run_id = ? AND split = 'denoise'", [run_id]))
    assert stored["edges_removed"] == denoise["edges_removed"]

    requests_before = fake.requests
    _, again, _ = run_with_report(cfg)
    assert fake.requests == requests_before and again.test == result.test


def test_hnlmrec_maps_generated_negatives_to_unobserved_items(tmp_path, ratings, fake):
    cfg = config(tmp_path, ratings, fake, model="hnlmrec", hnlmrec_negatives=4, hnlmrec_share=0.5)
    run_id, result, report = run_with_report(cfg)
    assert list(report.stage_seconds) == ["data", "generated negatives", "negative mapping", "train"]
    assert query(cfg.store, "SELECT count(*), min(text) FROM method_outputs WHERE task = 'hnlmrec_negative'") == \
        [(6, "A loud comedy. Genres: Comedy. Slapstick.")]
    negatives = report.metrics["negatives"]
    assert negatives["users_with_negatives"] == 6 and negatives["mapped_negatives"] == 24
    assert query(cfg.store, "SELECT status FROM runs WHERE run_id = ?", [run_id]) == [("finished",)]
    assert result.epochs_run == 4
