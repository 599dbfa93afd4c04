"""Objective building blocks the baselines share: per-edge bookkeeping (T-CE, R-CE) and a
contrastive term added to BPR (SGL, SimGCL, RLMRec-Con, and LLMHNI's L_hal).

Every contrastive term is mean InfoNCE over the batch's unique users plus the same over its unique
items, added to the mean BPR loss with a weight (as in SELFRec's SGL/SimGCL and RLMRec's code).

The weight's scale (evals/reports/contrastive_fidelity.md). The cosine InfoNCE does not depend on the
scale of the embeddings, BPR does: its gradient grows with the square of the encoder's output scale while
the scores are near 0 (early training). SSLRec's SGL and SimGCL, the code behind the papers' weight 0.1 as used
on RLMRec's Amazon-book, score BPR on the *sum* of the LightGCN layers; our backbone (PyG's LightGCN) scores
the *mean*, (L+1) times smaller, so the same λ weighs InfoNCE (L+1)^2 = 16 times more against BPR (gradient
ratio InfoNCE/BPR at initialisation on ml-100k: 213 against SSLRec's 13).
At λ = 0.1 that made the uniformity term win from the first step: neighbours were pushed apart, the
propagated layers cancelled (final norm ~0.07 against ~0.25 for layer 0), BPR stayed at ln 2 and valid
Recall@20 at 0.01-0.02 (ml-100k, 40 epochs) / 0.04-0.05 (Amazon-book, 10 epochs). :func:`contrast_weight_scale` converts a paper λ to
our encoder's scale; :class:`ContrastiveObjective` applies it when ``paper_scale`` is set.
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


def contrast_weight_scale(model: torch.nn.Module) -> float:
    """Factor that turns a contrastive weight set for a layer-*sum* LightGCN (SSLRec's SGL/SimGCL, the
    papers' λ) into the same balance against BPR on our layer-*mean* encoder: α_0^2 = 1/(L+1)^2 for
    LightGCN (PyG's α_l = 1/(L+1)); 1 for other backbones, whose scale is their own."""
    alpha = getattr(model, "alpha", None)
    if alpha is None or not hasattr(model, "num_layers"):
        return 1.0
    return float(alpha[0]) ** 2


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
    """BPR on G plus ``weight`` x a contrastive term on the batch's unique users and items.

    With ``paper_scale`` the weight is a paper's λ (set for a layer-sum encoder) and is multiplied by
    :func:`contrast_weight_scale` (1/16 for a 3-layer LightGCN); without it, it is used as given."""

    paper_scale: bool = False

    def __init__(self, edges, adj, sampler, reg: float, weight: float, temperature: float,
                 paper_scale: bool | None = None):
        super().__init__(edges, adj, sampler, reg)
        self.weight, self.temperature = weight, temperature
        if paper_scale is not None:
            self.paper_scale = paper_scale
        self.last_losses: dict[str, float] = {}

    def effective_weight(self, model) -> float:
        return self.weight * (contrast_weight_scale(model) if self.paper_scale else 1.0)

    def contrast(self, model, users: torch.Tensor, items: torch.Tensor, on_graph, generator) -> torch.Tensor:
        raise NotImplementedError

    def batch_loss(self, model, users, positives, generator) -> torch.Tensor:
        on_graph = model.user_item_embeddings(self.adj)
        loss = self.rec_loss(model, *on_graph, users, positives, generator)
        self.last_losses = {"rec": loss.item()}
        if self.weight > 0:
            cl = self.contrast(model, torch.unique(users), torch.unique(positives), on_graph, generator)
            self.last_losses["cl"] = cl.item()
            loss = loss + self.effective_weight(model) * cl
        return loss
