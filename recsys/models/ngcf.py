"""NGCF (Wang et al., SIGIR 2019) as a PyG message-passing model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn import Embedding, Linear, ModuleList
from torch_geometric.nn.conv import MessagePassing
from torch_geometric.typing import Adj

from recsys.models.graph import symmetric_spmm


class NGCFConv(MessagePassing):
    r"""One NGCF layer on a normalized adjacency :math:`\mathcal{L}`:

    .. math::
        \mathbf{E}^{(l+1)} = \mathrm{LeakyReLU}\big(
            (\mathcal{L} + \mathbf{I})\mathbf{E}^{(l)} \mathbf{W}_1
            + (\mathcal{L}\mathbf{E}^{(l)} \odot \mathbf{E}^{(l)}) \mathbf{W}_2 \big)
    """

    def __init__(self, in_channels: int, out_channels: int, negative_slope: float = 0.2):
        super().__init__(aggr="add")
        self.lin_sum = Linear(in_channels, out_channels)
        self.lin_interaction = Linear(in_channels, out_channels)
        self.negative_slope = negative_slope

    def reset_parameters(self) -> None:
        for lin in (self.lin_sum, self.lin_interaction):
            torch.nn.init.xavier_uniform_(lin.weight)
            torch.nn.init.zeros_(lin.bias)

    def forward(self, x: Tensor, adj: Adj) -> Tensor:
        side = self.propagate(adj, x=x)
        out = self.lin_sum(side + x) + self.lin_interaction(side * x)
        return F.leaky_relu(out, self.negative_slope)

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return symmetric_spmm(adj_t, x)


class NGCF(torch.nn.Module):
    r"""Neural Graph Collaborative Filtering: the final embedding concatenates the
    L2-normalized outputs of every layer, :math:`\mathbf{e} = \|_{l=0}^{L} \mathbf{e}^{(l)}`.

    Args:
        num_users (int): Number of users.
        num_items (int): Number of items.
        embedding_dim (int): Size of the layer-0 embedding and of every layer.
        num_layers (int): Number of NGCF layers.
        dropout (float): Message dropout after every layer, in training only.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.num_users = num_users
        self.num_items = num_items
        self.dropout = dropout
        self.embedding = Embedding(num_users + num_items, embedding_dim)
        self.convs = ModuleList([NGCFConv(embedding_dim, embedding_dim) for _ in range(num_layers)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_uniform_(self.embedding.weight)
        for conv in self.convs:
            conv.reset_parameters()

    def get_embedding(self, adj: Adj) -> Tensor:
        x = self.embedding.weight
        outs = [x]
        for conv in self.convs:
            x = F.dropout(conv(x, adj), p=self.dropout, training=self.training)
            outs.append(F.normalize(x, dim=-1))
        return torch.cat(outs, dim=-1)

    def user_item_embeddings(self, adj: Adj) -> tuple[Tensor, Tensor]:
        out = self.get_embedding(adj)
        return out[: self.num_users], out[self.num_users :]

    def ego_embeddings(self, users: Tensor, items: Tensor) -> Tensor:
        return torch.cat([self.embedding(users), self.embedding(items + self.num_users)])
