"""Negative sampling for BPR: the plain uniform sampler."""

from __future__ import annotations

import torch


class UniformNegativeSampler:
    """Draws, for each (user, positive) pair, an item the user has no training edge with.

    Rejection sampling against the sorted keys ``user * num_items + item`` of the training edges;
    the few collisions are redrawn, so each call costs a handful of vectorized passes.

    Args:
        train: [2, E] training (user, item) edges.
        num_items: Size of the catalogue.
        max_rounds: Redraw rounds before giving up on a user with almost every item observed.
    """

    def __init__(self, train: torch.Tensor, num_items: int, max_rounds: int = 20):
        self.num_items = num_items
        self.max_rounds = max_rounds
        self.observed = torch.unique(train[0] * num_items + train[1])  # sorted

    def is_observed(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * self.num_items + items
        position = torch.searchsorted(self.observed, keys).clamp(max=self.observed.numel() - 1)
        return self.observed[position] == keys

    def sample(self, users: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        items = torch.randint(self.num_items, users.shape, generator=generator)
        for _ in range(self.max_rounds):
            clash = self.is_observed(users, items)
            if not clash.any():
                break
            items[clash] = torch.randint(self.num_items, (int(clash.sum()),), generator=generator)
        return items
