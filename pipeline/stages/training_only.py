"""The stages of a training-only method: the data, then its objective fitted on --backbone and recorded."""

from __future__ import annotations

from collections.abc import Callable

import torch
from rich.console import Console

from pipeline.stages.report import PipelineReport
from pipeline.stages.runner import Stages
from recsys.denoising.decisions import down_weighting
from recsys.training.trainer import TrainResult, build_model


def train_objective(name: str, config, console: Console, build: Callable) -> tuple[str, TrainResult, PipelineReport]:
    """A training-only method: the data, then ``build(data, model)``'s objective fitted on --backbone and
    recorded. An objective that keeps a per-edge report (T-CE, R-CE) adds how it treated the injected edges."""
    stages = Stages(config, console)
    data = stages.data()
    torch.manual_seed(config.training_seed)
    model = build_model(data, config.backbone, config.optim_config())
    objective = build(data, model)

    def report_edges(result: TrainResult) -> None:
        result.extra_metrics["denoise"] = down_weighting(objective.edge_report(), data.train_is_noise)

    run_id, result = stages.fit(name, data, model, objective,
                                report_edges if hasattr(objective, "edge_report") else None)
    return run_id, result, stages.report
