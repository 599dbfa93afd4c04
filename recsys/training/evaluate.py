"""Full-ranking evaluation: every item is ranked for every user, training items masked.

Recall@K and NDCG@K for several K come from torch_geometric's link-prediction metrics, fed one
batch of users at a time with the top-max(K) items.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
"""Maps a [B] tensor of user ids to a [B, num_items] score matrix."""


def _csr_rows(edges: torch.Tensor, num_users: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row pointers and item columns of edges sorted by user."""
    order = torch.argsort(edges[0] * (edges[1].max() + 1 if edges.numel() else 1) + edges[1])
    users, items = edges[0][order], edges[1][order]
    rowptr = torch.zeros(num_users + 1, dtype=torch.long)
    rowptr[1:] = torch.cumsum(torch.bincount(users, minlength=num_users), 0)
    return rowptr, items


class FullRankingEvaluator:
    """Recall@K and NDCG@K over all items for the users who have ground truth.

    Args:
        train: [2, E] training edges, masked out of every ranking.
        truth: [2, E'] held-out (valid or test) edges: the relevant items.
        num_users: Number of users.
        num_items: Number of items.
        ks: The cut-offs.
        batch_size: Users scored at once (memory is batch_size x num_items floats).
        device: Where the masks live and the rankings are cut (the score function must return
            scores there); the masks move once, here.
    """

    def __init__(
        self,
        train: torch.Tensor,
        truth: torch.Tensor,
        num_users: int,
        num_items: int,
        ks: Sequence[int] = (5, 10, 20),
        batch_size: int = 1024,
        device: str | torch.device = "cpu",
    ):
        self.ks = tuple(sorted(ks))
        self.num_items = num_items
        self.batch_size = batch_size
        self.device = torch.device(device)
        train, truth = train.cpu(), truth.cpu()
        self.train_rowptr, self.train_items = (t.to(self.device) for t in _csr_rows(train, num_users))
        self.truth_rowptr, self.truth_items = (t.to(self.device) for t in _csr_rows(truth, num_users))
        self.users = torch.unique(truth[0]).to(self.device)

    def _rows(self, rowptr: torch.Tensor, cols: torch.Tensor, users: torch.Tensor):
        """(local row index, column) pairs of the given users' edges."""
        counts = rowptr[users + 1] - rowptr[users]
        local = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), counts)
        starts = torch.repeat_interleave(rowptr[users], counts)
        offsets = torch.arange(int(counts.sum()), device=users.device) - torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        return local, cols[starts + offsets]

    @torch.no_grad()
    def __call__(self, score: ScoreFn) -> dict[str, float]:
        from torch_geometric.metrics import LinkPredMetricCollection, LinkPredNDCG, LinkPredRecall

        metrics = LinkPredMetricCollection(
            [LinkPredRecall(k) for k in self.ks] + [LinkPredNDCG(k) for k in self.ks]
        ).to(self.device)
        for start in range(0, self.users.numel(), self.batch_size):
            users = self.users[start : start + self.batch_size]
            scores = score(users).float().clone()
            rows, cols = self._rows(self.train_rowptr, self.train_items, users)
            scores[rows, cols] = float("-inf")
            top = scores.topk(self.ks[-1], dim=1).indices
            metrics.update(top, torch.stack(self._rows(self.truth_rowptr, self.truth_items, users)))
        names = {f"LinkPredRecall@{k}": f"recall@{k}" for k in self.ks}
        names |= {f"LinkPredNDCG@{k}": f"ndcg@{k}" for k in self.ks}
        return {names[key]: float(value) for key, value in metrics.compute().items()}
