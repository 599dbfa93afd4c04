"""Collapse guards for the contrastive terms (evals/reports/contrastive_fidelity.md).

At the papers' weight (0.1), SGL, SimGCL and LLMHNI's L_hal once swamped BPR from the first step: the cosine
InfoNCE is scale-free while BPR's gradient grows with the square of the encoder's scale, and our layer-mean
LightGCN is (L+1) times smaller than the layer-sum encoder those weights were set for. BPR then stayed at
ln 2 and recall fell to a fraction of the BPR-only run's. Here each term trains a few epochs on a small
low-rank random graph at λ = 0.1 and must keep validation recall within a small margin of BPR alone; the
unscaled weight (the old behaviour) must still show the collapse, so the guard guards something.
"""

import pytest
import torch

from pipeline.methods.llmhni import LLMHNIConfig, LLMHNIObjective
from pipeline.methods.sgl import SGLObjective
from pipeline.methods.simgcl import SimGCLObjective
from recsys.data.split import SplitData
from recsys.models.graph import normalized_adjacency
from recsys.training.objectives import contrast_weight_scale
from recsys.training.sampling import UniformNegativeSampler
from recsys.training.trainer import BPRObjective, OptimConfig, build_model, fit

NUM_USERS, NUM_ITEMS = 300, 200
OPTIM = OptimConfig(embedding_dim=32, num_layers=3, epochs=12, batch_size=1024, lr=5e-3, reg=1e-6, patience=100,
                    ks=[20], early_stop_metric="recall@20")
PAPER_WEIGHT = 0.1
MARGIN = 0.03  # recall@20 the contrastive run may lose to BPR alone on this graph


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_split() -> SplitData:
    """~30 positives per user from a rank-4 taste model with popularity, cut 60/20/20 at random."""
    generator = torch.Generator().manual_seed(0)
    affinity = (torch.randn(NUM_USERS, 4, generator=generator) @ torch.randn(4, NUM_ITEMS, generator=generator)
                + torch.linspace(2.0, 0.0, NUM_ITEMS))
    top = affinity.topk(30, dim=1).indices
    keys = (torch.arange(NUM_USERS)[:, None] * NUM_ITEMS + top).reshape(-1)
    part = torch.rand(keys.numel(), generator=generator)

    def edges(mask):
        chosen = keys[mask].sort().values
        return torch.stack([chosen // NUM_ITEMS, chosen % NUM_ITEMS])

    train = edges(part < 0.6)
    return SplitData("collapse", "collapse", NUM_USERS, NUM_ITEMS, train, torch.zeros(train.size(1), dtype=torch.bool),
                     edges((part >= 0.6) & (part < 0.8)), edges(part >= 0.8))


@pytest.fixture(scope="module")
def split() -> SplitData:
    return make_split()


def train(split: SplitData, make_objective, needs_model: bool = False) -> float:
    torch.manual_seed(0)
    model = build_model(split, "lightgcn", OPTIM)
    objective = make_objective(model) if needs_model else make_objective()  # RLMRec-Con attaches its MLP first
    return fit(model, split, objective, OPTIM, seed=0, progress=False).valid["recall@20"]


def sgl(split, paper_scale=True):
    return SGLObjective(split.train, NUM_USERS, NUM_ITEMS, OPTIM.reg, 0.1, PAPER_WEIGHT, 0.2, paper_scale)


def simgcl(split, paper_scale=True):
    return SimGCLObjective(split.train, NUM_USERS, NUM_ITEMS, OPTIM.reg, 0.1, PAPER_WEIGHT, 0.2,
                           include_layer0=False, paper_scale=paper_scale)


def l_hal(split):
    config = LLMHNIConfig(semantic_negatives=False, denoise=False, lambda_hal=PAPER_WEIGHT, pool_candidates=1)
    return LLMHNIObjective(split.train, split.train, NUM_USERS, NUM_ITEMS, config, OPTIM.reg)


def l_de(split):
    """L_de between G and a G' that lost a tenth of its edges (a judge's removals)."""
    keep = torch.rand(split.train.size(1), generator=torch.Generator().manual_seed(1)) >= 0.1
    config = LLMHNIConfig(semantic_negatives=False, lambda_de=PAPER_WEIGHT, hallucination_loss=False, pool_candidates=1)
    return LLMHNIObjective(split.train, split.train[:, keep], NUM_USERS, NUM_ITEMS, config, OPTIM.reg)


def rlmrec_con(split, model, paper_scale=True):
    """RLMRec-Con at its default (the official) weight, with random 48-d "profile" vectors."""
    from pipeline.methods.rlmrec_con import RLMRecConConfig, objective

    generator = torch.Generator().manual_seed(2)
    text = (torch.randn(NUM_USERS, 48, generator=generator), torch.randn(NUM_ITEMS, 48, generator=generator))
    return objective(split, RLMRecConConfig(rlmrec_paper_scale=paper_scale), OPTIM.reg, model, text)


@pytest.fixture(scope="module")
def bpr_recall(split) -> float:
    adj = normalized_adjacency(split.train, NUM_USERS, NUM_ITEMS)
    return train(split, lambda: BPRObjective(split.train, adj, UniformNegativeSampler(split.train, NUM_ITEMS),
                                             OPTIM.reg))


def test_the_paper_weight_is_scaled_to_the_layer_mean_encoder(split):
    model = build_model(split, "lightgcn", OPTIM)
    assert contrast_weight_scale(model) == pytest.approx(1 / 16)
    assert sgl(split).effective_weight(model) == pytest.approx(PAPER_WEIGHT / 16)
    assert sgl(split, paper_scale=False).effective_weight(model) == PAPER_WEIGHT
    assert contrast_weight_scale(build_model(split, "ngcf", OPTIM)) == 1.0


@pytest.mark.parametrize("name, make", [("sgl", sgl), ("simgcl", simgcl), ("l_hal", l_hal)])
def test_paper_weight_does_not_collapse(split, bpr_recall, name, make):
    recall = train(split, lambda: make(split))
    assert recall >= bpr_recall - MARGIN, f"{name} at λ = {PAPER_WEIGHT}: valid R@20 {recall:.4f}, BPR {bpr_recall:.4f}"


def test_l_de_at_the_paper_weight_does_not_collapse(split, bpr_recall):
    recall = train(split, lambda: l_de(split))
    assert recall >= bpr_recall - MARGIN, f"L_de at λ = {PAPER_WEIGHT}: valid R@20 {recall:.4f}, BPR {bpr_recall:.4f}"


def test_rlmrec_con_at_its_default_weight_does_not_collapse(split, bpr_recall):
    recall = train(split, lambda model: rlmrec_con(split, model), needs_model=True)
    assert recall >= bpr_recall - MARGIN, f"RLMRec-Con: valid R@20 {recall:.4f}, BPR {bpr_recall:.4f}"
    unscaled = train(split, lambda model: rlmrec_con(split, model, paper_scale=False), needs_model=True)
    assert unscaled < bpr_recall - MARGIN  # the official 0.01 used as given: the same trap as SGL's


def test_the_unscaled_weight_still_collapses_sgl(split, bpr_recall):
    """The old behaviour (λ used as given on the layer-mean encoder) is what the guard catches."""
    recall = train(split, lambda: sgl(split, paper_scale=False))
    assert recall < bpr_recall - MARGIN
