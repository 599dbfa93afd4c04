"""The judge's DSPy programs: profiles from training interactions, and the dual-perspective verdict.

Each program is a small :class:`dspy.Module`; its state (instructions, demos) is what `prompts/`
saves and loads, so optimizing a prompt never means editing code. Every ``forward`` passes its
inputs, all third-party text, as delimited data (:func:`judge.injection.as_data`); the signatures'
instructions say that such text is never to be obeyed.
"""

from __future__ import annotations

import dspy

from judge.config import HardRule
from judge.injection import as_data, as_data_list
from judge.signatures import (
    ContrastNegativeSignature,
    HardnessScoreSignature,
    ItemViewSignature,
    PreferenceUpdateSignature,
    ProfileItemSignature,
    ProfileUserSignature,
    UserViewSignature,
)

"""How the two views' labels combine into hard (C_H) or noise (C_N); the paper's rule is both_high."""


class ProfileUser(dspy.Module):
    """A user profile from the user's training items only (never validation or test)."""

    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict(ProfileUserSignature)

    def forward(self, history: list[str]) -> dspy.Prediction:
        return self.predict(history=as_data_list(history))


class ProfileItem(dspy.Module):
    """An item profile from the item's text and a sample of the users who took it in training."""

    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict(ProfileItemSignature)

    def forward(self, item: str, takers: list[str]) -> dspy.Prediction:
        return self.predict(item=as_data(item), takers=as_data_list(takers))


class UserViewJudge(dspy.Module):
    """The user view: the candidate against the user's profile."""

    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict(UserViewSignature)

    def forward(self, user_profile: str, candidate_item: str) -> dspy.Prediction:
        return self.predict(user_profile=as_data(user_profile), candidate_item=as_data(candidate_item))


class ItemViewJudge(dspy.Module):
    """The item view: the candidate against the user's highest-scored interacted items."""

    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict(ItemViewSignature)

    def forward(self, user_top_items: list[str], candidate_item: str) -> dspy.Prediction:
        return self.predict(user_top_items=as_data_list(user_top_items), candidate_item=as_data(candidate_item))


def is_hard(user_label: str, item_label: str, rule: HardRule = "both_high") -> bool:
    """Combine the two views' labels: True puts the pair in C_H (hard), False in C_N (noise)."""
    labels = (user_label, item_label)
    if rule == "both_high":
        return labels == ("High", "High")
    if rule == "either_high":
        return "High" in labels
    if rule == "both_at_least_mid":
        return "Low" not in labels
    raise ValueError(f"unknown rule {rule!r}; choose one of {HardRule.__args__}")


class DualPerspectiveJudge(dspy.Module):
    """Both views on one candidate pair, combined by ``rule`` into hard or noise."""

    def __init__(self, rule: HardRule = "both_high"):
        super().__init__()
        self.rule = rule
        self.user_view = UserViewJudge()
        self.item_view = ItemViewJudge()

    def forward(self, user_profile: str, user_top_items: list[str], candidate_item: str) -> dspy.Prediction:
        user_verdict = self.user_view(user_profile=user_profile, candidate_item=candidate_item).verdict
        item_verdict = self.item_view(user_top_items=user_top_items, candidate_item=candidate_item).verdict
        return dspy.Prediction(
            user_verdict=user_verdict,
            item_verdict=item_verdict,
            hard=is_hard(user_verdict.label, item_verdict.label, self.rule),
        )


class LLMHDScorer(dspy.Module):
    """LLMHD's pointwise scorer: a candidate positive's consistency with the summarized preference, 1-10
    (high: a hard sample to keep; low: noise)."""

    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict(HardnessScoreSignature)

    def forward(self, user_preference: str, candidate_item: str) -> dspy.Prediction:
        return self.predict(user_preference=as_data(user_preference), candidate_item=as_data(candidate_item))


class LLMHDPreferenceUpdate(dspy.Module):
    """LLMHD's iterative preference update: the summary revised with the items last scored as likes and dislikes."""

    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict(PreferenceUpdateSignature)

    def forward(self, user_preference: str, liked_items: list[str], disliked_items: list[str]) -> dspy.Prediction:
        return self.predict(user_preference=as_data(user_preference), liked_items=as_data_list(liked_items),
                            disliked_items=as_data_list(disliked_items))


class ContrastNegative(dspy.Module):
    """HNLMRec-style semantic negative: a description of an item that resembles the user's history but
    that the user would not enjoy (mapped to real items by embedding search)."""

    def __init__(self):
        super().__init__()
        self.predict = dspy.Predict(ContrastNegativeSignature)

    def forward(self, history: list[str]) -> dspy.Prediction:
        return self.predict(history=as_data_list(history))
