"""`python -m evals.llmhni_tuning` on tiny data: variants parse, each cell trains once, and the report
chooses on validation (the column is the best epoch's validation metric)."""

import pytest

from evals.llmhni_tuning import TuningConfig, best_valid, main, parse_variant
from recsys.store import Store
from tests.conftest import query, synthetic_ratings


def test_variants_are_a_name_and_plus_separated_options():
    assert parse_variant("no-cl:lambda_de=0+lambda_hal=0") == ("no-cl", ["lambda_de=0", "lambda_hal=0"], None)
    assert parse_variant("default:") == ("default", [], None)
    assert parse_variant("share@1:semantic_share=0") == ("share", ["semantic_share=0"], 1.0)
    with pytest.raises(ValueError, match="name:key=value"):
        parse_variant(":semantic_share=0")


def test_the_study_trains_each_cell_once_and_reports_validation(tmp_path):
    ratings = tmp_path / "ratings.csv"
    synthetic_ratings(num_users=30, num_items=50).to_csv(ratings, index=False)
    config = TuningConfig(dataset=str(ratings), accuracies=[1.0], seeds=[0], share=1.0, store=tmp_path / "t.duckdb",
                          out=tmp_path / "tuning.md", llm_set=[], set=["epochs=3", "batch_size=256", "patience=5"],
                          variants=["plain:semantic_negatives=false+lambda_de=0+lambda_hal=0",
                                    "cl:semantic_negatives=false+lambda_de=0.002+lambda_hal=0.002", "never@0.5:semantic_negatives=false"])
    assert main(config) == 0
    runs = query(config.store, "SELECT model, count(*) FROM runs WHERE status = 'finished' GROUP BY model ORDER BY model")
    assert runs == [("dns", 1), ("lightgcn", 1), ("llmhni", 2)]  # lightgcn: the candidates' pretraining backbone
    text = config.out.read_text()
    assert "| – | DNS (reference) |" in text and "| 1 | plain | `semantic_negatives=false lambda_de=0" in text
    run_ids = [row[0] for row in query(config.store, "SELECT run_id FROM runs WHERE model = 'llmhni'")]
    valid = best_valid(Store(config.store), run_ids, "recall@20")
    assert len(valid) == 2 and all(0 <= value <= 1 for value in valid.values())
    assert f"{min(valid.values()):.4f}" in text
    assert main(config) == 0 and query(config.store, "SELECT count(*) FROM runs")[0][0] == 4
