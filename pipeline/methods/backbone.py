"""The backbones alone: LightGCN and NGCF trained with BPR and uniform negatives on the noisy graph G."""

from __future__ import annotations

from functools import partial

from pipeline.options import RunOptions
from pipeline.registry import Method, register
from pipeline.stages import Stages
from recsys.data.split import DataConfig
from recsys.models.graph import normalized_adjacency
from recsys.training.sampling import UniformNegativeSampler
from recsys.training.trainer import BPRObjective, OptimConfig, train_bpr


def objective(data, config, reg: float, model=None, text_embeddings=None) -> BPRObjective:
    """Plain BPR with uniform negatives on G: what :func:`recsys.training.trainer.train_bpr` fits."""
    return BPRObjective(data.train, normalized_adjacency(data.train, data.num_users, data.num_items),
                        UniformNegativeSampler(data.train, data.num_items), reg)


def run(config, console, backbone: str) -> tuple:
    stages = Stages(config, console)
    data = stages.data()
    run_id, result = stages.train(backbone, data, lambda on_epoch: train_bpr(
        data, backbone, config.optim_config(), config.training_seed, on_epoch, config.progress))
    return run_id, result, stages.report


for _name, _summary in (("lightgcn", "LightGCN (He et al., SIGIR 2020) with BPR, alone."),
                        ("ngcf", "NGCF (Wang et al., SIGIR 2019) with BPR, alone.")):
    register(Method(_name, _summary, (RunOptions, OptimConfig, DataConfig), ("data", "train"), partial(run, backbone=_name),
                    objective=objective))
