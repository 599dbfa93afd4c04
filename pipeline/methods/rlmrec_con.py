"""RLMRec-Con (Ren et al., WWW 2024): InfoNCE between CF embeddings and MLP-mapped LLM-profile embeddings.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, Field

from judge.config import LMConfig, RunnerConfig
from judge.embeddings import EncoderConfig
from pipeline.options import BackboneOptions, ProfileOptions, RunOptions
from pipeline.registry import Method, register
from pipeline.stages import Stages
from recsys.data.split import DataConfig
from recsys.models.graph import normalized_adjacency
from recsys.training.losses import info_nce
from recsys.training.objectives import ContrastiveObjective
from recsys.training.sampling import UniformNegativeSampler
from recsys.training.trainer import OptimConfig, build_model


class RLMRecConConfig(BaseModel):
    # The official kd_weight for Amazon-book and Yelp (RLMRec's lightgcn_plus.yml), set for its layer-sum LightGCN
    # (`sum(embeds_list)`), so on the papers' scale like SGL's λ. Used as given on PyG's layer-mean encoder it is
    # 16x too strong: 0.01 collapsed the collapse guard's graph (valid R@20 0.17 against BPR's 0.62).
    rlmrec_weight: float = Field(0.01, ge=0, description="RLMRec-Con: weight of the CF-text InfoNCE term, on the "
                                 "paper's scale.")
    rlmrec_paper_scale: bool = Field(
        True, description="RLMRec-Con: read --rlmrec-weight on the paper's layer-sum scale (x 1/(L+1)^2 on LightGCN); "
        "--no-rlmrec-paper-scale uses it as given (before 2026-12-06: 0.01 as given is 0.16 on the paper's scale).")
    rlmrec_temperature: float = Field(0.2, gt=0, description="RLMRec-Con: InfoNCE temperature.")
    rlmrec_hidden: int | None = Field(
        None, gt=0, description="RLMRec-Con: hidden size of the text-to-CF MLP (default (text dim + CF dim) // 2, "
        "as in the official code)."
    )


def rlmrec_projector(text_dim: int, cf_dim: int, hidden: int | None = None) -> torch.nn.Sequential:
    """RLMRec-Con's text-to-CF MLP: Linear, LeakyReLU, Linear, Xavier-initialised (official code)."""
    hidden = hidden or (text_dim + cf_dim) // 2
    mlp = torch.nn.Sequential(torch.nn.Linear(text_dim, hidden), torch.nn.LeakyReLU(), torch.nn.Linear(hidden, cf_dim))
    for layer in (mlp[0], mlp[2]):
        torch.nn.init.xavier_uniform_(layer.weight)
    return mlp


def attach_parameters(model: torch.nn.Module, module: torch.nn.Module, name: str = "rlmrec_projector"
                      ) -> torch.nn.Module:
    """Register ``module`` as a submodule of ``model``, so the optimizer that :func:`recsys.training.trainer.fit`
    builds from ``model.parameters()`` trains it, and the best-epoch state dict saves it. Call it
    before ``fit``."""
    model.add_module(name, module)
    return module


class CFProfileContrast:
    """RLMRec-Con's term L_rlm (not the paper's L_al, which trains the semantic projector g before training:
    :func:`recsys.denoising.semantic.train_projector`): InfoNCE between each batch node's CF embedding (after propagation) and its
    MLP-mapped profile embedding, with the batch's other nodes as negatives; users plus items, one
    shared MLP (as in the official code). LLMHNI adds it too (``lambda_rlmrec``).

    Users and items without a profile (all-zero rows, and False in the optional masks) are left out.
    The MLP must be trained with the model: build it with :func:`cf_profile_contrast`, which attaches it.
    """

    def __init__(self, user_text: torch.Tensor, item_text: torch.Tensor, projector: torch.nn.Module,
                 temperature: float, user_mask: torch.Tensor | None = None, item_mask: torch.Tensor | None = None):
        self.user_text, self.item_text, self.projector = user_text.float(), item_text.float(), projector
        self.temperature = temperature
        # a zero row is never a profile, whatever the masks say
        self.user_mask = (user_text.abs().sum(-1) > 0) & (True if user_mask is None else user_mask)
        self.item_mask = (item_text.abs().sum(-1) > 0) & (True if item_mask is None else item_mask)

    def _term(self, cf: torch.Tensor, text: torch.Tensor, nodes: torch.Tensor) -> torch.Tensor:
        if nodes.numel() == 0:  # cross-entropy over zero rows is NaN
            return cf.new_zeros(())
        return info_nce(cf[nodes], self.projector(text[nodes]), self.temperature)

    def __call__(self, on_graph: tuple[torch.Tensor, torch.Tensor], users: torch.Tensor, items: torch.Tensor
                 ) -> torch.Tensor:
        users, items = users[self.user_mask[users]], items[self.item_mask[items]]
        return self._term(on_graph[0], self.user_text, users) + self._term(on_graph[1], self.item_text, items)


