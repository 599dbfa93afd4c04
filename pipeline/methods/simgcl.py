"""SimGCL (Yu et al., SIGIR 2022): InfoNCE between two noise-perturbed LightGCN encodings, added to BPR.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field

from pipeline.registry import register_training_only
from recsys.models.graph import normalized_adjacency
from recsys.training.objectives import ContrastiveObjective, node_contrast
from recsys.training.sampling import UniformNegativeSampler


class SimGCLConfig(BaseModel):
    simgcl_eps: float = Field(0.1, ge=0, description="SimGCL: magnitude of the noise added after every layer.")
    # The paper's λ (SimGCL 0.1-0.5; SSLRec's Amazon-book config 0.1), on the papers' scale: the objective
    # multiplies it by 1/(L+1)^2, as for sgl_weight (evals/reports/contrastive_fidelity.md). Unscaled, 0.05 and
    # 0.1 fell to ml-100k test R@20 0.20 / 0.19; the old default 0.02 unscaled is 0.32 here.
    simgcl_weight: float = Field(0.1, ge=0, description="SimGCL: weight λ of the InfoNCE term, on the paper's scale.")
    simgcl_paper_scale: bool = Field(
        True, description="SimGCL: read --simgcl-weight on the papers' (layer-sum LightGCN) scale, i.e. multiply it "
        "by 1/(L+1)^2 for our layer-mean LightGCN; --no-simgcl-paper-scale uses the weight as given.")
    simgcl_temperature: float = Field(0.2, gt=0, description="SimGCL: InfoNCE temperature.")
    simgcl_layer0: bool = Field(
        False, description="SimGCL: include the (unperturbed) layer-0 embedding in the views' layer mean "
        "(the official code leaves it out; the ranked encoder always has it, as PyG's LightGCN does)."
    )


def perturbed_embeddings(model: torch.nn.Module, adj: torch.Tensor, eps: float,
                         generator: torch.Generator | None = None,
                         include_layer0: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    r"""SimGCL's perturbed LightGCN encoding (Yu et al., SIGIR 2022):
    e^(l) = A e^(l-1) + Δ^(l), Δ = sign(e) ⊙ normalize(U(0, 1)) · eps, propagated to the next layer.

    The result is the mean of e^(1..L), as in the official code (``include_layer0=False``), or PyG's
    LightGCN combination :math:`\sum_{l=0}^{L} \alpha_l e^{(l)}` with α = 1/(L+1) (``include_layer0=True``;
    with eps = 0 this is exactly ``model.user_item_embeddings(adj)``). LightGCN only."""
    from recsys.models.lightgcn import LightGCN

    if not isinstance(model, LightGCN):
        # a ValueError, as for any unsupported backbone choice (build_model raises one too)
        raise ValueError(  # noqa: TRY004
            f"SimGCL perturbs LightGCN's propagation; {type(model).__name__} is not supported")
    if model.num_layers == 0 and not include_layer0:
        raise ValueError("SimGCL needs at least one propagation layer (or include_layer0=True)")
    x = model.embedding.weight
    out = x * model.alpha[0] if include_layer0 else 0.0
    for layer, conv in enumerate(model.convs, start=1):
        x = conv(x, adj)
        noise = torch.rand(x.shape, generator=generator, device=x.device)
        x = x + torch.sign(x) * F.normalize(noise, dim=-1) * eps
        out = out + x * (model.alpha[layer] if include_layer0 else 1.0 / model.num_layers)
    return out[: model.num_users], out[model.num_users :]


class SimGCLObjective(ContrastiveObjective):
    """SimGCL (Yu et al., SIGIR 2022): L = L_BPR + lambda * InfoNCE between two
    :func:`perturbed_embeddings` of the batch's users and items. The ranked encoder is the backbone's own
    (PyG LightGCN, layer 0 included), so rankings are comparable with every other method."""

    def __init__(self, edges, num_users: int, num_items: int, reg: float, eps: float, weight: float,
                 temperature: float, include_layer0: bool = False, paper_scale: bool = True):
        super().__init__(edges, normalized_adjacency(edges, num_users, num_items),
                         UniformNegativeSampler(edges, num_items), reg, weight, temperature, paper_scale)
        self.eps, self.include_layer0 = eps, include_layer0

    def contrast(self, model, users, items, on_graph, generator) -> torch.Tensor:
        a, b = (perturbed_embeddings(model, self.adj, self.eps, generator, self.include_layer0) for _ in range(2))
        return node_contrast(a, b, users, items, self.temperature)


def objective(data, config: SimGCLConfig, reg: float, model=None, text_embeddings=None) -> SimGCLObjective:
    from recsys.models.lightgcn import LightGCN

    if not isinstance(model, LightGCN):
        raise ValueError(f"simgcl supports the LightGCN backbone only, not {type(model).__name__}")
    return SimGCLObjective(data.train, data.num_users, data.num_items, reg, config.simgcl_eps, config.simgcl_weight,
                           config.simgcl_temperature, config.simgcl_layer0, config.simgcl_paper_scale)



METHOD = register_training_only(
    "simgcl", 'SimGCL (Yu et al., SIGIR 2022): InfoNCE between two noise-perturbed LightGCN encodings, added to BPR.',
    SimGCLConfig, objective)
