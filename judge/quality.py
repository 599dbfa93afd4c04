"""The judge's quality on a labeled hard/noise set, from stored verdicts: the metrics `python -m evals.judge`
reports and the judge gate of the full model reads (:func:`stored_judge_accuracy`).

A labeled set (:mod:`judge.labels`, built by `python -m evals.labels`) is a candidate set whose pairs carry a gold hard/noise
label; its verdicts are stored like any other, keyed by LM and prompt hash.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, balanced_accuracy_score, cohen_kappa_score, confusion_matrix, f1_score

from judge.programs import HardRule, is_hard
from recsys.store import Store
from recsys.store.judge_evals import labeled_verdicts, most_judged_label_set


def verdict_frame(store: Store, label_set: str, lm: str, prompt_hash: str, parts: tuple[str, ...]) -> pd.DataFrame:
    """One row per labeled pair of ``parts``: its label and both views' stored verdicts (NULL if none)."""
    return labeled_verdicts(store, label_set, lm, prompt_hash, parts)


def classification_scores(gold_hard, predicted_hard) -> dict:
    """Accuracy, balanced accuracy, macro-F1, Cohen's kappa and the confusion (rows gold, columns
    predicted, hard first) of hard/noise decisions."""
    gold, predicted = np.asarray(gold_hard, dtype=bool), np.asarray(predicted_hard, dtype=bool)
    matrix = confusion_matrix(gold, predicted, labels=[True, False])
    single_class = len(set(gold) | set(predicted)) < 2  # kappa is undefined when everything is one class
    return {
        "n_pairs": int(gold.size),
        "accuracy": float(accuracy_score(gold, predicted)),
        "balanced_accuracy": float(balanced_accuracy_score(gold, predicted)) if len(set(gold)) > 1 else float("nan"),
        "macro_f1": float(f1_score(gold, predicted, labels=[True, False], average="macro", zero_division=0)),
        "kappa": 0.0 if single_class else float(cohen_kappa_score(gold, predicted)),
        "confusion": {"hard_as_hard": int(matrix[0, 0]), "hard_as_noise": int(matrix[0, 1]),
                      "noise_as_hard": int(matrix[1, 0]), "noise_as_noise": int(matrix[1, 1])},
    }


def judge_decisions(frame: pd.DataFrame, rule: HardRule) -> np.ndarray:
    """The rule's hard/noise decision per pair. A pair without two usable views gets what the
    pipeline does to it: nothing, so a positive stays (hard) and a negative is not added (noise)."""
    decided = (frame.user_status == "ok") & (frame.item_status == "ok")
    return np.array([
        is_hard(row.user_label, row.item_label, rule) if ok else row.kind == "low_score_positive"
        for row, ok in zip(frame.itertuples(), decided)])


def stored_judge_accuracy(store: Store, dataset_id: str, lm: str, prompt_hash: str, rule: HardRule,
                          part: str = "test") -> dict | None:
    """The judge's balanced accuracy on the ``part`` of the labeled set of ``dataset_id`` with the most
    pairs judged by both views of this LM and prompt; None if no labeled set of the dataset has its
    verdicts (``python -m evals.judge`` makes them). Pairs a view failed on count as left alone."""
    label_set = most_judged_label_set(store, dataset_id, lm, prompt_hash, part)
    if label_set is None:
        return None
    frame = verdict_frame(store, label_set, lm, prompt_hash, (part,))
    frame = frame[frame.user_status.notna() & frame.item_status.notna()]
    scores = classification_scores(frame.label == "hard", judge_decisions(frame, rule))
    return scores | {"label_set": label_set, "part": part}
