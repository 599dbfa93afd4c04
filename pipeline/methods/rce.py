"""R-CE: ADT's reweighted loss (Wang et al., WSDM 2021): pairs the model cannot fit count less.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field

from pipeline.registry import register_training_only
from recsys.models.graph import normalized_adjacency
from recsys.training.objectives import PerEdgeObjective, pair_scores
from recsys.training.sampling import UniformNegativeSampler


class RCEConfig(BaseModel):
    # ADT's R-CE code defaults to 0.2; its logs use 0.2-0.3 by dataset, the paper searches {0.05..1}.
    rce_beta: float = Field(0.25, ge=0, description="R-CE: exponent beta of the weight sigmoid(s_ui - s_uj)^beta.")


class RCEObjective(PerEdgeObjective):
    """Reweighted loss R-CE of ADT (Wang et al., WSDM 2021) on BPR pairs.

    ADT weights a positive's BCE by its detached prediction y_ui^beta = exp(-beta * BCE). On a BPR pair
    the prediction is sigma(s_ui - s_uj), so the weight is w = sigma(s_ui - s_uj)^beta = exp(-beta * l_ui),
    in (0, 1]: pairs the model cannot fit (likely noise) count less. The loss is mean(w * l_ui) + L2.
    """

    def __init__(self, edges, adj, sampler, reg: float, num_items: int, beta: float):
        super().__init__(edges, adj, sampler, reg, num_items)
        self.beta = beta
        self.weight_sum = torch.zeros(edges.size(1))
        self.last_weights = torch.empty(0)

    def pair_weights(self, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((pos - neg).detach()).pow(self.beta)

    def batch_loss(self, model, users, positives, generator) -> torch.Tensor:
        user_emb, item_emb = model.user_item_embeddings(self.adj)
        pos, neg, negatives = pair_scores(self.sampler, user_emb, item_emb, users, positives, generator)
        weight = self.pair_weights(pos, neg)
        ids = self.edge_ids(users, positives)
        self.seen_count.index_add_(0, ids, torch.ones(ids.numel(), device=ids.device))
        self.weight_sum.index_add_(0, ids, weight)
        self.last_weights = weight
        return (weight * F.softplus(neg - pos)).mean() + self._reg(model, users, positives, negatives)

    def edge_report(self) -> dict[str, torch.Tensor]:
        """Per training edge: batches seen and its mean weight over them (1 where never seen)."""
        mean = torch.where(self.seen_count > 0, self.weight_sum / self.seen_count.clamp(min=1), 1.0)
        return {"seen": self.seen_count, "mean_weight": mean}


def objective(data, config: RCEConfig, reg: float, model=None, text_embeddings=None) -> RCEObjective:
    edges = data.train
    adj, uniform = normalized_adjacency(edges, data.num_users, data.num_items), UniformNegativeSampler(edges, data.num_items)
    return RCEObjective(edges, adj, uniform, reg, data.num_items, config.rce_beta)



METHOD = register_training_only(
    "rce", "R-CE: ADT's reweighted loss (Wang et al., WSDM 2021): pairs the model cannot fit count less.",
    RCEConfig, objective)
