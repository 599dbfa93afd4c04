"""Decisions from verdicts, the oracle and simulated judges, the augmented graph G', the confusion,
pruning, and the candidates' reach (per user, a share of each user's positives, a global budget)."""

import math

import numpy as np
import pytest
import torch

from recsys.data.split import DataConfig, load_split, make_split
from recsys.denoising.candidates import (
    CandidateConfig,
    ScoreSnapshots,
    candidate_set_id,
    select_candidates,
    write_candidates,
)
from recsys.denoising.decisions import (
    augmented_graph,
    confusion_metrics,
    hard_noise_confusion,
    llm_decisions,
    oracle_decisions,
    pair_uniforms,
    simulated_decisions,
)

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


def test_a_simulated_judge_at_accuracy_one_is_the_oracle_and_at_zero_its_opposite(store, judged):
    oracle = oracle_decisions(store, "cands")
    perfect = simulated_decisions(store, "cands", 1.0, 1.0, seed=3)
    assert perfect.equals(oracle)
    wrong = simulated_decisions(store, "cands", 0.0, 0.0, seed=3)
    positive = wrong.kind == "low_score_positive"
    assert (wrong.decision[positive] != oracle.decision[positive]).all()
    assert (wrong.decision[~positive] == "noise").all()  # negatives are never added
    # per-class rates: catch every injected positive, keep no clean one
    strict = simulated_decisions(store, "cands", 1.0, 0.0, seed=3)
    assert (strict.decision[positive] == "noise").all()


def test_simulated_judges_are_seeded_coupled_and_hit_their_rates(store, judged):
    a = simulated_decisions(store, "cands", 0.7, 0.7, seed=1)
    assert a.equals(simulated_decisions(store, "cands", 0.7, 0.7, seed=1))
    assert not a.equals(simulated_decisions(store, "cands", 0.7, 0.7, seed=2))
    oracle = oracle_decisions(store, "cands")
    wrong = {p: set(map(tuple, simulated_decisions(store, "cands", p, p, 1)[lambda f: f.decision != oracle.decision]
                        [["user_idx", "item_idx"]].to_numpy().tolist())) for p in (0.6, 0.9)}
    assert wrong[0.9] <= wrong[0.6]  # a pair a better judge gets wrong, a worse one does too
    users, items = np.meshgrid(np.arange(300), np.arange(200))
    draws = pair_uniforms(users.ravel(), items.ravel(), seed=5)
    assert 0 <= draws.min() and draws.max() < 1 and abs((draws < 0.8).mean() - 0.8) < 0.01


@pytest.fixture
def split_and_scores(store, ratings_csv):
    data = load_split(store, make_split(store, DataConfig(dataset=str(ratings_csv), noise_ratio=0.2)))
    generator = torch.Generator().manual_seed(0)
    return data, torch.randn(data.num_users, 8, generator=generator), torch.randn(data.num_items, 8, generator=generator)


def kinds(rows, kind):
    return [(u, i) for u, i, k, _, _ in rows if k == kind]


def test_a_share_of_each_users_positives_reaches_every_user(split_and_scores):
    data, user_emb, item_emb = split_and_scores
    rows = select_candidates(data, user_emb, item_emb, CandidateConfig(candidate_share=0.25, high_negatives=1))
    low = kinds(rows, "low_score_positive")
    per_user = torch.bincount(data.train[0], minlength=data.num_users)
    users = torch.unique(data.train[0]).tolist()
    assert {u for u, _ in low} == set(users)
    assert len(low) == sum(math.ceil(0.25 * int(per_user[u])) for u in users)
    every = select_candidates(data, user_emb, item_emb, CandidateConfig(candidate_share=1.0))
    assert sorted(kinds(every, "low_score_positive")) == sorted(map(tuple, data.train.T.tolist()))
    # the share's lowest-scored positives are the per-user count's, where the counts agree
    two = select_candidates(data, user_emb, item_emb, CandidateConfig(low_positives=2, max_users=3))
    share = select_candidates(data, user_emb, item_emb, CandidateConfig(candidate_share=2 / int(per_user[0]), max_users=1))
    assert kinds(share, "low_score_positive") == [p for p in kinds(two, "low_score_positive") if p[0] == 0]


def test_a_global_budget_takes_the_most_suspicious_pairs_over_all_users(split_and_scores):
    data, user_emb, item_emb = split_and_scores
    config = CandidateConfig(candidate_budget=30, low_positives=2, high_negatives=1)
    rows = select_candidates(data, user_emb, item_emb, config)
    low, high = kinds(rows, "low_score_positive"), kinds(rows, "high_score_negative")
    assert len(low) == 20 and len(high) == 10 and len(set(low)) == 20
    scores = user_emb @ item_emb.T
    z = (scores - scores.mean(1, keepdim=True)) / scores.std(1, keepdim=True)
    train_z = sorted((float(z[u, i]), u, i) for u, i in data.train.T.tolist())
    assert set(low) == {(u, i) for _, u, i in train_z[:20]}
    assert len({u for u, _ in low}) > 2  # spread over users, not the first ones
    observed = set(map(tuple, data.train.T.tolist()))
    assert not observed & set(high)
    # only judged users get the item view's top positives
    assert {u for u, _ in kinds(rows, "top_positive")} == {u for u, _ in low + high}


def test_candidate_set_ids_of_earlier_configs_are_unchanged():
    old = "s|backbone=h|low=2|high=1|top=5|users=100"
    assert candidate_set_id("s", "h", CandidateConfig(low_positives=2, high_negatives=1, max_users=100)) == old
    assert candidate_set_id("s", "h", CandidateConfig(candidate_share=0.2)).endswith("|users=all|share=0.2")
    assert candidate_set_id("s", "h", CandidateConfig(candidate_budget=300)).endswith("|budget=300")
