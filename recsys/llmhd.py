"""LLMHD (Hard samples vs. noise with an LLM scorer, DESIGN.md's related method) as a training method.

The LM work (:mod:`judge.baseline_jobs`) scores the variance-pruned low-score positives 1-10 against
the user's summarized preference. Here the scores become decisions and the training objective:

* a candidate scored at least ``llmhd_keep_score`` is a hard sample: it stays in the graph and the
  loss-based denoiser (T-CE, the baseline LLMHD is built on) may never truncate it;
* a candidate scored below is noise and leaves the training graph;
* every other edge trains under T-CE's schedule as in the ``tce`` baseline.
"""

from __future__ import annotations

import pandas as pd
import torch
from pydantic import BaseModel, Field

from recsys.denoise import DECISION_COLUMNS, augmented_graph, decision_edges
from recsys.graph import edge_keys, normalized_adjacency
from recsys.objectives import BaselineConfig, TCEObjective
from recsys.sampling import UniformNegativeSampler
from recsys.split import SplitData


class LLMHDConfig(BaseModel):
    """LLMHD's scoring thresholds and update rounds. The seed paper's text gives no values; these are
    ours: a 1-10 score of at least ``llmhd_keep_score`` keeps the positive as hard."""

    llmhd_keep_score: int = Field(6, ge=1, le=10, description="LLMHD: a candidate scored at least this is hard (kept); "
                                  "below it, noise (removed from training).")
    llmhd_like_score: int = Field(8, ge=1, le=10, description="LLMHD: scores at least this are the likes a "
                                  "preference update adds.")
    llmhd_dislike_score: int = Field(3, ge=1, le=10, description="LLMHD: scores at most this are the dislikes a "
                                     "preference update drops.")
    llmhd_rounds: int = Field(1, ge=0, description="LLMHD: preference update rounds; each updates the users with a "
                              "like or dislike and re-scores their candidates.")


def llmhd_decisions(scores: dict[tuple[int, int], float], keep_score: int) -> pd.DataFrame:
    """One row per scored candidate positive: hard when its score is at least ``keep_score``."""
    rows = [(u, i, "low_score_positive", "hard" if score >= keep_score else "noise")
            for (u, i), score in sorted(scores.items())]
    return pd.DataFrame(rows, columns=DECISION_COLUMNS)


def llmhd_objective(data: SplitData, decisions: pd.DataFrame, config: BaselineConfig, reg: float
                    ) -> tuple[TCEObjective, dict[str, int]]:
    """T-CE on G minus the LLM's noise, with its hard samples protected from truncation; negatives are
    drawn against the original G (an edge judged noise is still an interaction, not a negative)."""
    edges, counts = augmented_graph(data, decisions)
    hard = decisions[decisions.decision == "hard"]
    protected = torch.isin(edge_keys(edges, data.num_items), edge_keys(decision_edges(hard), data.num_items))
    objective = TCEObjective(edges, normalized_adjacency(edges, data.num_users, data.num_items),
                             UniformNegativeSampler(data.train, data.num_items), reg, data.num_items,
                             config.tce_max_drop_rate, config.tce_num_gradual, protected=protected)
    return objective, counts | {"edges_protected": int(protected.sum())}
