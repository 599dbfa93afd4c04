"""LLMHD and HNLMRec-style negatives on a tiny random split: the decisions, the protected T-CE, the
mapping of generated negatives to real items, the samplers, and a short training run of each."""

import math

import numpy as np
import pytest
import torch

from pipeline.methods import objective_methods, options_of
from pipeline.methods.hnlmrec import FixedHardNegativeSampler, map_to_items
from pipeline.methods.llmhd import llmhd_decisions, llmhd_objective
from recsys.denoising.decisions import DECISION_COLUMNS
from recsys.models.graph import edge_keys, normalized_adjacency
from recsys.training.sampling import MixedNegativeSampler, UniformNegativeSampler
from recsys.training.trainer import BPRObjective, build_model, fit
from tests.test_objectives import NUM_ITEMS, NUM_USERS, OPTIM, one_thread, tiny_split  # noqa: F401

BaselineOptions = options_of(objective_methods())


def test_llmhd_decisions_follow_the_keep_score():
    decisions = llmhd_decisions({(0, 3): 6.0, (1, 4): 5.0, (2, 5): 10.0}, keep_score=6)
    assert list(decisions.columns) == DECISION_COLUMNS
    assert decisions.decision.tolist() == ["hard", "noise", "hard"]
    assert set(decisions.kind) == {"low_score_positive"}


def hard_and_noise_pairs(data, count=6):
    pairs = data.train[:, :2 * count].T.tolist()
    return {tuple(p): 9.0 for p in pairs[:count]} | {tuple(p): 2.0 for p in pairs[count:]}


def test_llmhd_removes_the_noise_and_never_truncates_a_hard_sample():
    data = tiny_split()
    scores = hard_and_noise_pairs(data)
    config = BaselineOptions(tce_max_drop_rate=0.9, tce_num_gradual=1)  # drop 90% of every batch after one step
    objective, counts = llmhd_objective(data, llmhd_decisions(scores, 6), config, OPTIM.reg)
    assert counts["edges_removed"] == 6 and counts["edges_protected"] == 6
    keys = edge_keys(objective.edges, NUM_ITEMS)
    noise = torch.as_tensor([u * NUM_ITEMS + i for (u, i), s in scores.items() if s < 6])
    assert not torch.isin(noise, keys).any() and objective.edges.size(1) == data.train.size(1) - 6
    torch.manual_seed(0)
    model = build_model(data, "lightgcn", OPTIM)
    users, positives = objective.edges
    objective.step = 5  # past the (one-step) ramp
    objective.batch_loss(model, users, positives, torch.Generator().manual_seed(0))
    dropped = set(objective.last_dropped.tolist())
    assert len(dropped) == int(0.9 * users.numel())
    assert not dropped & set(objective.protected.nonzero().squeeze(1).tolist())


def test_llmhd_trains_with_a_finite_falling_loss():
    data = tiny_split()
    objective, _ = llmhd_objective(data, llmhd_decisions(hard_and_noise_pairs(data), 6),
                                   BaselineOptions(tce_num_gradual=20), OPTIM.reg)
    torch.manual_seed(0)
    model = build_model(data, "lightgcn", OPTIM)
    losses = []
    fit(model, data, objective, OPTIM, seed=0, progress=False, on_epoch=lambda epoch, loss, valid: losses.append(loss))
    assert all(math.isfinite(loss) for loss in losses) and sum(losses[-2:]) < sum(losses[:2])


def test_generated_negatives_map_to_their_nearest_unobserved_items():
    data = tiny_split()
    rng = np.random.default_rng(0)
    item_vecs = rng.normal(size=(NUM_ITEMS, 8)).astype(np.float32)
    user = int(data.train[0, 0])
    observed = set(data.train[1, data.train[0] == user].tolist())
    # the description sits on top of an observed item: that item must be skipped
    anchor = sorted(observed)[0]
    hard = map_to_items({user: item_vecs[anchor] * 3}, item_vecs, data.train, NUM_USERS, k=4)
    assert (hard[user] >= 0).all() and not set(hard[user].tolist()) & observed
    unit = item_vecs / np.linalg.norm(item_vecs, axis=1, keepdims=True)
    ranked = [i for i in np.argsort(-(unit @ unit[anchor])).tolist() if i not in observed][:4]
    assert hard[user].tolist() == ranked
    others = torch.arange(NUM_USERS) != user
    assert (hard[others] == -1).all()


