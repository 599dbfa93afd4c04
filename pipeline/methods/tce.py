"""T-CE: ADT's truncated loss (Wang et al., WSDM 2021): the largest-loss pairs of each batch are dropped,
at a rate that grows over training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field

from pipeline.registry import register_training_only
from recsys.models.graph import normalized_adjacency
from recsys.training.objectives import PerEdgeObjective, pair_scores
from recsys.training.sampling import UniformNegativeSampler


class TCEConfig(BaseModel):
    # ADT's code: drop_rate 0.2, num_gradual 30000 iterations (batch 1024 on Yelp/Amazon-book/Adressa).
    # With batch 4096 on ml-100k (~13 steps per epoch) that is ~2300 epochs: after 100 epochs the rate
    # is 0.009 (R@20 0.301, as BPR; 20% of the dropped pairs are injected, against 9% of all edges).
    # Reaching 0.2 within 30 epochs (num_gradual 400) drops the hard pairs BPR learns from: R@20 0.218.
    tce_max_drop_rate: float = Field(0.2, ge=0, lt=1, description="T-CE: the drop rate the schedule ends at.")
    tce_num_gradual: int = Field(
        30000, gt=0, description="T-CE: optimizer steps over which the drop rate grows linearly from 0 to its maximum."
    )


class TCEObjective(PerEdgeObjective):
    """Truncated loss T-CE of ADT (Wang et al., WSDM 2021) on BPR pairs.

    ADT truncates the BCE of positives; our backbones are BPR-trained, so the per-pair loss is
    l_ui = -ln sigma(s_ui - s_uj) with one uniform negative j, which keeps the baseline comparable to
    BPR (a large l_ui still means a positive the model cannot fit, ADT's noise signal). At step t
    (optimizer steps, from 0) the ``floor(drop_rate(t) * B)`` pairs of the batch with the largest loss
    are left out of the loss (and of the L2 term), with the official schedule
    drop_rate(t) = linspace(0, max_drop_rate, num_gradual)[t], and max_drop_rate for t >= num_gradual.
    (The official code keeps int((1 - r) * B) pairs, so it can drop one pair more.)

    ``protected`` ([E] bool, optional) marks edges that are never dropped (LLMHD's LLM-judged hard samples).
    """

    def __init__(self, edges, adj, sampler, reg: float, num_items: int, max_drop_rate: float, num_gradual: int,
                 protected: torch.Tensor | None = None):
        super().__init__(edges, adj, sampler, reg, num_items)
        self.max_drop_rate, self.num_gradual = max_drop_rate, num_gradual
        self.protected = protected if protected is not None else torch.zeros(edges.size(1), dtype=torch.bool)
        self.step = 0
        self.dropped_count = torch.zeros(edges.size(1))
        self.last_dropped = torch.empty(0, dtype=torch.long)  # edge ids dropped by the last batch
        self.dropped_fraction_last_batch = 0.0

    def drop_rate(self, step: int) -> float:
        if step >= self.num_gradual:
            return self.max_drop_rate
        return self.max_drop_rate * step / (self.num_gradual - 1) if self.num_gradual > 1 else 0.0

    def batch_loss(self, model, users, positives, generator) -> torch.Tensor:
        user_emb, item_emb = model.user_item_embeddings(self.adj)
        pos, neg, negatives = pair_scores(self.sampler, user_emb, item_emb, users, positives, generator)
        ids = self.edge_ids(users, positives)
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
    return TCEObjective(edges, adj, uniform, reg, data.num_items, config.tce_max_drop_rate, config.tce_num_gradual)



METHOD = register_training_only(
    "tce", "T-CE: ADT's truncated loss (Wang et al., WSDM 2021): each batch's largest-loss pairs are dropped, at a "
    "rate that grows over training.",
    TCEConfig, objective)
