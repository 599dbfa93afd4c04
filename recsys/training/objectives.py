"""Objective building blocks the baselines share: per-edge bookkeeping (T-CE, R-CE) and a
contrastive term added to BPR (SGL, SimGCL, RLMRec-Con, and LLMHNI's L_hal).

Every contrastive term is mean InfoNCE over the batch's unique users plus the same over its unique
items, added to the mean BPR loss with a weight (as in SELFRec's SGL/SimGCL and RLMRec's code).
"""

from __future__ import annotations

import torch

from recsys.models.graph import edge_keys
from recsys.training.losses import info_nce
from recsys.training.trainer import BPRObjective


def node_contrast(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor],
                  users: torch.Tensor, items: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE between two (user [U, d], item [I, d]) encodings on the given users, plus on the given items."""
    return info_nce(a[0][users], b[0][users], temperature) + info_nce(a[1][items], b[1][items], temperature)


def pair_scores(sampler, user_emb, item_emb, users, positives, generator):
    """BPR pair scores s_ui, s_uj and the sampled negatives j (as in BPRObjective.rec_loss)."""
    negatives = sampler.sample(users, generator)
    u = user_emb[users]
    return (u * item_emb[positives]).sum(-1), (u * item_emb[negatives]).sum(-1), negatives


class PerEdgeObjective(BPRObjective):
    """BPR with per-training-edge bookkeeping: batch pairs are mapped back to their column in ``edges``
    through the sorted keys user * num_items + item."""

    def __init__(self, edges: torch.Tensor, adj: torch.Tensor, sampler, reg: float, num_items: int):
        super().__init__(edges, adj, sampler, reg)
        self.num_items = num_items
        self._keys, self._order = edge_keys(edges, num_items).sort()
        self.seen_count = torch.zeros(edges.size(1))  # batches each edge was in

    def edge_ids(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * self.num_items + items
        position = torch.searchsorted(self._keys, keys).clamp(max=self._keys.numel() - 1)
        if not torch.equal(self._keys[position], keys):
            raise ValueError("a batch pair is not one of the objective's training edges")
        return self._order[position]

    def _reg(self, model, users, positives, negatives) -> torch.Tensor:
        """BPRLoss's L2 term on the batch's layer-0 embeddings, lambda * ||x0||^2 / B."""
        ego = model.ego_embeddings(users, torch.cat([positives, negatives]))
        return self.bpr.lambda_reg * ego.pow(2).sum() / users.numel()


class ContrastiveObjective(BPRObjective):
    """BPR on G plus ``weight`` x a contrastive term on the batch's unique users and items."""

    def __init__(self, edges, adj, sampler, reg: float, weight: float, temperature: float):
        super().__init__(edges, adj, sampler, reg)
        self.weight, self.temperature = weight, temperature
        self.last_losses: dict[str, float] = {}

    def contrast(self, model, users: torch.Tensor, items: torch.Tensor, on_graph, generator) -> torch.Tensor:
        raise NotImplementedError

    def batch_loss(self, model, users, positives, generator) -> torch.Tensor:
        on_graph = model.user_item_embeddings(self.adj)
        loss = self.rec_loss(model, *on_graph, users, positives, generator)
        self.last_losses = {"rec": loss.item()}
        if self.weight > 0:
            cl = self.contrast(model, torch.unique(users), torch.unique(positives), on_graph, generator)
            self.last_losses["cl"] = cl.item()
            loss = loss + self.weight * cl
        return loss
