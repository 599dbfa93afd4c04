"""One module per training method, each registering a :class:`~recsys.methods.base.Method` by name:
its options, its stages and its run. Importing this package registers them all, in the order
`python -m recsys.train --help` lists them.
"""

from __future__ import annotations

import torch

from recsys.data.split import SplitData
from recsys.methods import (  # noqa: F401  (each module registers its method)
    backbone,
    bpr_edited,
    dns,
    floors,
    hnlmrec,
    llmhd,
    llmhni,
    rce,
    rlmrec_con,
    sgl,
    simgcl,
    tce,
)
from recsys.methods.base import METHODS, Method, method_settings, own_config
from recsys.methods.dns import DNSConfig
from recsys.methods.rce import RCEConfig
from recsys.methods.rlmrec_con import RLMRecConConfig
from recsys.methods.sgl import SGLConfig
from recsys.methods.simgcl import SimGCLConfig
from recsys.methods.tce import TCEConfig
from recsys.models.graph import normalized_adjacency
from recsys.training.sampling import UniformNegativeSampler
from recsys.training.trainer import BPRObjective

# The training-only baselines whose objective :func:`build_objective` builds (bpr: the plain backbone).
BASELINE_OBJECTIVES = ("bpr", "dns", "tce", "rce", "sgl", "simgcl", "rlmrec_con")


class BaselineOptions(DNSConfig, TCEConfig, RCEConfig, SGLConfig, SimGCLConfig, RLMRecConConfig):
    """The training-only baselines' hyperparameters together, for code that builds several objectives
    (benchmarks, tests); each method's command line has only its own."""


def build_objective(name: str, data: SplitData, config, reg: float, model: torch.nn.Module,
                    text_embeddings: tuple[torch.Tensor, torch.Tensor] | None = None) -> BPRObjective:
    """The objective of baseline ``name`` (one of :data:`BASELINE_OBJECTIVES`) on ``data.train``, for
    :func:`recsys.training.trainer.fit`; ``config`` holds that method's fields. rlmrec_con needs
    ``text_embeddings`` and attaches its MLP to ``model``; simgcl needs a LightGCN ``model``."""
    if name == "bpr":
        return BPRObjective(data.train, normalized_adjacency(data.train, data.num_users, data.num_items),
                            UniformNegativeSampler(data.train, data.num_items), reg)
    if name in ("dns", "tce", "rce"):
        return globals()[name].objective(data, config, reg)
    if name in ("sgl", "simgcl"):
        return globals()[name].objective(data, config, reg, model)
    if name == "rlmrec_con":
        return rlmrec_con.objective(data, config, reg, model, text_embeddings)
    raise ValueError(f"unknown method {name!r}; choose one of {BASELINE_OBJECTIVES}")


__all__ = ["BASELINE_OBJECTIVES", "METHODS", "BaselineOptions", "Method", "build_objective", "method_settings",
           "own_config"]
