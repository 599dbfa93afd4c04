"""One module per training method, each registering a :class:`~pipeline.registry.Method` by name.
Importing this package registers them all, in the order `python -m recsys.train --help` lists them."""

from pipeline.methods import (  # noqa: F401  (each module registers its method)
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
from pipeline.registry import (
    METHODS,
    Method,
    build_objective,
    method_names,
    method_settings,
    objective_methods,
    options_of,
    own_config,
)

__all__ = ["METHODS", "Method", "build_objective", "method_names", "method_settings", "objective_methods",
           "options_of", "own_config"]
