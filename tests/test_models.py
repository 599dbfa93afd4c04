import torch

from recsys.models.backbones import build_backbone
from recsys.models.graph import normalized_adjacency
from recsys.models.lightgcn import LightGCN
from recsys.models.ngcf import NGCF
from recsys.training.sampling import UniformNegativeSampler


def random_graph(num_users=7, num_items=11, num_edges=30, seed=0):
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randperm(num_users * num_items, generator=generator)[:num_edges]
    return torch.stack([keys // num_items, keys % num_items]), num_users, num_items


def dense_normalized(edges, num_users, num_items):
    n = num_users + num_items
    a = torch.zeros(n, n)
    a[edges[0], edges[1] + num_users] = 1
    a[edges[1] + num_users, edges[0]] = 1
    d = a.sum(1).pow(-0.5)
    d[torch.isinf(d)] = 0
    return d[:, None] * a * d[None, :]


def test_normalized_adjacency_matches_dense():
    edges, u, i = random_graph()
    adj = normalized_adjacency(edges, u, i)
    assert adj.layout == torch.sparse_csr
    assert torch.allclose(adj.to_dense(), dense_normalized(edges, u, i), atol=1e-6)


def test_lightgcn_is_mean_of_propagated_layers():
    edges, u, i = random_graph()
    model = LightGCN(u, i, embedding_dim=8, num_layers=2)
    users, items = model.user_item_embeddings(normalized_adjacency(edges, u, i))
    a = dense_normalized(edges, u, i)
    e0 = model.embedding.weight
    expected = (e0 + a @ e0 + a @ (a @ e0)) / 3
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-5)


def test_ngcf_shapes_gradients_and_eval_determinism():
    edges, u, i = random_graph()
    adj = normalized_adjacency(edges, u, i)
    model = NGCF(u, i, embedding_dim=8, num_layers=3, dropout=0.5)
    users, items = model.user_item_embeddings(adj)
    assert users.shape == (u, 8 * 4) and items.shape == (i, 8 * 4)
    (users.sum() + items.sum()).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    first = model.user_item_embeddings(adj)[0]
    assert torch.equal(first, model.user_item_embeddings(adj)[0])  # no dropout in eval


def test_build_backbone_rejects_unknown_names():
    assert isinstance(build_backbone("ngcf", 3, 4, 8, 1), NGCF)
    try:
        build_backbone("mf", 3, 4, 8, 1)
    except ValueError as error:
        assert "lightgcn" in str(error)
    else:
        raise AssertionError("expected a ValueError")


def test_uniform_sampler_never_returns_a_training_item():
    u, i = 5, 6  # each user has 4 of the 6 items: dense enough that rejection matters
    generator = torch.Generator().manual_seed(0)
    items = torch.stack([torch.randperm(i, generator=generator)[:4] for _ in range(u)])
    edges = torch.stack([torch.arange(u).repeat_interleave(4), items.flatten()])
    sampler = UniformNegativeSampler(edges, i)
    users = torch.arange(u).repeat(200)
    negatives = sampler.sample(users, torch.Generator().manual_seed(1))
    observed = set(zip(edges[0].tolist(), edges[1].tolist()))
    assert not any((user, item) in observed for user, item in zip(users.tolist(), negatives.tolist()))
    assert negatives.unique().numel() > 1
