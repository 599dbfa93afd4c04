"""The stages every method is built from (:mod:`pipeline.stages.runner`), the judge gate, the report and
the training-only runner."""

from pipeline.stages.gate import JudgeGate
from pipeline.stages.report import NON_RESULT_FIELDS, BudgetExhausted, IncompleteJudge, PipelineReport
from pipeline.stages.runner import Stages
from pipeline.stages.training_only import train_objective

__all__ = ["NON_RESULT_FIELDS", "BudgetExhausted", "IncompleteJudge", "JudgeGate", "PipelineReport", "Stages",
           "train_objective"]
