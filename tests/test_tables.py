"""The report tables' helpers."""

import pandas as pd

from evals.harness.tables import text_source_note


def test_the_text_source_note_gives_each_methods_llm_profile_shares():
    frame = pd.DataFrame({"method": ["llmhni", "llmhni", "lightgcn"],
                          "text/user_llm_profile_share": [0.05, 0.03, None],
                          "text/item_llm_profile_share": [0.01, 0.01, None]})
    note = text_source_note(frame)
    assert "llmhni: 4.0% of users, 1.0% of items" in note and "lightgcn" not in note
    assert text_source_note(frame[frame.method == "lightgcn"]) is None
    assert text_source_note(pd.DataFrame({"method": ["dns"]})) is None


def test_the_report_reads_the_text_shares_a_run_stored(tmp_path):
    from evals.harness.cells import read_results
    from recsys.store import Store

    store = Store(tmp_path / "store.duckdb")
    with store.connect() as con:
        con.execute("INSERT INTO runs (run_id, split_id, model, config, config_hash, code_version, status) "
                    "VALUES ('r1', 's', 'llmhni', '{}', 'h', 'v', 'finished')")
        con.executemany("INSERT INTO metrics (run_id, epoch, split, name, value) VALUES ('r1', 0, ?, ?, ?)",
                        [("test", "recall@20", 0.3), ("text", "user_llm_profile_share", 0.02),
                         ("text", "item_llm_profile_share", 0.004), ("valid", "recall@20", 0.31)])
    results = read_results(store, pd.DataFrame({"method": ["llmhni"], "run_id": ["r1"]}))
    assert "valid/recall@20" not in results  # the reports read test metrics only
    assert "llmhni: 2.0% of users, 0.4% of items" in text_source_note(results)
