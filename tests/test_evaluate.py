import math

import pytest
import torch

from recsys.models.floors import PopularityRanking, RandomRanking
from recsys.training.evaluate import FullRankingEvaluator

# 3 users x 5 items. User 2 has no held-out items and is not evaluated.
SCORES = torch.tensor([
    [10.0, 9.0, 1.0, 8.0, 7.0],  # user 0: train item 0 is masked, ranking 1, 3, 4, 2
    [1.0, 10.0, 2.0, 3.0, 4.0],  # user 1: train item 1 is masked, ranking 4, 3, 2, 0
    [5.0, 4.0, 3.0, 2.0, 1.0],
])
TRAIN = torch.tensor([[0, 1], [0, 1]])
TRUTH = torch.tensor([[0, 0, 1], [1, 2, 0]])  # user 0: {1, 2}; user 1: {0}


def score(users):
    return SCORES[users]


def by_hand():
    """Recall = hits / |truth|; NDCG = DCG / ideal DCG with log2(rank + 1) discounts."""
    d = [1 / math.log2(r + 1) for r in range(1, 6)]
    u0 = {"recall@2": 1 / 2, "ndcg@2": d[0] / (d[0] + d[1]), "recall@4": 1.0, "ndcg@4": (d[0] + d[3]) / (d[0] + d[1])}
    u1 = {"recall@2": 0.0, "ndcg@2": 0.0, "recall@4": 1.0, "ndcg@4": d[3] / d[0]}
    return {key: (u0[key] + u1[key]) / 2 for key in u0}


@pytest.mark.parametrize("batch_size", [1, 2, 1024])
def test_metrics_match_hand_computation(batch_size):
    evaluator = FullRankingEvaluator(TRAIN, TRUTH, num_users=3, num_items=5, ks=(2, 4), batch_size=batch_size)
    result = evaluator(score)
    expected = by_hand()
    assert result.keys() == expected.keys()
    for key, value in expected.items():
        assert result[key] == pytest.approx(value, abs=1e-6), key


def test_training_items_are_masked():
    # Without the mask user 0's top item would be its training item 0, a miss; with it, item 1 is a hit.
    evaluator = FullRankingEvaluator(TRAIN, torch.tensor([[0], [1]]), num_users=3, num_items=5, ks=(1,))
    assert evaluator(score)["recall@1"] == 1.0
    unmasked = FullRankingEvaluator(torch.tensor([[2], [4]]), torch.tensor([[0], [1]]), 3, 5, ks=(1,))
    assert unmasked(score)["recall@1"] == 0.0


def test_popularity_and_random_floors():
    train = torch.tensor([[0, 1, 2, 0], [3, 3, 3, 1]])
    truth = torch.tensor([[1, 2], [1, 4]])
    popular = FullRankingEvaluator(train, truth, 3, 5, ks=(1,))(PopularityRanking(train, 5))
    # Users 1 and 2 have item 3 (degree 3) masked, so both get item 1 (degree 1): a hit for user 1 only.
    assert popular["recall@1"] == 0.5
    scores = RandomRanking(5, seed=0)(torch.arange(3))
    assert scores.shape == (3, 5)
    assert torch.equal(scores, RandomRanking(5, seed=0)(torch.arange(3)))  # seeded
