"""The untrained floors: most-popular and uniform-random rankings, evaluated like every trained method."""

from __future__ import annotations

from pipeline.options import RunOptions
from pipeline.registry import Method, register
from pipeline.stages import Stages
from recsys.data.split import DataConfig
from recsys.models.floors import PopularityRanking, RandomRanking
from recsys.training.trainer import OptimConfig, TrainResult, evaluate_fixed


def run(config, console, floor: str) -> tuple:
    stages = Stages(config, console)
    data = stages.data()

    def train(on_epoch) -> TrainResult:
        score = (PopularityRanking(data.train, data.num_items) if floor == "popularity"
                 else RandomRanking(data.num_items, config.training_seed))
        valid, test = evaluate_fixed(data, score, config.ks, config.eval_batch_size)
        return TrainResult(0, valid, test, 0)

    run_id, result = stages.train(floor, data, train)
    return run_id, result, stages.report


register(Method("popularity", "untrained floor: items ranked by training popularity.",
                (RunOptions, OptimConfig, DataConfig), ("data", "evaluate"), lambda c, console: run(c, console, "popularity")))
register(Method("random", "untrained floor: a seeded uniform-random ranking.",
                (RunOptions, OptimConfig, DataConfig), ("data", "evaluate"), lambda c, console: run(c, console, "random")))
