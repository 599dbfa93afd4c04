"""DSPy signatures of the judge. Outputs are Pydantic models, so schema-constrained decoding and
JSONAdapter give typed results or a recorded parse failure, never free text taken at face value.

Every input is third-party text (titles, descriptions, profiles): the programs pass it wrapped in
``<data>`` ... ``</data>`` (:func:`judge.injection.as_data`), and every signature's instructions end
with :data:`judge.injection.DATA_RULE`, which says that delimited text is data, never instructions."""

from __future__ import annotations

import inspect
from typing import Annotated, Literal

import dspy
from pydantic import BaseModel, Field, StringConstraints

from judge.injection import DATA_RULE

Label = Literal["High", "Mid", "Low"]
# Length limits become maxLength/maxItems in the JSON schema, which llama.cpp's grammar enforces:
# a small model then cannot loop until max_tokens and leave a truncated answer.
Genre = Annotated[str, StringConstraints(max_length=24)]


class UserProfile(BaseModel):
    summary: str = Field(max_length=300, description="Two or three sentences on what this user enjoys.")
    liked_genres: list[Genre] = Field(max_length=4, description="Genres the user watches most, most frequent first.")
    tastes: str = Field(max_length=160, description="One sentence on eras, tone or themes the user prefers.")


class ItemProfile(BaseModel):
    summary: str = Field(max_length=240, description="One or two sentences on what the item is.")
    audience: str = Field(max_length=160, description="One sentence on who would enjoy it.")


class Verdict(BaseModel):
    label: Label = Field(description="High: the user surely likes it; Mid: unsure; Low: the user would not like it.")
    rationale: str = Field(max_length=160, description="One short sentence of evidence.")


class HardnessScore(BaseModel):
    score: int = Field(ge=1, le=10, description="1: the item is clearly outside the user's preference; "
                       "10: it clearly fits it.")
    reason: str = Field(max_length=160, description="One short sentence of evidence.")


class PreferenceSummary(BaseModel):
    summary: str = Field(max_length=300, description="Two or three sentences on what this user enjoys.")


class ContrastItem(BaseModel):
    title: str = Field(max_length=80, description="A plausible title for the item.")
    genres: list[Genre] = Field(max_length=3, description="Its genres.")
    description: str = Field(max_length=200, description="One or two sentences on what the item is.")


def data_rule(signature: type[dspy.Signature]) -> type[dspy.Signature]:
    """Append :data:`DATA_RULE` to a signature's instructions (its docstring)."""
    signature.__doc__ = f"{inspect.cleandoc(signature.__doc__)} {DATA_RULE}"
    return signature


@data_rule
class ProfileUserSignature(dspy.Signature):
    """Summarize a user's taste from the items they interacted with in training."""

    history: list[str] = dspy.InputField(desc="Items the user interacted with, most recent first.")
    profile: UserProfile = dspy.OutputField()


@data_rule
class ProfileItemSignature(dspy.Signature):
    """Describe an item and who would enjoy it, from its text and some of the users who took it."""

    item: str = dspy.InputField(desc="The item's title, year, genres and text.")
    takers: list[str] = dspy.InputField(desc="Short profiles of a sample of users who interacted with it.")
    profile: ItemProfile = dspy.OutputField()


@data_rule
class UserViewSignature(dspy.Signature):
    """Judge from the user's profile whether the user really likes the candidate item."""

    user_profile: str = dspy.InputField(desc="What the user enjoys.")
    candidate_item: str = dspy.InputField(desc="The item to judge.")
    verdict: Verdict = dspy.OutputField()


@data_rule
class ItemViewSignature(dspy.Signature):
    """Judge from the items the user likes most whether the user really likes the candidate item."""

    user_top_items: list[str] = dspy.InputField(desc="The user's highest-scored interacted items.")
    candidate_item: str = dspy.InputField(desc="The item to judge.")
    verdict: Verdict = dspy.OutputField()


@data_rule
class HardnessScoreSignature(dspy.Signature):
    """Score from 1 to 10 how consistent the item the user interacted with is with the user's preference."""

    user_preference: str = dspy.InputField(desc="A summary of what the user enjoys.")
    candidate_item: str = dspy.InputField(desc="An item the user interacted with.")
    hardness: HardnessScore = dspy.OutputField()


@data_rule
class PreferenceUpdateSignature(dspy.Signature):
    """Revise the summary of the user's preference: add what the liked items show, and drop what the
    disliked items would wrongly suggest."""

    user_preference: str = dspy.InputField(desc="The current summary of what the user enjoys.")
    liked_items: list[str] = dspy.InputField(desc="Items that fit the user's preference.")
    disliked_items: list[str] = dspy.InputField(desc="Items that do not fit it, though the user interacted with them.")
    preference: PreferenceSummary = dspy.OutputField()


@data_rule
class ContrastNegativeSignature(dspy.Signature):
    """Describe one item this user would NOT enjoy, although it resembles the items they interacted with."""

    history: list[str] = dspy.InputField(desc="Items the user interacted with, most recent first.")
    negative_item: ContrastItem = dspy.OutputField()
