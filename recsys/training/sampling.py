"""Negative sampling for BPR: the plain uniform sampler, and the semantic hard-negative sampler."""

from __future__ import annotations

import time

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
        items = torch.randint(self.num_items, users.shape, generator=generator, device=users.device)
        for _ in range(self.max_rounds):
            clash = self.is_observed(users, items)
            if not clash.any():
                break
            items[clash] = torch.randint(self.num_items, (int(clash.sum()),), generator=generator, device=users.device)
        return items


class SemanticNegativeSampler:
    """Module 1 of LLMHNI: hard negatives that the model likes but the semantics reject.

    Each epoch (:meth:`refresh`) the pool HN_u holds the ``pool_size`` non-interacted items that the
    current model scores highest for u. Of those, the ``keep`` with the *lowest* aligned semantic
    relevance sem(u, j) are the hard negatives that :meth:`sample` draws from. High model score with
    high semantic relevance marks a likely false negative: the user's ``neighbours`` nearest items in
    the semantic space (from FAISS) are never used as negatives at all.

    Args:
        train: [2, E] training edges; never sampled as negatives.
        user_sem: [U, d] L2-normalized aligned user vectors g(s_u).
        item_sem: [I, d] L2-normalized aligned item vectors g(s_i).
        neighbours: [U, k] each user's semantic nearest items (FAISS search), excluded as negatives.
        pool_size: |HN_u|, the top-scored negatives considered per user.
        keep: How many lowest-relevance pool members are sampled from.
        batch_size: Users scored at once in :meth:`refresh`.
    """

    def __init__(self, train: torch.Tensor, user_sem: torch.Tensor, item_sem: torch.Tensor,
                 neighbours: torch.Tensor, pool_size: int = 50, keep: int = 10, batch_size: int = 2048):
        num_users = user_sem.size(0)
        self.user_sem, self.item_sem = user_sem, item_sem
        self.pool_size, self.keep, self.batch_size = pool_size, keep, batch_size
        excluded = torch.cat([train, torch.stack([
            torch.arange(num_users).repeat_interleave(neighbours.size(1)), neighbours.reshape(-1)])], dim=1)
        excluded = excluded[:, excluded[1] >= 0]  # FAISS pads missing neighbours with -1
        self.excluded_rows, self.excluded_cols = excluded[0], excluded[1]
        self.hard = torch.zeros(num_users, keep, dtype=torch.long)

    @torch.no_grad()
    def refresh(self, user_emb: torch.Tensor, item_emb: torch.Tensor) -> None:
        """Rebuild every user's pool from the current model's scores."""
        num_users = user_emb.size(0)
        for start in range(0, num_users, self.batch_size):
            users = torch.arange(start, min(start + self.batch_size, num_users), device=user_emb.device)
            scores = user_emb[users] @ item_emb.T
            in_batch = (self.excluded_rows >= start) & (self.excluded_rows < start + users.numel())
            scores[self.excluded_rows[in_batch] - start, self.excluded_cols[in_batch]] = float("-inf")
            pool = scores.topk(self.pool_size, dim=1).indices  # [B, P]: HN_u
            relevance = (self.user_sem[users, None, :] * self.item_sem[pool]).sum(-1)  # sem(u, j)
            lowest = relevance.topk(self.keep, dim=1, largest=False).indices
            self.hard[users] = pool.gather(1, lowest)

    def sample(self, users: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        column = torch.randint(self.keep, users.shape, generator=generator, device=users.device)
        return self.hard[users, column]


class PoolNegativeSampler:
    """The high-score negative pool drawn per pair (the paper's HN_u at batch time): of ``candidates``
    uniform unobserved items, the one the current model scores highest, skipping the user's semantic
    ``neighbours`` (likely false negatives). DNS (Zhang et al., 2013) is the case without neighbours;
    one candidate is the uniform sampler.

    Call :meth:`bind` with the batch's embeddings before :meth:`sample` (detached: the choice is not trained).
    """

    def __init__(self, uniform: UniformNegativeSampler, candidates: int, neighbours: torch.Tensor | None = None):
        self.uniform, self.candidates, self.neighbours = uniform, candidates, neighbours
        self.user_emb: torch.Tensor | None = None
        self.item_emb: torch.Tensor | None = None

    def bind(self, user_emb: torch.Tensor, item_emb: torch.Tensor) -> None:
        self.user_emb, self.item_emb = user_emb.detach(), item_emb.detach()

    @torch.no_grad()
    def sample(self, users: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.candidates == 1:
            return self.uniform.sample(users, generator)
        if self.user_emb is None:
            raise RuntimeError(f"{type(self).__name__}.bind(user_emb, item_emb) must be called before sample()")
        pool = self.uniform.sample(users.repeat_interleave(self.candidates), generator).view(-1, self.candidates)
        scores = (self.user_emb[users, None, :] * self.item_emb[pool]).sum(-1)
        if self.neighbours is not None and self.neighbours.numel():
            near = (pool[:, :, None] == self.neighbours[users][:, None, :]).any(-1)
            scores = scores.masked_fill(near & ~near.all(1, keepdim=True), float("-inf"))
        return pool.gather(1, scores.argmax(1, keepdim=True)).squeeze(1)


class MixedNegativeSampler:
    """Uniform negatives with a ``share`` of them replaced by semantic hard negatives (a hard sampler
    may return -1 for a user it has none for: that draw stays uniform).

    Keeps the seconds spent refreshing and sampling in ``seconds`` (the trainer reports its share).
    """

    def __init__(self, uniform: UniformNegativeSampler, semantic, share: float):
        self.uniform, self.semantic, self.share = uniform, semantic, share
        self.seconds = 0.0

    @torch.no_grad()
    def refresh(self, user_emb: torch.Tensor, item_emb: torch.Tensor) -> None:
        start = time.perf_counter()
        if self.semantic is not None:
            self.semantic.refresh(user_emb, item_emb)
        self.seconds += time.perf_counter() - start

    def sample(self, users: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        start = time.perf_counter()
        negatives = self.uniform.sample(users, generator)
        if self.semantic is not None:
            take = (torch.rand(users.shape, generator=generator, device=users.device) < self.share).nonzero().squeeze(1)
            drawn = self.semantic.sample(users[take], generator)
            negatives[take[drawn >= 0]] = drawn[drawn >= 0]
        self.seconds += time.perf_counter() - start
        return negatives
