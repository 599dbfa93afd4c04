"""Rankings that learn nothing from pairs: the sanity floors every model must beat."""

from __future__ import annotations

import torch


class RandomRanking:
    """Uniformly random scores: the floor of any ranking."""

    def __init__(self, num_items: int, seed: int):
        self.num_items = num_items
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, users: torch.Tensor) -> torch.Tensor:
        return torch.rand(users.numel(), self.num_items, generator=self.generator)


class PopularityRanking:
    """Every user gets items ranked by their training degree."""

    def __init__(self, train: torch.Tensor, num_items: int):
        self.popularity = torch.bincount(train[1], minlength=num_items).float()

    def __call__(self, users: torch.Tensor) -> torch.Tensor:
        return self.popularity.expand(users.numel(), -1)
