"""The backbones alone: LightGCN and NGCF trained with BPR and uniform negatives on the noisy graph G."""

from __future__ import annotations

from functools import partial

from recsys.data.split import DataConfig
from recsys.methods.base import Method, register
from recsys.stages import Stages
from recsys.stages.options import RunOptions
from recsys.training.trainer import OptimConfig, train_bpr


def run(config, console, backbone: str) -> tuple:
    stages = Stages(config, console)
    data = stages.data()
    run_id, result = stages.train(backbone, data, lambda on_epoch: train_bpr(
        data, backbone, config.optim_config(), config.training_seed, on_epoch, config.progress))
    return run_id, result, stages.report


for _name, _summary in (("lightgcn", "LightGCN (He et al., SIGIR 2020) with BPR, alone."),
                        ("ngcf", "NGCF (Wang et al., SIGIR 2019) with BPR, alone.")):
    register(Method(_name, _summary, (RunOptions, OptimConfig, DataConfig), ("data", "train"), partial(run, backbone=_name)))
