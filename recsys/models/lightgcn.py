"""LightGCN (He et al., SIGIR 2020) on a bipartite user-item graph, using PyG's implementation."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import ModuleList
from torch_geometric.nn.conv import LGConv
from torch_geometric.nn.models import LightGCN as PyGLightGCN
from torch_geometric.typing import Adj

from recsys.models.graph import symmetric_spmm


class SymmetricLGConv(LGConv):
    """:class:`~torch_geometric.nn.conv.LGConv` on a pre-normalized symmetric adjacency."""

    def __init__(self):
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return symmetric_spmm(adj_t, x)


class LightGCN(PyGLightGCN):
    r"""PyG's :class:`~torch_geometric.nn.models.LightGCN` with users and items as one node set.

    The final embedding is the mean of the layer outputs,
    :math:`\mathbf{e} = \frac{1}{L+1}\sum_{l=0}^{L} \mathbf{e}^{(l)}`. The adjacency passed to
    :meth:`user_item_embeddings` is already normalized (see :mod:`recsys.models.graph`), so the
    convolutions skip their own per-call normalization and use its symmetry in the backward pass.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int): Embedding size.
        num_layers (int): Number of propagation layers.
    """

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64, num_layers: int = 3):
        super().__init__(num_users + num_items, embedding_dim, num_layers)
        self.convs = ModuleList([SymmetricLGConv() for _ in range(num_layers)])
        self.num_users = num_users
        self.num_items = num_items

    def user_item_embeddings(self, adj: Tensor) -> tuple[Tensor, Tensor]:
        """Propagate on ``adj`` and return (user embeddings [U, d], item embeddings [I, d])."""
        out = self.get_embedding(adj)
        return out[: self.num_users], out[self.num_users :]

    def ego_embeddings(self, users: Tensor, items: Tensor) -> Tensor:
        """The layer-0 embeddings of a batch, which L2 regularization acts on."""
        return torch.cat([self.embedding(users), self.embedding(items + self.num_users)])
