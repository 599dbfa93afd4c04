"""SGL-ED (Wu et al., SIGIR 2021): InfoNCE between two edge-dropped views, added to BPR.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, Field

from pipeline.registry import register_training_only
from recsys.models.graph import drop_edges, normalized_adjacency
from recsys.training.objectives import ContrastiveObjective, node_contrast
from recsys.training.sampling import UniformNegativeSampler


class SGLConfig(BaseModel):
    sgl_drop_rate: float = Field(0.1, ge=0, lt=1, description="SGL-ED: edge dropout of each view, redrawn every epoch.")
    # The paper's λ (SGL-ED 0.1; SSLRec's Amazon-book config 0.1), on the papers' scale: the objective
    # multiplies it by 1/(L+1)^2 because our LightGCN scores BPR on the layer mean where SSLRec's SGL scores
    # the layer sum (recsys/training/objectives.py, evals/reports/contrastive_fidelity.md). Unscaled, 0.1
    # collapsed (ml-100k test R@20 0.02, BPR stuck at ln 2); the old default 0.002 unscaled is 0.032 here.
    sgl_weight: float = Field(0.1, ge=0, description="SGL: weight λ of the InfoNCE term, on the paper's scale.")
    sgl_paper_scale: bool = Field(
        True, description="SGL: read --sgl-weight on the papers' (layer-sum LightGCN) scale, i.e. multiply it by "
        "1/(L+1)^2 for our layer-mean LightGCN; --no-sgl-paper-scale uses the weight as given.")
    sgl_temperature: float = Field(0.2, gt=0, description="SGL: InfoNCE temperature.")


class SGLObjective(ContrastiveObjective):
    """SGL-ED (Wu et al., SIGIR 2021): each epoch two edge-dropout views s1, s2 of G (the same
    dropped graph at every layer); L = L_BPR + lambda * (InfoNCE over users + over items) between the
    views, lambda on the paper's scale (see :class:`ContrastiveObjective`). Works with any backbone; the
    model is ranked on the full graph."""

    def __init__(self, edges, num_users: int, num_items: int, reg: float, drop_rate: float, weight: float,
                 temperature: float, paper_scale: bool = True):
        super().__init__(edges, normalized_adjacency(edges, num_users, num_items),
                         UniformNegativeSampler(edges, num_items), reg, weight, temperature, paper_scale)
        self.num_users, self.num_items, self.drop_rate = num_users, num_items, drop_rate
        self.view_edges: tuple[torch.Tensor, torch.Tensor] | None = None
        self.views: tuple[torch.Tensor, torch.Tensor] | None = None

    def start_epoch(self, model, generator) -> None:
        self.view_edges = (drop_edges(self.edges, self.drop_rate, generator),
                           drop_edges(self.edges, self.drop_rate, generator))
        self.views = tuple(normalized_adjacency(e, self.num_users, self.num_items) for e in self.view_edges)

    def contrast(self, model, users, items, on_graph, generator) -> torch.Tensor:
        a, b = (model.user_item_embeddings(view) for view in self.views)
        return node_contrast(a, b, users, items, self.temperature)


def objective(data, config: SGLConfig, reg: float, model=None, text_embeddings=None) -> SGLObjective:
    return SGLObjective(data.train, data.num_users, data.num_items, reg, config.sgl_drop_rate, config.sgl_weight,
                        config.sgl_temperature, config.sgl_paper_scale)



METHOD = register_training_only(
    "sgl", 'SGL-ED (Wu et al., SIGIR 2021): InfoNCE between two edge-dropped views, added to BPR.',
    SGLConfig, objective)
