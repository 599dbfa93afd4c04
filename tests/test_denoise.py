"""Decisions from verdicts and from the oracle, the augmented graph G', the confusion, and pruning."""

import pytest
import torch

from recsys.candidates import CandidateConfig, ScoreSnapshots, select_candidates, write_candidates
from recsys.denoise import (
    augmented_graph,
    confusion_metrics,
    hard_noise_confusion,
    llm_decisions,
    oracle_decisions,
)
from recsys.split import DataConfig, load_split, make_split

LM, PROMPT = "test-lm", "prompt-1"


@pytest.fixture
def judged(store, ratings_csv):
    """A noisy split, candidates from random embeddings, and verdicts: the user view says High for
    even items, the item view says High for items divisible by 3."""
    split_id = make_split(store, DataConfig(dataset=str(ratings_csv), noise_ratio=0.2))
    data = load_split(store, split_id)
    generator = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(data.num_users, 8, generator=generator), torch.randn(data.num_items, 8, generator=generator)
    config = CandidateConfig(low_positives=3, high_negatives=2)
    rows = select_candidates(data, user_emb, item_emb, config)
    write_candidates(store, "cands", split_id, "run0", config, rows)
    judged_pairs = [(u, i) for u, i, kind, _, _ in rows if kind != "top_positive"]
    with store.transaction() as con:
        for k, (u, i) in enumerate(judged_pairs):
            if k == 0:
                continue  # one pair without verdicts: it must leave G unchanged
            for view, label in (("user", "High" if i % 2 == 0 else "Low"), ("item", "High" if i % 3 == 0 else "Mid")):
                con.execute("INSERT INTO verdicts (candidate_set, user_idx, item_idx, view, lm, prompt_hash, status,"
                            " label, attempts, judge_run_id) VALUES ('cands', ?, ?, ?, ?, ?, 'ok', ?, 1, 'j')",
                            [u, i, view, LM, PROMPT, label])
    return data, rows, judged_pairs


def both_high(user_label, item_label):
    return user_label == "High" and item_label == "High"


def test_llm_decisions_follow_the_rule_and_skip_pairs_without_verdicts(store, judged):
    data, rows, judged_pairs = judged
    decisions = llm_decisions(store, "cands", LM, PROMPT, both_high)
    assert len(decisions) == len(judged_pairs) - 1
    first = judged_pairs[0]
    assert not ((decisions.user_idx == first[0]) & (decisions.item_idx == first[1])).any()
    for row in decisions.itertuples():
        assert row.decision == ("hard" if row.item_idx % 6 == 0 else "noise")
    assert llm_decisions(store, "cands", "another-lm", PROMPT, both_high).empty


def test_augmented_graph_has_exactly_the_expected_edges(store, judged):
    data, _, _ = judged
    decisions = llm_decisions(store, "cands", LM, PROMPT, both_high)
    edges, counts = augmented_graph(data, decisions)
    removed = {(r.user_idx, r.item_idx) for r in decisions.itertuples()
               if r.kind == "low_score_positive" and r.decision == "noise"}
    added = {(r.user_idx, r.item_idx) for r in decisions.itertuples()
             if r.kind == "high_score_negative" and r.decision == "hard"}
    expected = (set(map(tuple, data.train.T.tolist())) - removed) | added
    assert set(map(tuple, edges.T.tolist())) == expected
    assert edges.size(1) == len(expected)  # no duplicates
    assert counts == {"edges_removed": len(removed), "edges_added": len(added), "edges_in_g_prime": len(expected)}
    assert removed and added  # the fixture exercises both edits


def test_oracle_removes_exactly_the_injected_candidates_and_adds_nothing(store, judged):
    data, rows, _ = judged
    decisions = oracle_decisions(store, "cands")
    noise = {tuple(e) for e, flag in zip(data.train.T.tolist(), data.train_is_noise.tolist()) if flag}
    low = [(u, i) for u, i, kind, _, _ in rows if kind == "low_score_positive"]
    edges, counts = augmented_graph(data, decisions)
    assert counts["edges_removed"] == sum(pair in noise for pair in low) > 0
    assert counts["edges_added"] == 0
    assert not noise & set(pair for pair in low) & set(map(tuple, edges.T.tolist()))


def test_confusion_counts_against_the_ground_truth(store, judged):
    data, rows, judged_pairs = judged
    decisions = oracle_decisions(store, "cands")
    confusion = hard_noise_confusion(store, data.split_id, "cands", decisions)
    metrics = confusion_metrics(confusion)
    assert metrics["injected_in_train"] == int(data.train_is_noise.sum())
    assert metrics["injected_removed"] == metrics["injected_candidates"]  # the oracle is perfect on positives
    assert metrics["clean_removed"] == 0 and metrics["negatives_added"] == 0
    assert confusion.candidates.sum() == len(judged_pairs)
    assert list(confusion.pair)[0].startswith("positive")

    llm = hard_noise_confusion(store, data.split_id, "cands", llm_decisions(store, "cands", LM, PROMPT, both_high))
    assert confusion_metrics(llm)["pairs_without_verdict"] == 1
    assert (llm.judged + llm.no_verdict == llm.candidates).all()
    assert (llm.edited + llm.unchanged == llm.judged).all()


def test_variance_pruning_keeps_the_pairs_whose_scores_moved_most(store, ratings_csv):
    data = load_split(store, make_split(store, DataConfig(dataset=str(ratings_csv))))
    generator = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(data.num_users, 4, generator=generator), torch.randn(data.num_items, 4, generator=generator)
    snapshots = ScoreSnapshots(window=3)
    wobble = torch.zeros(data.num_items, 4)
    wobble[::2] = 1.0  # even items' scores swing across epochs, odd ones stay put
    for sign in (1.0, -1.0, 1.0):
        snapshots.embeddings.append((user_emb, item_emb + sign * wobble))
    config = CandidateConfig(low_positives=1, high_negatives=1, prune_by_variance=True, prune_pool_factor=4)
    rows = select_candidates(data, user_emb, item_emb, config, snapshots)
    plain = select_candidates(data, user_emb, item_emb, config.model_copy(update={"prune_by_variance": False}))
    pruned_negatives = [i for _, i, kind, _, _ in rows if kind == "high_score_negative"]
    plain_negatives = [i for _, i, kind, _, _ in plain if kind == "high_score_negative"]
    assert len(pruned_negatives) == len(plain_negatives)
    assert sum(i % 2 == 0 for i in pruned_negatives) > sum(i % 2 == 0 for i in plain_negatives)
    with pytest.raises(ValueError, match="snapshots"):
        select_candidates(data, user_emb, item_emb, config)
