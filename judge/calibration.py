"""Label probabilities from token log-probabilities, and a hard/noise threshold tuned on dev.

llama.cpp (and OpenAI) return, for each generated token, its log-probability and the top
alternatives. The verdict's label is the JSON value after ``"label": "``; the alternatives at that
position give P(High), P(Mid) and P(Low). Labels can span several tokens (SmolLM2 writes "Low" as
L-o-w), so an alternative counts for every label it is a prefix of, and the three are renormalised.
At temperature 0 these are the model's unconstrained probabilities, read before the grammar masks
tokens that cannot continue the JSON.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import roc_curve

from judge.signatures import Label

LABELS: tuple[str, ...] = Label.__args__
_LABEL_VALUE = re.compile(r'"label"\s*:\s*"')


def _get(entry: Any, key: str) -> Any:
    return entry.get(key) if isinstance(entry, Mapping) else getattr(entry, key, None)


def label_probabilities(logprobs: Any) -> dict[str, float] | None:
    """P(label) at the label's first token, or None when the logprobs do not show it."""
    content = _get(logprobs, "content") if logprobs is not None else None
    if not content:
        return None
    tokens = [_get(entry, "token") or "" for entry in content]
    text = "".join(tokens)
    match = _LABEL_VALUE.search(text)
    if match is None:
        return None
    offset, start = match.end(), 0
    for entry, token in zip(content, tokens):
        if start <= offset < start + len(token):
            prefix = text[start:offset]  # a token may carry the opening quote and the label together
            mass = dict.fromkeys(LABELS, 0.0)
            for alternative in _get(entry, "top_logprobs") or []:
                candidate = _get(alternative, "token") or ""
                if not candidate.startswith(prefix) or len(candidate) == len(prefix):
                    continue
                rest = candidate[len(prefix):]
                for label in LABELS:
                    if label.startswith(rest) or rest.startswith(label):
                        mass[label] += math.exp(_get(alternative, "logprob"))
            total = sum(mass.values())
            return {label: value / total for label, value in mass.items()} if total > 0 else None
        start += len(token)
    return None


def label_probs_json(prediction: Any) -> str | None:
    """The prediction's label probabilities as JSON for the store, if its LM returned logprobs."""
    probs = label_probabilities(getattr(prediction, "logprobs", None) if prediction is not None else None)
    return json.dumps(probs) if probs is not None else None


def hard_probability(user_probs: Mapping[str, float], item_probs: Mapping[str, float]) -> float:
    """P(both views say High), taking the views as independent: the soft form of the both_high rule."""
    return user_probs["High"] * item_probs["High"]


def tune_threshold(scores: Sequence[float], gold_hard: Sequence[bool]) -> float:
    """The score threshold with the best balanced accuracy (Youden's J = TPR - FPR) on labeled pairs."""
    gold = np.asarray(gold_hard, dtype=bool)
    if gold.all() or not gold.any():
        raise ValueError("tuning a threshold needs both hard and noise pairs")
    fpr, tpr, thresholds = roc_curve(gold, np.asarray(scores, dtype=float))
    best = int(np.argmax(tpr - fpr))
    return float(min(thresholds[best], 1.0))  # roc_curve's first threshold is +inf (nothing hard)
