"""Losses of the full model (docs/design.md, "The method, equation by equation").

* L_rec: BPR, PyG's :class:`~torch_geometric.nn.models.lightgcn.BPRLoss` (used by the trainer).
* L_al, L_de, L_hal: InfoNCE between two representations of the same nodes (or pairs), with the
  other rows of the batch as negatives; only the inputs differ:
  L_al aligns g(s_u) with g(s_i) of pseudo-positive pairs, L_de a node's encodings on G and G',
  L_hal its encodings on edge-dropped views of G and G'.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(anchor: torch.Tensor, positive: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""Row k of ``anchor`` must pick row k of ``positive`` among all rows:
    :math:`-\frac{1}{B}\sum_k \log \frac{\exp(\cos(a_k, p_k)/\tau)}{\sum_j \exp(\cos(a_k, p_j)/\tau)}`."""
    anchor = F.normalize(anchor, dim=-1)
    positive = F.normalize(positive, dim=-1)
    logits = anchor @ positive.T / temperature
    return F.cross_entropy(logits, torch.arange(anchor.size(0), device=anchor.device))
