"""The full objective on a tiny random graph: each loss term, the zero-weight baseline, sampling."""

import math

import pytest
import torch

from pipeline.methods.llmhni import LLMHNIConfig, LLMHNIObjective
from recsys.models.graph import edit_graph, normalized_adjacency
from recsys.models.lightgcn import LightGCN
from recsys.training.sampling import PoolNegativeSampler, SemanticNegativeSampler, UniformNegativeSampler
from recsys.training.trainer import BPRObjective

NUM_USERS, NUM_ITEMS = 12, 30


def tiny_graph(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    keys = torch.unique(torch.randint(NUM_USERS * NUM_ITEMS, (120,), generator=generator))
    return torch.stack([keys // NUM_ITEMS, keys % NUM_ITEMS])


def g_prime(graph: torch.Tensor) -> torch.Tensor:
    remove = graph[:, :5]
    add = torch.tensor([[0, 1, 2], [29, 29, 29]])
    return edit_graph(graph, remove, add, NUM_ITEMS)


def semantic_sampler(edges: torch.Tensor) -> SemanticNegativeSampler:
    generator = torch.Generator().manual_seed(1)
    user_sem = torch.nn.functional.normalize(torch.randn(NUM_USERS, 8, generator=generator), dim=-1)
    item_sem = torch.nn.functional.normalize(torch.randn(NUM_ITEMS, 8, generator=generator), dim=-1)
    neighbours = (user_sem @ item_sem.T).topk(2, dim=1).indices
    return SemanticNegativeSampler(edges, user_sem, item_sem, neighbours, pool_size=8, keep=3)


def objective(graph, augmented, **overrides) -> LLMHNIObjective:
    config = LLMHNIConfig(**overrides)
    sampler = semantic_sampler(torch.cat([graph, augmented], dim=1)) if config.semantic_negatives else None
    return LLMHNIObjective(graph, augmented, NUM_USERS, NUM_ITEMS, config, reg=1e-4, semantic_sampler=sampler)


def model(seed: int = 0) -> LightGCN:
    torch.manual_seed(seed)
    return LightGCN(NUM_USERS, NUM_ITEMS, embedding_dim=16, num_layers=2)


def optimise(obj, steps: int = 30) -> list[float]:
    net = model()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        obj.start_epoch(net, generator)
        net.train()
        loss = obj.batch_loss(net, obj.edges[0], obj.edges[1], generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("overrides", [
    {},  # the full objective
    {"semantic_negatives": False},
    {"hallucination_loss": False},
    {"denoise": False},
    {"lambda_de": 1.0, "lambda_hal": 1.0},
])
def test_full_objective_is_finite_and_decreases(overrides):
    graph = tiny_graph()
    losses = optimise(objective(graph, g_prime(graph), **overrides))
    assert all(math.isfinite(value) for value in losses)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5


def test_each_contrastive_term_is_reported_and_decreases_alone():
    graph = tiny_graph()
    for term, overrides in (("de", {"lambda_hal": 0.0, "lambda_de": 1.0}),
                            ("hal", {"lambda_de": 0.0, "lambda_hal": 1.0})):
        obj = objective(graph, g_prime(graph), semantic_negatives=False, **overrides)
        net = model()
        optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
        generator = torch.Generator().manual_seed(0)
        values = []
        for _ in range(30):
            obj.start_epoch(net, generator)
            loss = obj.batch_loss(net, obj.edges[0], obj.edges[1], generator)
            values.append(obj.last_losses[term])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        other = {"de": "hal", "hal": "de"}[term]
        assert other not in obj.last_losses  # a zero weight skips the term entirely
        assert math.isfinite(values[0]) and values[-1] < values[0]


def test_zero_weights_without_semantic_negatives_is_exactly_the_bpr_baseline():
    graph = tiny_graph()
    full = objective(graph, graph, semantic_negatives=False, lambda_de=0.0, lambda_hal=0.0, pool_candidates=1)
    baseline = BPRObjective(graph, normalized_adjacency(graph, NUM_USERS, NUM_ITEMS),
                            UniformNegativeSampler(graph, NUM_ITEMS), reg=1e-4)
    net = model()
    users, items = graph[0], graph[1]
    for obj in (full, baseline):
        obj.start_epoch(net, torch.Generator().manual_seed(3))
    a = full.batch_loss(net, users, items, torch.Generator().manual_seed(5))
    b = baseline.batch_loss(net, users, items, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_ranking_graph_is_g_prime_and_negatives_avoid_both_graphs():
    graph = tiny_graph()
    augmented = g_prime(graph)
    obj = objective(graph, augmented, semantic_share=1.0, pool_candidates=1)
    assert torch.equal(obj.edges, augmented)
    net = model()
    generator = torch.Generator().manual_seed(0)
    obj.start_epoch(net, generator)
    users = torch.arange(NUM_USERS).repeat(50)
    negatives = obj.sampler.sample(users, generator)
    observed = set((torch.cat([graph, augmented], dim=1)[0] * NUM_ITEMS
                    + torch.cat([graph, augmented], dim=1)[1]).tolist())
    assert not observed & set((users * NUM_ITEMS + negatives).tolist())
    assert obj.timings["sampling"] > 0


def test_the_per_pair_pool_takes_the_top_scored_candidate_and_skips_semantic_neighbours():
    graph = tiny_graph()
    uniform = UniformNegativeSampler(graph, NUM_ITEMS)
    user_emb, item_emb = torch.ones(NUM_USERS, 1), torch.arange(NUM_ITEMS, dtype=torch.float).unsqueeze(1)
    users = torch.arange(NUM_USERS).repeat(40)
    plain = PoolNegativeSampler(uniform, 1)
    assert torch.equal(plain.sample(users, torch.Generator().manual_seed(2)),
                       uniform.sample(users, torch.Generator().manual_seed(2)))  # one candidate: uniform
    dns = PoolNegativeSampler(uniform, 8)
    with pytest.raises(RuntimeError, match="bind"):
        dns.sample(users)
    dns.bind(user_emb, item_emb)
    hard = dns.sample(users, torch.Generator().manual_seed(2))
    assert hard.float().mean() > uniform.sample(users, torch.Generator().manual_seed(2)).float().mean() + 5
    neighbours = torch.tensor([[NUM_ITEMS - 1, NUM_ITEMS - 2]]).repeat(NUM_USERS, 1)  # the top items are "near"
    filtered = PoolNegativeSampler(uniform, NUM_ITEMS, neighbours)
    filtered.bind(user_emb, item_emb)
    assert not set(filtered.sample(users, torch.Generator().manual_seed(2)).tolist()) & {NUM_ITEMS - 1, NUM_ITEMS - 2}
    obj = objective(graph, graph, pool_candidates=4, semantic_negatives=False)
    net = model()
    obj.start_epoch(net, torch.Generator().manual_seed(0))
    assert torch.isfinite(obj.batch_loss(net, graph[0], graph[1], torch.Generator().manual_seed(1)))


def test_cf_profile_contrast_term_trains_the_attached_projector_and_is_reported():
    from pipeline.methods.rlmrec_con import cf_profile_contrast

    graph = tiny_graph()
    augmented = g_prime(graph)
    generator = torch.Generator().manual_seed(2)
    user_text, item_text = torch.randn(NUM_USERS, 6, generator=generator), torch.randn(NUM_ITEMS, 6, generator=generator)
    user_text[0] = 0.0  # a user without a profile is left out of the term
    net = model()
    alignment = cf_profile_contrast(net, normalized_adjacency(augmented, NUM_USERS, NUM_ITEMS), user_text, item_text, 0.2)
    assert net.rlmrec_projector is alignment.projector and not alignment.user_mask[0]
    with pytest.raises(ValueError, match="CF-profile"):
        objective(graph, augmented, lambda_rlmrec=1.0)
    config = LLMHNIConfig(semantic_negatives=False, lambda_rlmrec=1.0)
    obj = LLMHNIObjective(graph, augmented, NUM_USERS, NUM_ITEMS, config, reg=1e-4, cf_profile=alignment)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    before = [p.detach().clone() for p in alignment.projector.parameters()]
    values = []
    for _ in range(30):
        obj.start_epoch(net, generator)
        loss = obj.batch_loss(net, obj.edges[0], obj.edges[1], generator)
        values.append(obj.last_losses["rlmrec"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert values[-1] < values[0]
    assert all(not torch.equal(a, b) for a, b in zip(before, alignment.projector.parameters()))
    # at weight 0 the term is not built into the loss at all
    off = LLMHNIObjective(graph, augmented, NUM_USERS, NUM_ITEMS, LLMHNIConfig(semantic_negatives=False), reg=1e-4,
                          cf_profile=alignment)
    off.start_epoch(net, generator)
    off.batch_loss(net, obj.edges[0], obj.edges[1], generator)
    assert "rlmrec" not in off.last_losses
