"""Build a graph backbone by name."""

from __future__ import annotations

import torch

BACKBONES = ("lightgcn", "ngcf")


def build_backbone(name: str, num_users: int, num_items: int, embedding_dim: int, num_layers: int,
                   dropout: float = 0.0) -> torch.nn.Module:
    # The backbones subclass torch_geometric's modules, which take 1.5 s to import: only when one is built.
    from recsys.models.lightgcn import LightGCN
    from recsys.models.ngcf import NGCF

    if name == "lightgcn":
        return LightGCN(num_users, num_items, embedding_dim, num_layers)
    if name == "ngcf":
        return NGCF(num_users, num_items, embedding_dim, num_layers, dropout)
    raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
