"""T-CE: ADT's truncated loss (Wang et al., WSDM 2021): the largest-loss pairs of each batch are dropped,
at a rate that grows over training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field

from pipeline.registry import register_training_only
from recsys.models.graph import normalized_adjacency
from recsys.training.objectives import PerEdgeObjective, pair_scores
from recsys.training.sampling import UniformNegativeSampler

RAMP_EPOCHS_DEFAULT = 5.0


class TCEConfig(BaseModel):
    # ADT's code: drop_rate 0.2, num_gradual 30000 iterations at batch 1024 on Yelp/Amazon-book/Adressa, i.e. the
    # ramp ends after a few tens of epochs there. Counted in steps, 30000 is ~2000 epochs of ml-100k at batch 4096
    # (15 steps per epoch): early stopping ended training at a drop rate of 0.008. The ramp is therefore counted in
    # epochs (converted to steps from the batches per epoch the trainer feeds), so that it ends within the run on any
    # dataset and batch size. Chosen on ml-100k validation, 20% random noise, 2-3 seeds
    # (evals/reports/tce_dns_fidelity.md): max 0.2 costs 0.05-0.10 valid R@20 at every ramp length (1-40 epochs), max 0.1 keeps BPR's level (0.285 vs
    # 0.283); ramps of 1-40 epochs are within seed noise of each other, and 5 ends well before BPR's early stop.
    # At these defaults T-CE drops 27% of the injected edges and 6% of the clean ones per epoch.
    tce_max_drop_rate: float = Field(0.1, ge=0, lt=1, description="T-CE: the drop rate the schedule ends at.")
    tce_ramp_epochs: float = Field(
        RAMP_EPOCHS_DEFAULT, gt=0,
        description="T-CE: epochs over which the drop rate grows linearly from 0 to its maximum (ADT's num_gradual, "
                    "counted in epochs rather than optimizer steps).")
    tce_num_gradual: int | None = Field(
        None, gt=0,
        description="T-CE: the ramp length in optimizer steps, as in ADT's code; when set it overrides "
                    "--tce-ramp-epochs.")


class TCEObjective(PerEdgeObjective):
    """Truncated loss T-CE of ADT (Wang et al., WSDM 2021) on BPR pairs.

    ADT truncates the BCE of positives; our backbones are BPR-trained, so the per-pair loss is
    l_ui = -ln sigma(s_ui - s_uj) with one uniform negative j, which keeps the baseline comparable to
    BPR (a large l_ui still means a positive the model cannot fit, ADT's noise signal). At step t
    (optimizer steps, from 0) the ``floor(drop_rate(t) * B)`` pairs of the batch with the largest loss
    are left out of the loss (and of the L2 term), with the official schedule
    drop_rate(t) = linspace(0, max_drop_rate, N)[t], and max_drop_rate for t >= N.
    (The official code keeps int((1 - r) * B) pairs, so it can drop one pair more.)

    The ramp length N is ``num_gradual`` steps when given (ADT's form), else ``ramp_epochs`` epochs:
    N = round(ramp_epochs * ceil(E / B)) with E the edges one epoch iterates over and B the size of the
    first batch the objective sees (the trainer's batch size, or E when that is smaller), fixed then.

    ``protected`` ([E] bool, optional) marks edges that are never dropped (LLMHD's LLM-judged hard samples).
    """

    def __init__(self, edges, adj, sampler, reg: float, num_items: int, max_drop_rate: float,
                 num_gradual: int | None = None, protected: torch.Tensor | None = None,
                 ramp_epochs: float | None = None):
        super().__init__(edges, adj, sampler, reg, num_items)
        if num_gradual is None and ramp_epochs is None:
            ramp_epochs = RAMP_EPOCHS_DEFAULT
        self.max_drop_rate, self.num_gradual, self.ramp_epochs = max_drop_rate, num_gradual, ramp_epochs
        self.steps_per_epoch: int | None = None  # known from the first batch when the ramp is in epochs
        self.protected = protected if protected is not None else torch.zeros(edges.size(1), dtype=torch.bool)
        self.step = 0
        self.dropped_count = torch.zeros(edges.size(1))
        self.last_dropped = torch.empty(0, dtype=torch.long)  # edge ids dropped by the last batch
        self.dropped_fraction_last_batch = 0.0

    def _fix_ramp(self, batch_size: int) -> None:
        """Convert ``ramp_epochs`` to steps from the batches per epoch, once, at the first batch."""
        if self.num_gradual is None:
            self.steps_per_epoch = math.ceil(self.edges.size(1) / batch_size)
            self.num_gradual = max(1, round(self.ramp_epochs * self.steps_per_epoch))

    def drop_rate(self, step: int) -> float:
        if self.num_gradual is None:
            raise RuntimeError("the ramp in epochs is converted to steps at the first batch")
        if step >= self.num_gradual:
            return self.max_drop_rate
        return self.max_drop_rate * step / (self.num_gradual - 1) if self.num_gradual > 1 else 0.0

    def batch_loss(self, model, users, positives, generator) -> torch.Tensor:
        user_emb, item_emb = model.user_item_embeddings(self.adj)
        pos, neg, negatives = pair_scores(self.sampler, user_emb, item_emb, users, positives, generator)
        ids = self.edge_ids(users, positives)
        self._fix_ramp(users.numel())
        loss = F.softplus(neg - pos).detach()  # softplus(-x) = -ln sigma(x)
        protected = self.protected[ids]
        loss[protected] = float("-inf")
        num_drop = min(int(self.drop_rate(self.step) * users.numel()), int((~protected).sum()))
        self.step += 1
        order = loss.argsort(descending=True)
        dropped, kept = order[:num_drop], order[num_drop:]
        self.seen_count.index_add_(0, ids, torch.ones(ids.numel(), device=ids.device))
        self.dropped_count.index_add_(0, ids[dropped], torch.ones(num_drop, device=ids.device))
        self.last_dropped = ids[dropped]
        self.dropped_fraction_last_batch = num_drop / users.numel()
        ego = model.ego_embeddings(users[kept], torch.cat([positives[kept], negatives[kept]]))
        return self.bpr(pos[kept], neg[kept], ego)

    def edge_report(self) -> dict[str, torch.Tensor]:
        """Per training edge (columns of ``edges``): batches seen, times dropped, and dropped / seen."""
        return {"seen": self.seen_count, "dropped": self.dropped_count,
                "dropped_share": self.dropped_count / self.seen_count.clamp(min=1)}


def objective(data, config: TCEConfig, reg: float, model=None, text_embeddings=None) -> TCEObjective:
    edges = data.train
    adj, uniform = normalized_adjacency(edges, data.num_users, data.num_items), UniformNegativeSampler(edges, data.num_items)
    return TCEObjective(edges, adj, uniform, reg, data.num_items, config.tce_max_drop_rate, config.tce_num_gradual,
                        ramp_epochs=config.tce_ramp_epochs)



METHOD = register_training_only(
    "tce", "T-CE: ADT's truncated loss (Wang et al., WSDM 2021): each batch's largest-loss pairs are dropped, at a "
    "rate that grows over training.",
    TCEConfig, objective)
