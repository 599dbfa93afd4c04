"""The report tables' helpers."""

import pandas as pd

from evals.harness.tables import text_source_note


def test_the_text_source_note_gives_each_methods_llm_profile_shares():
    frame = pd.DataFrame({"method": ["llmhni", "llmhni", "lightgcn"],
                          "text/user_llm_profile_share": [0.05, 0.03, None],
                          "text/item_llm_profile_share": [0.01, 0.01, None]})
    note = text_source_note(frame)
    assert "llmhni: 4% of users, 1% of items" in note and "lightgcn" not in note
    assert text_source_note(frame[frame.method == "lightgcn"]) is None
    assert text_source_note(pd.DataFrame({"method": ["dns"]})) is None
