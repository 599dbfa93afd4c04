"""The training-only baselines on a tiny random split: each trains under fit(), and each mechanism
(DNS's choice, T-CE's truncation, R-CE's weights, the SGL/SimGCL views, RLMRec's projector) does
what its paper says."""

import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.methods import build_objective, objective_methods, options_of
from pipeline.methods.dns import DNSNegativeSampler
from pipeline.methods.rce import RCEObjective
from pipeline.methods.rlmrec_con import RLMRecConObjective
from pipeline.methods.simgcl import perturbed_embeddings
from pipeline.methods.tce import TCEObjective
from recsys.data.split import SplitData
from recsys.models.graph import normalized_adjacency
from recsys.models.lightgcn import LightGCN
from recsys.models.ngcf import NGCF
from recsys.training.losses import info_nce
from recsys.training.sampling import UniformNegativeSampler
from recsys.training.trainer import BPRObjective, OptimConfig, build_model, fit, train_bpr

BaselineOptions = options_of(objective_methods())
METHODS = objective_methods()

NUM_USERS, NUM_ITEMS, TEXT_DIM = 30, 40, 12
OPTIM = OptimConfig(embedding_dim=16, num_layers=2, epochs=8, batch_size=64, lr=0.01, patience=100, reg=1e-4)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tensors here are tiny: intra-op threads only add synchronisation, which on a busy 2-core
    machine made a fit of 8 epochs 20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_split(seed: int = 0) -> SplitData:
    """~360 interactions from a low-rank taste model, cut 70/15/15 at random, 10% flagged as noise."""
    generator = torch.Generator().manual_seed(seed)
    affinity = torch.randn(NUM_USERS, 3, generator=generator) @ torch.randn(3, NUM_ITEMS, generator=generator)
    top = affinity.topk(12, dim=1).indices
    keys = (torch.arange(NUM_USERS)[:, None] * NUM_ITEMS + top).reshape(-1)
    part = torch.rand(keys.numel(), generator=generator)

    def edges(mask):
        chosen = keys[mask]
        return torch.stack([chosen // NUM_ITEMS, chosen % NUM_ITEMS])

    train = edges(part < 0.7)
    return SplitData("tiny", "tiny", NUM_USERS, NUM_ITEMS, train,
                     torch.rand(train.size(1), generator=generator) < 0.1,
                     edges((part >= 0.7) & (part < 0.85)), edges(part >= 0.85))


def text_embeddings(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random profile vectors; users 0-4 and items 0-4 have none (zero rows)."""
    generator = torch.Generator().manual_seed(seed)
    users = torch.randn(NUM_USERS, TEXT_DIM, generator=generator)
    items = torch.randn(NUM_ITEMS, TEXT_DIM, generator=generator)
    users[:5] = 0.0
    items[:5] = 0.0
    return users, items


def lightgcn(seed: int = 0) -> LightGCN:
    torch.manual_seed(seed)
    return build_model(tiny_split(), "lightgcn", OPTIM)


class FixedSampler:
    """Negatives given in advance, so a test can recompute the per-pair losses."""

    def __init__(self, negatives: torch.Tensor):
        self.negatives = negatives

    def sample(self, users, generator=None):
        return self.negatives


def pair_scores(model, data, users, positives, negatives):
    user_emb, item_emb = model.user_item_embeddings(normalized_adjacency(data.train, NUM_USERS, NUM_ITEMS))
    return (user_emb[users] * item_emb[positives]).sum(-1), (user_emb[users] * item_emb[negatives]).sum(-1)


@pytest.mark.parametrize("method,model_name", [(m, "lightgcn") for m in METHODS if m != "ngcf"]
                         + [("dns", "ngcf"), ("tce", "ngcf"), ("rlmrec_con", "ngcf")])
def test_each_method_trains_under_fit_with_a_finite_falling_loss(method, model_name):
    data = tiny_split()
    config = BaselineOptions(tce_num_gradual=20, sgl_weight=0.1, simgcl_weight=0.1, rlmrec_weight=0.1)
    torch.manual_seed(0)
    model = build_model(data, model_name, OPTIM)
    objective = build_objective(method, data, config, OPTIM.reg, model, text_embeddings())
    losses = []
    result = fit(model, data, objective, OPTIM, seed=0, progress=False,
                 on_epoch=lambda epoch, loss, valid: losses.append(loss))
    assert len(losses) == OPTIM.epochs and all(math.isfinite(loss) for loss in losses)
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2
    assert all(math.isfinite(value) for value in result.test.values())


def test_bpr_is_exactly_the_plain_backbone_run():
    data = tiny_split()
    torch.manual_seed(3)
    model = build_model(data, "lightgcn", OPTIM)
    objective = build_objective("lightgcn", data, BaselineOptions(), OPTIM.reg, model)
    assert type(objective) is BPRObjective
    ours = fit(model, data, objective, OPTIM, seed=3, progress=False)
    assert ours.test == train_bpr(data, "lightgcn", OPTIM, seed=3, progress=False).test


def test_unknown_method_and_missing_text_are_refused():
    data = tiny_split()
    with pytest.raises(ValueError, match="unknown method"):
        build_objective("popularity", data, BaselineOptions(), 0.0, lightgcn())
    with pytest.raises(ValueError, match="text_embeddings"):
        build_objective("rlmrec_con", data, BaselineOptions(), 0.0, lightgcn())


def test_dns_keeps_the_top_scored_candidate_and_never_an_observed_item():
    data = tiny_split()
    uniform = UniformNegativeSampler(data.train, NUM_ITEMS)
    sampler = DNSNegativeSampler(uniform, candidates=5)
    generator = torch.Generator().manual_seed(0)
    user_emb, item_emb = torch.randn(NUM_USERS, 8, generator=generator), torch.randn(NUM_ITEMS, 8, generator=generator)
    sampler.bind(user_emb, item_emb)
    users = torch.arange(NUM_USERS).repeat(20)
    chosen = sampler.sample(users, torch.Generator().manual_seed(7))
    pool = uniform.sample(users.repeat_interleave(5), torch.Generator().manual_seed(7)).view(-1, 5)
    scores = (user_emb[users, None] * item_emb[pool]).sum(-1)
    assert torch.equal(chosen, pool[torch.arange(users.numel()), scores.argmax(1)])
    assert not uniform.is_observed(users, chosen).any()
    # the choice is hard: above a plain uniform negative on average
    plain = uniform.sample(users, torch.Generator().manual_seed(8))
    assert (user_emb[users] * item_emb[chosen]).sum(-1).mean() > (user_emb[users] * item_emb[plain]).sum(-1).mean()


def test_tce_drops_exactly_the_scheduled_share_of_largest_loss_pairs():
    data = tiny_split()
    adj = normalized_adjacency(data.train, NUM_USERS, NUM_ITEMS)
    users, positives = data.train[0, :50], data.train[1, :50]
    negatives = UniformNegativeSampler(data.train, NUM_ITEMS).sample(users, torch.Generator().manual_seed(0))
    objective = TCEObjective(data.train, adj, FixedSampler(negatives), 1e-4, NUM_ITEMS,
                             max_drop_rate=0.5, num_gradual=11)
    # linspace(0, 0.5, 11)[t] = 0.05 t, then 0.5 for good
    assert [objective.drop_rate(t) for t in (0, 4, 10, 11, 1000)] == pytest.approx([0.0, 0.2, 0.5, 0.5, 0.5])
    model = lightgcn()
    objective.step = 4
    loss = objective.batch_loss(model, users, positives, None)
    assert objective.step == 5
    assert objective.dropped_fraction_last_batch == pytest.approx(0.2)
    assert objective.last_dropped.numel() == 10  # floor(0.2 * 50)
    pos, neg = pair_scores(model, data, users, positives, negatives)
    pair_loss = F.softplus(neg - pos)
    dropped_pairs = set(map(tuple, data.train[:, objective.last_dropped].T.tolist()))
    assert dropped_pairs == set(map(tuple, torch.stack([users, positives])[:, pair_loss.topk(10).indices].T.tolist()))
    kept = pair_loss.topk(40, largest=False).indices
    expected = objective.bpr(pos[kept], neg[kept], model.ego_embeddings(users[kept],
                                                                        torch.cat([positives[kept], negatives[kept]])))
    assert torch.allclose(loss, expected)
    report = objective.edge_report()
    assert report["seen"].sum() == 50 and report["dropped"].sum() == 10
    assert torch.equal(report["dropped_share"][objective.last_dropped], torch.ones(10))
    objective.step = 0
    objective.batch_loss(model, users, positives, None)
    assert objective.last_dropped.numel() == 0 and objective.dropped_fraction_last_batch == 0.0


def test_rce_weights_lie_in_0_1_and_fall_with_the_pair_score():
    data = tiny_split()
    adj = normalized_adjacency(data.train, NUM_USERS, NUM_ITEMS)
    users, positives = data.train[0, :60], data.train[1, :60]
    negatives = UniformNegativeSampler(data.train, NUM_ITEMS).sample(users, torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    model = LightGCN(NUM_USERS, NUM_ITEMS, 16, 2)
    with torch.no_grad():
        model.embedding.weight.mul_(20)  # spread the scores so the weights differ visibly
    objective = RCEObjective(data.train, adj, FixedSampler(negatives), 1e-4, NUM_ITEMS, beta=0.25)
    loss = objective.batch_loss(model, users, positives, None)
    weights = objective.last_weights
    assert not weights.requires_grad  # a weight, not a path for gradients
    assert ((weights > 0) & (weights <= 1)).all()
    pos, neg = pair_scores(model, data, users, positives, negatives)
    by_score = (pos - neg).detach().argsort()
    assert (weights[by_score].diff() >= 0).all() and weights.max() - weights.min() > 0.1
    assert torch.allclose(weights, torch.sigmoid(pos - neg).detach() ** 0.25)
    ego = model.ego_embeddings(users, torch.cat([positives, negatives]))
    expected = (weights * F.softplus(neg - pos)).mean() + 1e-4 * ego.pow(2).sum() / 60
    assert torch.allclose(loss, expected)
    report = objective.edge_report()
    assert torch.allclose(report["mean_weight"][:60], weights) and (report["mean_weight"][60:] == 1).all()
    # beta = 0 weighs every pair 1: exactly the BPR objective
    plain = RCEObjective(data.train, adj, FixedSampler(negatives), 1e-4, NUM_ITEMS, beta=0.0)
    bpr = BPRObjective(data.train, adj, FixedSampler(negatives), 1e-4)
    assert torch.allclose(plain.batch_loss(model, users, positives, None),
                          bpr.batch_loss(model, users, positives, None))


def test_sgl_redraws_two_different_views_every_epoch():
    data = tiny_split()
    objective = build_objective("sgl", data, BaselineOptions(sgl_drop_rate=0.2), 0.0, lightgcn())
    generator = torch.Generator().manual_seed(0)
    objective.start_epoch(None, generator)
    first = objective.view_edges
    objective.start_epoch(None, generator)
    second = objective.view_edges
    keys = lambda e: set((e[0] * NUM_ITEMS + e[1]).tolist())
    all_edges = keys(data.train)
    for view in (*first, *second):
        assert keys(view) < all_edges and 0.6 < view.size(1) / data.num_train < 0.95
    assert keys(first[0]) != keys(first[1]) and keys(first[0]) != keys(second[0])
    assert torch.equal(objective.views[0].to_dense(),
                       normalized_adjacency(second[0], NUM_USERS, NUM_ITEMS).to_dense())


def test_simgcl_perturbs_lightgcn_only():
    data = tiny_split()
    adj = normalized_adjacency(data.train, NUM_USERS, NUM_ITEMS)
    model = lightgcn()
    clean = model.user_item_embeddings(adj)
    same = perturbed_embeddings(model, adj, 0.0, include_layer0=True)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(same, clean))
    generator = torch.Generator().manual_seed(0)
    a, b = perturbed_embeddings(model, adj, 0.1, generator), perturbed_embeddings(model, adj, 0.1, generator)
    assert not torch.allclose(a[0], b[0])
    # one layer: e1 + sign(e1) * normalize(noise) * eps moves every connected node by exactly eps
    one_layer = LightGCN(NUM_USERS, NUM_ITEMS, 16, 1)
    moved = (perturbed_embeddings(one_layer, adj, 0.1, generator)[0]
             - perturbed_embeddings(one_layer, adj, 0.0)[0]).norm(dim=-1)
    connected = torch.bincount(data.train[0], minlength=NUM_USERS) > 0
    assert torch.allclose(moved[connected], torch.full((int(connected.sum()),), 0.1))
    ngcf = NGCF(NUM_USERS, NUM_ITEMS, 16, 2)
    with pytest.raises(ValueError, match="NGCF"):
        perturbed_embeddings(ngcf, adj, 0.1)
    with pytest.raises(ValueError, match="LightGCN"):
        build_objective("simgcl", data, BaselineOptions(), 0.0, ngcf)


def test_rlmrec_trains_its_attached_projector_and_skips_nodes_without_text():
    data = tiny_split()
    torch.manual_seed(0)
    model = build_model(data, "lightgcn", OPTIM)
    objective = build_objective("rlmrec_con", data, BaselineOptions(rlmrec_weight=0.1), OPTIM.reg, model,
                                text_embeddings())
    assert model.rlmrec_projector is objective.projector
    assert {id(p) for p in objective.projector.parameters()} <= {id(p) for p in model.parameters()}
    before = [p.detach().clone() for p in objective.projector.parameters()]
    fit(model, data, objective, OPTIM.model_copy(update={"epochs": 3}), seed=0, progress=False)
    assert all(not torch.equal(a, b) for a, b in zip(before, objective.projector.parameters()))
    # the zero-text rows (users and items 0-4) are masked out of the contrast
    assert not objective.user_mask[:5].any() and objective.user_mask[5:].all()
    on_graph = model.user_item_embeddings(objective.adj)
    no_text = torch.arange(5)
    assert objective.contrast(model, no_text, no_text, on_graph, None).item() == 0.0
    mixed = torch.arange(3, 9)
    with_text = torch.arange(5, 9)
    expected = objective.contrast(model, with_text, with_text, on_graph, None)
    assert torch.allclose(objective.contrast(model, mixed, mixed, on_graph, None), expected)


def test_rlmrec_takes_an_explicit_mask():
    data = tiny_split()
    user_text, item_text = text_embeddings()
    projector = torch.nn.Linear(TEXT_DIM, 16)
    mask = torch.ones(NUM_USERS, dtype=torch.bool)
    mask[10:] = False
    objective = RLMRecConObjective(data.train, NUM_USERS, NUM_ITEMS, 0.0, user_text, item_text, projector, 1.0,
                                   0.2, user_mask=mask, item_mask=torch.zeros(NUM_ITEMS, dtype=torch.bool))
    model = lightgcn()
    on_graph = model.user_item_embeddings(objective.adj)
    users = torch.arange(NUM_USERS)
    value = objective.contrast(model, users, torch.arange(NUM_ITEMS), on_graph, None)
    kept = torch.arange(5, 10)  # 0-4 have zero text, 10+ are masked out
    assert torch.allclose(value, info_nce(on_graph[0][kept], projector(user_text[kept]), 0.2))
