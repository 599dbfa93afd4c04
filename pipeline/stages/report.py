"""What a method's stages report: timings, notes, metrics and the hard-vs-noise confusion, and the
errors that stop a run (an LM budget, an incomplete judge)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# Fields that change how a run looks or how fast it goes, not what it computes.
NON_RESULT_FIELDS = {"store", "progress", "store_flush_seconds", "parallel", "retries", "backoff_s",
                     "retry_failed", "embedded_threads", "embedded_slots", "prompts_dir", "encoder_batch_size",
                     "threads", "config"}



@dataclass
class PipelineReport:
    """What the stages found, for the summary printed at the end and for the run's record."""

    stage_seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    confusion: pd.DataFrame | None = None

    def stage_timings(self) -> dict[str, float]:
        """Each stage's seconds under a run-timings key, e.g. stage_pretrain_candidates_seconds."""
        return {f"stage_{name.replace(' + ', '_').replace(' ', '_')}_seconds": seconds
                for name, seconds in self.stage_seconds.items()}


class BudgetExhausted(RuntimeError):
    """An LM stage stopped on its budget before finishing."""


class IncompleteJudge(BudgetExhausted):
    """The graph edit would read a judge with missing verdicts (refused unless --allow-partial)."""
