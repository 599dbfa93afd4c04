"""Building blocks of the full model: InfoNCE, graph edit, dropout views, alignment, FAISS, sampler."""

import numpy as np
import torch

from recsys.denoising.semantic import (
    AlignmentConfig,
    SemanticIndex,
    cached_encode,
    pseudo_positive_pairs,
    ranking_auc,
    train_projector,
)
from recsys.models.graph import drop_edges, edit_graph
from recsys.training.losses import info_nce
from recsys.training.sampling import SemanticNegativeSampler


def test_info_nce_prefers_matching_rows_and_decreases_under_optimisation():
    torch.manual_seed(0)
    a = torch.randn(16, 8)
    assert info_nce(a, a, 0.1) < info_nce(a, torch.randn(16, 8), 0.1)
    b = torch.randn(16, 8, requires_grad=True)
    optimizer = torch.optim.Adam([b], lr=0.1)
    losses = []
    for _ in range(20):
        loss = info_nce(a, b, 0.2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all() and losses[-1] < losses[0]


def test_edit_graph_removes_noise_and_adds_hard_pairs_exactly():
    train = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 3]])
    remove = torch.tensor([[0, 2], [2, 3]])
    add = torch.tensor([[1, 1], [3, 0]])  # (1, 0) is already there: no duplicate
    edited = edit_graph(train, remove, add, num_items=4)
    assert edited.T.tolist() == [[0, 1], [1, 0], [1, 3]]


def test_drop_edges_keeps_about_one_minus_rate():
    edges = torch.stack([torch.arange(10_000), torch.arange(10_000)])
    kept = drop_edges(edges, 0.2, torch.Generator().manual_seed(0)).size(1)
    assert 7_700 < kept < 8_300


def test_pseudo_positives_are_each_users_most_similar_edges():
    user_vecs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    item_vecs = torch.tensor([[1.0, 0.0], [0.7, 0.7], [0.0, 1.0], [-1.0, 0.0]])
    train = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 1, 2, 3, 2, 3]])
    pairs = pseudo_positive_pairs(train, user_vecs, item_vecs, share=0.5)
    assert sorted(map(tuple, pairs.T.tolist())) == [(0, 0), (0, 1), (1, 2)]


def test_alignment_improves_held_out_ranking_on_a_planted_structure():
    torch.manual_seed(0)
    # Text vectors are a noisy, rotated view of a latent taste; held-out positives share the taste.
    latent_users, latent_items = torch.randn(60, 4), torch.randn(80, 4)
    mix = torch.randn(4, 16)
    user_vecs = latent_users @ mix + 2.0 * torch.randn(60, 16)
    item_vecs = latent_items @ mix + 2.0 * torch.randn(80, 16)
    affinity = latent_users @ latent_items.T
    top = affinity.topk(12, dim=1).indices
    train = torch.stack([torch.arange(60).repeat_interleave(8), top[:, :8].reshape(-1)])
    held_out = torch.stack([torch.arange(60).repeat_interleave(4), top[:, 8:].reshape(-1)])
    config = AlignmentConfig(align_epochs=60, align_batch_size=128, projector_hidden=32, projector_dim=8)
    projector, losses = train_projector(user_vecs, item_vecs, train, config, seed=0)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        aligned = ranking_auc(projector(user_vecs), projector(item_vecs), held_out)
    assert aligned > ranking_auc(user_vecs, item_vecs, held_out)


def test_faiss_index_returns_nearest_items_best_first():
    items = np.eye(4, dtype=np.float32)
    sims, ids = SemanticIndex(items).search(np.array([[0.9, 0.1, 0.0, 0.0]], dtype=np.float32), 2)
    assert ids[0].tolist() == [0, 1] and sims[0, 0] > sims[0, 1]
    assert SemanticIndex(items, exact_threshold=2).kind == "IndexHNSWFlat"


def test_semantic_sampler_avoids_positives_and_neighbours_and_prefers_low_relevance():
    num_users, num_items = 3, 12
    generator = torch.Generator().manual_seed(0)
    item_sem = torch.nn.functional.normalize(torch.randn(num_items, 4, generator=generator), dim=-1)
    user_sem = torch.nn.functional.normalize(torch.randn(num_users, 4, generator=generator), dim=-1)
    train = torch.tensor([[0, 0, 1, 2], [0, 1, 2, 3]])
    neighbours = torch.tensor(SemanticIndex(item_sem.numpy()).search(user_sem.numpy(), 2)[1])
    sampler = SemanticNegativeSampler(train, user_sem, item_sem, neighbours, pool_size=6, keep=2)
    user_emb, item_emb = torch.randn(num_users, 5, generator=generator), torch.randn(num_items, 5, generator=generator)
    sampler.refresh(user_emb, item_emb)
    users = torch.arange(num_users).repeat(100)
    negatives = sampler.sample(users, generator)
    positives = set(zip(train[0].tolist(), train[1].tolist()))
    for user, item in zip(users.tolist(), negatives.tolist()):
        assert (user, item) not in positives
        assert item not in neighbours[user].tolist()
    for user in range(num_users):
        # The chosen ones are the least relevant members of the pool of top-scored allowed items.
        scores = user_emb[user] @ item_emb.T
        allowed = [i for i in range(num_items)
                   if (user, i) not in positives and i not in neighbours[user].tolist()]
        pool = sorted(allowed, key=lambda i: -scores[i])[:6]
        expected = sorted(pool, key=lambda i: float(user_sem[user] @ item_sem[i]))[:2]
        assert sorted(sampler.hard[user].tolist()) == sorted(expected)


class _CountingEncoder:
    identity = "test-encoder"

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += len(texts)
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)


def test_cached_encode_pays_once_per_text(store):
    encoder = _CountingEncoder()
    first = cached_encode(store, encoder, ["a", "bb", "a"])
    again = cached_encode(store, encoder, ["bb", "ccc"])
    assert encoder.calls == 3  # "a", "bb", then only "ccc"
    assert first.tolist() == [[1, 1], [2, 1], [1, 1]] and again.tolist() == [[2, 1], [3, 1]]
