"""The judge's quality on a labeled hard/noise set, from stored verdicts: the metrics `python -m evals.judge`
reports and the judge gate of the full model reads (:func:`stored_judge_accuracy`).

A labeled set (:mod:`judge.labels`, built by `python -m evals.labels`) is a candidate set whose pairs carry a gold hard/noise
label; its verdicts are stored like any other, keyed by LM and prompt hash.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
)

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


def user_bootstrap(frame: pd.DataFrame, statistic, draws: int = 1000, seed: int = 0) -> tuple[float, float] | None:
    """The 95% interval of ``statistic(frame)`` over resamples of the frame's users (a user's pairs stay
    together): the spread one labeled set of this size leaves, where no second seed was run. ``statistic``
    runs a thousand times: give it precomputed columns (see :func:`with_decisions`), not a model to rerun."""
    codes, users = pd.factorize(frame.user_idx)
    if len(users) < 2:
        return None
    rng = np.random.default_rng(seed)
    order = np.argsort(codes, kind="stable")
    rows = np.split(order, np.cumsum(np.bincount(codes, minlength=len(users)))[:-1])
    values = []
    for _ in range(draws):
        sample = frame.iloc[np.concatenate([rows[user] for user in rng.integers(len(users), size=len(users))])]
        value = statistic(sample)
        if not np.isnan(value):
            values.append(value)
    return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))) if values else None


def balanced_accuracy(gold_hard, predicted_hard) -> float:
    """The mean of the recalls on hard and on noise pairs (NaN with one gold class): sklearn's
    balanced_accuracy_score in numpy, fast enough for a bootstrap's thousand draws."""
    gold, predicted = np.asarray(gold_hard, dtype=bool), np.asarray(predicted_hard, dtype=bool)
    if gold.all() or not gold.any():
        return float("nan")
    return float((predicted[gold].mean() + (~predicted[~gold]).mean()) / 2)


def with_decisions(frame: pd.DataFrame, rule: HardRule) -> pd.DataFrame:
    """The users, labels and the rule's ``decision`` per pair of ``frame``: computed once, and only the
    columns a resample reads (a bootstrap copies them a thousand times)."""
    return frame[["user_idx", "label"]].assign(decision=judge_decisions(frame, rule))


def balanced_accuracy_of(frame: pd.DataFrame, rule: HardRule) -> float:
    decisions = frame["decision"] if "decision" in frame else judge_decisions(frame, rule)
    return balanced_accuracy(frame.label == "hard", decisions)


# The pair kind the graph edit removes: the judge gate scores the judge on it alone.
EDITED_KIND = "low_score_positive"


def stored_judge_accuracy(store: Store, dataset_id: str, lm: str, prompt_hash: str, rule: HardRule,
                          part: str = "test", kind: str | None = EDITED_KIND,
                          noise: tuple[str, float] | None = None) -> dict | None:
    """The judge's balanced accuracy, with its 95% interval (bootstrap over users), on the ``part`` pairs of
    ``kind`` (None: every kind) of the labeled set of ``dataset_id`` (and of ``noise``, where given) with the
    most pairs judged by both views of this LM and prompt; None if no such labeled set has its verdicts
    (``python -m evals.judge`` makes them). A pair a view failed on is an abstention: counted apart, not
    scored (scoring it as "left alone" would pull every judge toward the by-kind trivial judge)."""
    label_set = most_judged_label_set(store, dataset_id, lm, prompt_hash, part, noise)
    if label_set is None:
        return None
    frame = verdict_frame(store, label_set, lm, prompt_hash, (part,))
    frame = frame[frame.user_status.notna() & frame.item_status.notna()]
    if kind is not None:
        frame = frame[frame.kind == kind]
    decided = (frame.user_status == "ok") & (frame.item_status == "ok")
    scored = frame[decided]
    scores = classification_scores(scored.label == "hard", judge_decisions(scored, rule))
    interval = user_bootstrap(with_decisions(scored, rule), lambda sample: balanced_accuracy_of(sample, rule)) \
        if len(scored) else None
    return scores | {"label_set": label_set, "part": part, "kind": kind or "every kind",
                     "abstentions": int((~decided).sum()), "balanced_accuracy_ci": interval,
                     "base_rate_noise": float((scored.label != "hard").mean()) if len(scored) else float("nan")}


# What doing nothing decides per pair kind: a positive stays (hard), a negative is not added (noise); and the
# trivial judge that reads only the kind, the opposite ("hard only if the pair is not a training edge").
LEAVE_ALONE = {"low_score_positive": True, "high_score_negative": False}


# Scores a trivial judge reads from a labeled pair without any LM: the column and how reports name it. A higher
# score says "hard" (a real preference) for both kinds.
SCORE_JUDGES = {"backbone_score": "backbone score", "minilm_similarity": "MiniLM similarity"}


def auc_of(frame: pd.DataFrame, column: str) -> float:
    """ROC AUC of ``column`` for the hard label (threshold-free; 0.5 reads nothing), NaN on one class: the
    Mann-Whitney form of sklearn's roc_auc_score, fast enough for a bootstrap."""
    gold, scores = (frame.label == "hard").to_numpy(), frame[column].to_numpy(dtype=float)
    hard, noise = int(gold.sum()), int((~gold).sum())
    if not hard or not noise or np.isnan(scores).any():
        return float("nan")
    return float((rankdata(scores)[gold].sum() - hard * (hard + 1) / 2) / (hard * noise))


def scores_by_kind(frame: pd.DataFrame, rule: HardRule) -> dict[str, dict]:
    """Per pair kind: the pairs both views decided (failed or skipped views are abstentions, counted apart,
    not scored), their noise base rate, the judge's scores with a 95% interval (bootstrap over users) of its
    balanced accuracy, and the trivial judges on the same pairs: the two constant ones, and the AUC (with its
    interval) of each LM-free score the frame has (``SCORE_JUDGES``). Within one kind a constant judge has
    balanced accuracy 0.5: what the judge adds over the base rate shows there."""
    result = {}
    for kind in sorted(frame.kind.unique()):
        part = frame[frame.kind == kind]
        decided = (part.user_status == "ok") & (part.item_status == "ok")
        scored = part[decided]
        gold = (scored.label == "hard").to_numpy()
        leave = np.full(gold.size, LEAVE_ALONE.get(kind, True))
        result[kind] = {
            "pairs": len(part), "abstentions": int((~decided).sum()),
            "base_rate_noise": float((~gold).mean()) if gold.size else float("nan"),
            "judge": classification_scores(gold, judge_decisions(scored, rule)) | {
                "balanced_accuracy_ci": user_bootstrap(with_decisions(scored, rule), lambda s: balanced_accuracy_of(s, rule))
                if len(scored) else None},
            "leave alone": classification_scores(gold, leave),
            "by kind": classification_scores(gold, ~leave),
        }
        for column, name in SCORE_JUDGES.items():
            if column in scored and len(scored) and scored[column].notna().all():
                result[kind][name] = {"n_pairs": len(scored), "auc": auc_of(scored, column),
                                      "auc_ci": user_bootstrap(scored[["user_idx", "label", column]],
                                                              lambda s, c=column: auc_of(s, c))}
    return result
