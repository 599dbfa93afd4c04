"""The judge gate decides on the lower bound of the judge's 95% interval, not on its point estimate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from judge.quality import balanced_accuracy_of, user_bootstrap
from pipeline.stages.gate import JudgeGate


def simulated_verdicts(users: int, pairs_per_user: int, accuracy: float, seed: int = 0) -> pd.DataFrame:
    """Labeled low-scored positives (half hard, half noise) judged by a judge right with chance ``accuracy``."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        for item in range(pairs_per_user):
            hard = item % 2 == 0
            right = rng.random() < accuracy
            says_hard = hard if right else not hard
            label = "High" if says_hard else "Low"
            rows.append({"user_idx": user, "item_idx": item, "label": "hard" if hard else "noise",
                         "kind": "low_score_positive", "user_status": "ok", "item_status": "ok",
                         "user_label": label, "item_label": label})
    return pd.DataFrame(rows)


def gate_for(frame: pd.DataFrame, break_even: float) -> JudgeGate:
    accuracy = balanced_accuracy_of(frame, "both_high")
    interval = user_bootstrap(frame, lambda sample: balanced_accuracy_of(sample, "both_high"), draws=300)
    return JudgeGate(accuracy, break_even, source=f"{len(frame)} simulated pairs", interval=interval)


def test_a_gate_closes_on_a_wide_interval_and_opens_on_a_narrow_one():
    small, large = simulated_verdicts(16, 2, 0.85), simulated_verdicts(100, 8, 0.85)  # 32 pairs vs 800
    wide, narrow = gate_for(small, 0.7), gate_for(large, 0.7)
    assert wide.accuracy > 0.7 and not wide.passes and not wide.open  # the point estimate alone would open it
    assert narrow.passes and narrow.open and narrow.lower_bound >= 0.7
    assert narrow.interval[1] - narrow.interval[0] < wide.interval[1] - wide.interval[0]
    for gate in (wide, narrow):  # the message names the bound and the break-even it compared with
        assert f"lower bound {gate.interval[0]:.3f}" in gate.reason and "break-even 0.70" in gate.reason
    assert gate_for(small, 0.7).metrics()["gate_lower_bound"] == pytest.approx(wide.interval[0])


def test_no_interval_keeps_the_gate_closed_and_force_still_opens_it():
    gate = JudgeGate(0.95, 0.7, source="one user")
    assert not gate.passes and "no confidence interval" in gate.reason
    assert JudgeGate(0.95, 0.7, forced=True).open


def test_a_judge_of_known_accuracy_is_its_own_bound():
    assert JudgeGate(0.8, 0.75, exact=True).passes and not JudgeGate(0.7, 0.75, exact=True).passes