def attach_projector(model: torch.nn.Module, adj: torch.Tensor, user_text: torch.Tensor, item_text: torch.Tensor,
                     hidden: int | None = None) -> torch.nn.Module:
    """The text-to-CF MLP for ``model``'s embedding size, attached to it (call before ``fit``)."""
    num_users, num_items = model.num_users, model.num_items
    if user_text.size(0) != num_users or item_text.size(0) != num_items:
        raise ValueError(f"text embeddings have {user_text.size(0)} users and {item_text.size(0)} items; "
                         f"the data has {num_users} and {num_items}")
    with torch.no_grad():  # NGCF's output concatenates its layers: read the CF size off the model
        cf_dim = model.user_item_embeddings(adj)[0].size(1)
    return attach_parameters(model, rlmrec_projector(user_text.size(1), cf_dim, hidden))


def cf_profile_contrast(model: torch.nn.Module, adj: torch.Tensor, user_text: torch.Tensor, item_text: torch.Tensor,
                        temperature: float, hidden: int | None = None) -> CFProfileContrast:
    """RLMRec-Con's term L_rlm for ``model``, its MLP attached to it (call before ``fit``)."""
    return CFProfileContrast(user_text, item_text, attach_projector(model, adj, user_text, item_text, hidden),
                             temperature)


class RLMRecConObjective(ContrastiveObjective):
    """RLMRec-Con (Ren et al., WWW 2024): L = L_BPR + lambda * :class:`CFProfileContrast` on G, with
    uniform negatives."""

    def __init__(self, edges, num_users: int, num_items: int, reg: float, user_text: torch.Tensor,
                 item_text: torch.Tensor, projector: torch.nn.Module, weight: float, temperature: float,
                 user_mask: torch.Tensor | None = None, item_mask: torch.Tensor | None = None,
                 paper_scale: bool = False):
        super().__init__(edges, normalized_adjacency(edges, num_users, num_items),
                         UniformNegativeSampler(edges, num_items), reg, weight, temperature, paper_scale)
        self.alignment = CFProfileContrast(user_text, item_text, projector, temperature, user_mask, item_mask)

    @property
    def projector(self) -> torch.nn.Module:
        return self.alignment.projector

    @property
    def user_mask(self) -> torch.Tensor:
        return self.alignment.user_mask

    @property
    def item_mask(self) -> torch.Tensor:
        return self.alignment.item_mask

    def contrast(self, model, users, items, on_graph, generator) -> torch.Tensor:
        return self.alignment(on_graph, users, items)


def objective(data, config: RLMRecConConfig, reg: float, model: torch.nn.Module,
              text_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None) -> RLMRecConObjective:
    """``text_embeddings`` (user [U, s], item [I, s]) are required; the MLP is attached to ``model``
    (so build the objective before calling fit)."""
    if text_embeddings is None:
        raise ValueError("rlmrec_con needs text_embeddings=(user [U, s], item [I, s])")
    user_text, item_text = text_embeddings
    adj = normalized_adjacency(data.train, data.num_users, data.num_items)
    projector = attach_projector(model, adj, user_text, item_text, config.rlmrec_hidden)
    return RLMRecConObjective(data.train, data.num_users, data.num_items, reg, user_text, item_text, projector,
                              config.rlmrec_weight, config.rlmrec_temperature,
                              paper_scale=config.rlmrec_paper_scale)


def run(config, console) -> tuple:
    """The (stored) profiles and their embeddings first, then BPR plus the CF-text contrast."""
    stages = Stages(config, console)
    data = stages.data()
    programs = stages.programs()
    stages.profiles(data.split_id, programs)
    text = stages.embeddings(data, programs)
    torch.manual_seed(config.training_seed)
    model = build_model(data, config.backbone, config.optim_config())
    run_id, result = stages.fit("rlmrec_con", data, model, objective(data, config, config.optim_config().reg, model, text))
    return run_id, result, stages.report


METHOD = register(Method(
    "rlmrec_con", 'RLMRec-Con (Ren et al., WWW 2024): InfoNCE between CF embeddings and MLP-mapped LLM-profile embeddings.',
    (RLMRecConConfig, ProfileOptions, EncoderConfig, LMConfig, RunnerConfig, BackboneOptions, RunOptions, OptimConfig, DataConfig), ('data', 'profiles', 'embeddings', 'train'), run, uses_lm=True,
    lm_work=("user profiles", "item profiles"), objective=objective))
