"""A handful of real calls to the embedded SmolLM2-135M through llama.cpp, offline."""

import pytest

from judge.lm import EMBEDDED_GGUF, LMConfig, configure_dspy, lm_identity
from judge.programs import DualPerspectiveJudge, ProfileUser
from judge.signatures import UserProfile, Verdict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded():
    config = LMConfig(embedded_slots=1)
    return config, configure_dspy(config)


def test_identity_names_the_model_file_and_its_digest(embedded):
    config, _ = embedded
    identity = lm_identity(config)
    assert identity.startswith(f"embedded/{EMBEDDED_GGUF}@") and len(identity.split("@")[1]) == 12


def test_schema_constrained_verdicts_parse(embedded):
    judge = DualPerspectiveJudge()
    pairs = [
        ("Loves 1980s science fiction and horror films.", ["Alien (1979)", "The Thing (1982)"],
         "Aliens (1986). Genres: Action, Sci-Fi, Thriller."),
        ("Enjoys romantic comedies.", ["Sleepless in Seattle (1993)"], "Die Hard (1988). Genres: Action, Thriller."),
    ]
    for profile, top_items, candidate in pairs:
        out = judge(user_profile=profile, user_top_items=top_items, candidate_item=candidate)
        assert isinstance(out.user_verdict, Verdict) and isinstance(out.item_verdict, Verdict)
        assert out.user_verdict.label in ("High", "Mid", "Low")
        assert len(out.item_verdict.rationale) <= 160  # the schema's maxLength held


def test_a_user_profile_parses(embedded):
    profile = ProfileUser()(history=["Star Wars (1977). Genres: Action, Sci-Fi.",
                                     "Blade Runner (1982). Genres: Film-Noir, Sci-Fi."]).profile
    assert isinstance(profile, UserProfile) and len(profile.liked_genres) <= 4


def test_label_probabilities_come_back_from_llama_cpp(embedded):
    import dspy

    from judge.calibration import label_probabilities
    from judge.lm import build_lm
    from judge.programs import UserViewJudge

    config, _ = embedded
    with dspy.context(lm=build_lm(config.model_copy(update={"logprobs": True}))):
        out = UserViewJudge()(user_profile="Loves animated family films.",
                              candidate_item="Toy Story (1995). Genres: Animation, Children's, Comedy.")
    probs = label_probabilities(out.logprobs)
    assert probs is not None and set(probs) == {"High", "Mid", "Low"}
    assert abs(sum(probs.values()) - 1) < 1e-9
    assert probs[out.verdict.label] > 0  # the label it wrote was among the alternatives it weighed


def test_llmhd_score_and_a_generated_negative_parse(embedded):
    from judge.programs import ContrastNegative, LLMHDScorer
    from judge.signatures import ContrastItem, HardnessScore

    score = LLMHDScorer()(user_preference="Loves 1980s science fiction and horror films.",
                          candidate_item="Aliens (1986). Genres: Action, Sci-Fi, Thriller.").hardness
    assert isinstance(score, HardnessScore) and 1 <= score.score <= 10  # the schema's bounds held
    negative = ContrastNegative()(history=["Alien (1979). Genres: Horror, Sci-Fi.",
                                           "The Thing (1982). Genres: Action, Horror, Sci-Fi."]).negative_item
    assert isinstance(negative, ContrastItem) and len(negative.genres) <= 3