def test_mixed_sampler_uses_fixed_negatives_only_where_a_user_has_them():
    data = tiny_split()
    hard = torch.full((NUM_USERS, 3), -1, dtype=torch.long)
    hard[0] = torch.tensor([5, 6, 7])
    hard[1, :1] = 9
    sampler = MixedNegativeSampler(UniformNegativeSampler(data.train, NUM_ITEMS), FixedHardNegativeSampler(hard), 1.0)
    generator = torch.Generator().manual_seed(0)
    drawn = sampler.sample(torch.tensor([0] * 200 + [1] * 20), generator)
    assert set(drawn[:200].tolist()) == {5, 6, 7} and set(drawn[200:].tolist()) == {9}
    uniform_users = torch.arange(2, NUM_USERS).repeat(10)
    drawn = sampler.sample(uniform_users, generator)
    assert (drawn >= 0).all() and len(set(drawn.tolist())) > 5  # the fallback is the uniform sampler


def test_hnlmrec_trains_with_a_finite_falling_loss():
    data = tiny_split()
    rng = np.random.default_rng(1)
    item_vecs = rng.normal(size=(NUM_ITEMS, 8))
    hard = map_to_items({u: rng.normal(size=8) for u in range(0, NUM_USERS, 2)}, item_vecs, data.train, NUM_USERS, 5)
    sampler = MixedNegativeSampler(UniformNegativeSampler(data.train, NUM_ITEMS), FixedHardNegativeSampler(hard), 0.5)
    objective = BPRObjective(data.train, normalized_adjacency(data.train, NUM_USERS, NUM_ITEMS), sampler, OPTIM.reg)
    torch.manual_seed(0)
    model = build_model(data, "lightgcn", OPTIM)
    losses = []
    fit(model, data, objective, OPTIM, seed=0, progress=False, on_epoch=lambda epoch, loss, valid: losses.append(loss))
    assert all(math.isfinite(loss) for loss in losses) and sum(losses[-2:]) < sum(losses[:2])


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_a_user_without_negatives_never_gets_minus_one(share):
    data = tiny_split()
    sampler = MixedNegativeSampler(UniformNegativeSampler(data.train, NUM_ITEMS),
                                   FixedHardNegativeSampler(torch.full((NUM_USERS, 2), -1)), share)
    assert (sampler.sample(torch.arange(NUM_USERS).repeat(5), torch.Generator().manual_seed(0)) >= 0).all()


@pytest.mark.parametrize("batch_size", [32, 64])
def test_tce_ramp_in_epochs_reaches_the_maximum_within_a_short_run(batch_size):
    """--tce-ramp-epochs 3 over 5 epochs: the drop rate grows linearly to its maximum by the end of
    epoch 3, whatever the batch size, and every later batch drops floor(max * B) of its pairs."""
    from pipeline.methods.tce import objective as tce_objective

    data = tiny_split()
    objective = tce_objective(data, BaselineOptions(tce_ramp_epochs=3, tce_max_drop_rate=0.5), OPTIM.reg)
    batches = []  # (step, batch size, pairs dropped)
    batch_loss = objective.batch_loss

    def recording(model, users, positives, generator):
        step = objective.step
        loss = batch_loss(model, users, positives, generator)
        batches.append((step, users.numel(), objective.last_dropped.numel()))
        return loss

    objective.batch_loss = recording
    torch.manual_seed(0)
    model = build_model(data, "lightgcn", OPTIM)
    fit(model, data, objective, OPTIM.model_copy(update={"epochs": 5, "batch_size": batch_size}), seed=0,
        progress=False)
    steps_per_epoch = math.ceil(data.train.size(1) / batch_size)
    assert objective.steps_per_epoch == steps_per_epoch and objective.num_gradual == 3 * steps_per_epoch
    assert len(batches) == 5 * steps_per_epoch
    rates = [objective.drop_rate(step) for step, _, _ in batches]
    assert rates[0] == 0.0 and rates == sorted(rates)  # a linear ramp from 0
    assert rates[3 * steps_per_epoch - 1] == pytest.approx(0.5)  # the maximum at the last step of epoch 3
    assert rates[3 * steps_per_epoch - 2] < 0.5
    after = [(size, dropped) for step, size, dropped in batches if step >= objective.num_gradual]
    assert len(after) == 2 * steps_per_epoch
    assert all(dropped == int(0.5 * size) for size, dropped in after)
    full = [(size, dropped) for size, dropped in after if size == batch_size]
    assert full and all(dropped / size == 0.5 for size, dropped in full)  # the realized rate is the maximum
    report = objective.edge_report()
    assert report["seen"].sum() == 5 * data.train.size(1)
    assert report["dropped"].sum() == sum(dropped for _, _, dropped in batches)
