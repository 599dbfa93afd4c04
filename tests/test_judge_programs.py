"""The judge's programs with DummyLM: typed outputs are parsed, and the combination rule holds."""

import dspy
import pytest
from dspy.utils import DummyLM
from dspy.utils.exceptions import AdapterParseError

from judge.programs import DualPerspectiveJudge, ProfileItem, ProfileUser, is_hard
from judge.signatures import ItemProfile, UserProfile, Verdict


def configured(answers):
    adapter = dspy.JSONAdapter()
    return dspy.context(lm=DummyLM(answers, adapter=adapter), adapter=adapter)


def test_profile_user_parses_a_pydantic_profile():
    answer = {"profile": {"summary": "Likes sci-fi.", "liked_genres": ["Sci-Fi", "Action"], "tastes": "1980s."}}
    with configured([answer]):
        profile = ProfileUser()(history=["Alien (1979). Genres: Horror, Sci-Fi."]).profile
    assert isinstance(profile, UserProfile)
    assert profile.liked_genres == ["Sci-Fi", "Action"]


def test_profile_item_parses_a_pydantic_profile():
    with configured([{"profile": {"summary": "A space horror film.", "audience": "Sci-fi horror fans."}}]):
        profile = ProfileItem()(item="Alien (1979)", takers=["Likes sci-fi."]).profile
    assert isinstance(profile, ItemProfile) and profile.audience == "Sci-fi horror fans."


@pytest.mark.parametrize(
    ("user_label", "item_label", "hard"),
    [("High", "High", True), ("High", "Mid", False), ("Low", "High", False), ("Mid", "Mid", False)],
)
def test_dual_perspective_judge_default_rule(user_label, item_label, hard):
    answers = [
        {"verdict": {"label": user_label, "rationale": "from the profile"}},
        {"verdict": {"label": item_label, "rationale": "from the history"}},
    ]
    with configured(answers):
        out = DualPerspectiveJudge()(user_profile="Likes sci-fi.", user_top_items=["Alien"], candidate_item="Aliens")
    assert isinstance(out.user_verdict, Verdict) and out.user_verdict.label == user_label
    assert out.item_verdict.label == item_label
    assert out.hard is hard


def test_combination_rules():
    high, mid, low = "High", "Mid", "Low"
    assert is_hard(high, mid, "either_high") and not is_hard(mid, mid, "either_high")
    assert is_hard(mid, high, "both_at_least_mid") and not is_hard(low, high, "both_at_least_mid")
    with pytest.raises(ValueError, match="unknown rule"):
        is_hard(high, high, "majority")


def test_an_invalid_label_is_a_parse_failure_not_a_verdict():
    with configured([{"verdict": {"label": "Very High", "rationale": "?"}}] * 4):
        with pytest.raises(AdapterParseError):  # the batch runner records it as a failure
            DualPerspectiveJudge()(user_profile="p", user_top_items=["a"], candidate_item="b")


def test_llmhd_scorer_parses_a_bounded_score_and_rejects_one_out_of_range():
    from judge.programs import LLMHDScorer
    from judge.signatures import HardnessScore

    with configured([{"hardness": {"score": 7, "reason": "a sci-fi classic"}}]):
        out = LLMHDScorer()(user_preference="Loves sci-fi.", candidate_item="Alien (1979)").hardness
    assert isinstance(out, HardnessScore) and out.score == 7
    with configured([{"hardness": {"score": 11, "reason": "too high"}}] * 2), pytest.raises(AdapterParseError):
        LLMHDScorer()(user_preference="Loves sci-fi.", candidate_item="Alien (1979)")


def test_llmhd_update_and_contrast_negative_parse():
    from judge.baseline_jobs import contrast_item_text
    from judge.programs import ContrastNegative, LLMHDPreferenceUpdate

    with configured([{"preference": {"summary": "Sci-fi, not romance."}}]):
        out = LLMHDPreferenceUpdate()(user_preference="Loves sci-fi.", liked_items=["Alien (1979)"],
                                      disliked_items=["Titanic (1997)"])
    assert out.preference.summary == "Sci-fi, not romance."
    item = {"title": "Space Romance", "genres": ["Romance", "Sci-Fi"], "description": "Love on Mars."}
    with configured([{"negative_item": item}]):
        negative = ContrastNegative()(history=["Alien (1979)"]).negative_item
    assert contrast_item_text(negative) == "Space Romance. Genres: Romance, Sci-Fi. Love on Mars."
