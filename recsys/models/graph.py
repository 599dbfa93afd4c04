"""The user-item interaction graph as one normalized sparse adjacency, and products with it.

Nodes are users 0..U-1 followed by items U..U+I-1. LightGCN's propagation matrix is
D^{-1/2} A D^{-1/2} of the symmetric bipartite adjacency A. It is built once per graph and stored
as coalesced CSR, which torch multiplies without PyG's optional compiled extensions.
"""

from __future__ import annotations

import warnings

import torch


def bipartite_edge_index(edges: torch.Tensor, num_users: int) -> torch.Tensor:
    """[2, E] (user, item) pairs into [2, 2E] directed node edges in both directions."""
    users, items = edges[0], edges[1] + num_users
    return torch.stack([torch.cat([users, items]), torch.cat([items, users])])


def normalized_adjacency(
    edges: torch.Tensor,
    num_users: int,
    num_items: int,
    edge_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """The symmetric-normalized adjacency D^{-1/2} A D^{-1/2} as a sparse CSR tensor.

    Args:
        edges: [2, E] user and item indices of the training interactions.
        edge_weight: optional [E] weights (an edge dropped by a view has weight 0 or is absent).
    """
    num_nodes = num_users + num_items
    edge_index = bipartite_edge_index(edges, num_users)
    weight = (torch.ones(edge_index.size(1), device=edges.device) if edge_weight is None
              else edge_weight.repeat(2).float())
    degree = torch.zeros(num_nodes, device=edges.device).scatter_add_(0, edge_index[0], weight)
    inv_sqrt = degree.pow(-0.5).masked_fill_(degree == 0, 0.0)
    value = inv_sqrt[edge_index[0]] * weight * inv_sqrt[edge_index[1]]
    coo = torch.sparse_coo_tensor(edge_index, value, (num_nodes, num_nodes), check_invariants=False).coalesce()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return coo.to_sparse_csr()


class _SymmetricSpmm(torch.autograd.Function):
    """y = A x for a symmetric sparse A. The gradient A^T g is A g, which spares torch the CSR
    transpose it would otherwise build on every backward pass (6x the forward cost on ml-1m)."""

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, ctx.adj @ grad


def symmetric_spmm(adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Multiply by a symmetric normalized adjacency (see :func:`normalized_adjacency`)."""
    return _SymmetricSpmm.apply(adj, x)


def edge_keys(edges: torch.Tensor, num_items: int) -> torch.Tensor:
    return edges[0] * num_items + edges[1]


def edit_graph(train: torch.Tensor, remove: torch.Tensor, add: torch.Tensor, num_items: int) -> torch.Tensor:
    """G' = G minus the edges judged noise, plus the pairs judged hard (likely false negatives).

    All arguments are [2, E] (user, item) edges; the result is sorted by (user, item), without duplicates.
    """
    keys = edge_keys(train, num_items)
    kept = keys[~torch.isin(keys, edge_keys(remove, num_items))]
    merged = torch.unique(torch.cat([kept, edge_keys(add, num_items)]))
    return torch.stack([merged // num_items, merged % num_items])


def drop_edges(edges: torch.Tensor, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random view keeping each edge with probability 1 - rate (SGL-style edge dropout)."""
    keep = torch.rand(edges.size(1), generator=generator, device=edges.device) >= rate
    return edges[:, keep]
