"""A dataset's rating scale: every rating threshold in the toolkit is derived from it.

A scale is the range of explicit ratings (``low``..``high``), an optional *implicit* value (a row
that records an interaction without a judgement, e.g. Book-Crossing's 0), and the default positive
threshold. From it come the thresholds that used to assume 1-5:

* positives: rating >= ``positive`` (the split; ``--positive-threshold`` overrides it);
* likes: rating >= ``like`` (a labeled *hard* pair, the confusion's "liked" bucket): the top quarter;
* dislikes: rating <= ``dislike`` (a labeled *noise* pair): the bottom quarter.

On MovieLens (1-5) these are 3, 4 and 2, the values the toolkit always used. Implicit rows are never
positives and never dislikes: they are not a judgement.
"""

from __future__ import annotations

import math
import re

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

LIKE_QUANTILE = 0.75  # share of the scale's range below the "liked" bucket
DISLIKE_QUANTILE = 0.25  # share of the scale's range at or below the "disliked" bucket


class RatingScale(BaseModel):
    """The explicit rating range of a dataset, its implicit value and its default positive threshold."""

    model_config = ConfigDict(frozen=True)

    low: float = Field(description="Lowest explicit rating.")
    high: float = Field(description="Highest explicit rating.")
    implicit: float | None = Field(None, description="Value of an interaction without a rating (never a dislike).")
    positive: float = Field(description="Default threshold: ratings at or above it are positives.")
    integral: bool = Field(True, description="Ratings are whole numbers (thresholds are rounded to them).")
    declared: bool = Field(False, description="Declared by the dataset or the user, not inferred from the values.")

    @model_validator(mode="after")
    def _ordered(self) -> RatingScale:
        if self.low > self.high:
            raise ValueError(f"rating scale {self.low:g}-{self.high:g} has its low end above its high end")
        return self

    @classmethod
    def infer(cls, ratings: np.ndarray, implicit: float | None = None, positive: float | None = None,
              declared: tuple[float, float] | None = None) -> RatingScale:
        """The scale of these ratings (implicit rows excluded); the default positive is the midpoint."""
        values = np.asarray(ratings, dtype=float)
        explicit = values[values != implicit] if implicit is not None else values
        if declared is not None:
            low, high = declared
        elif len(explicit):
            low, high = float(explicit.min()), float(explicit.max())
        else:  # only implicit rows: every interaction is one kind
            low = high = float(implicit if implicit is not None else 1.0)
        integral = bool(np.all(np.mod(explicit, 1) == 0)) and float(low).is_integer() and float(high).is_integer()
        if positive is None:
            midpoint = (low + high) / 2
            positive = math.ceil(midpoint) if integral else midpoint
        return cls(low=low, high=high, implicit=implicit, positive=positive, integral=integral,
                   declared=declared is not None)

    @property
    def binary(self) -> bool:
        """One explicit value only (e.g. a 0/1 interaction matrix): nothing is a dislike."""
        return self.low == self.high

    @computed_field  # stored with the scale, so SQL (the TUI's filters) reads the same threshold
    @property
    def like(self) -> float:
        """Ratings at or above this are liked (a labeled hard pair)."""
        value = self.low + LIKE_QUANTILE * (self.high - self.low)
        return math.ceil(value) if self.integral else value

    @computed_field
    @property
    def dislike(self) -> float:
        """Ratings at or below this are disliked (a labeled noise pair); below ``low`` when binary."""
        if self.binary:
            return self.low - 1
        value = self.low + DISLIKE_QUANTILE * (self.high - self.low)
        return math.floor(value) if self.integral else value

    def explicit_mask(self, ratings: np.ndarray) -> np.ndarray:
        """Rows that carry a judgement (not the implicit value)."""
        values = np.asarray(ratings, dtype=float)
        return np.ones(len(values), bool) if self.implicit is None else values != self.implicit

    def describe(self, positive: float | None = None) -> str:
        positive = self.positive if positive is None else positive
        implicit = f", implicit {self.implicit:g}" if self.implicit is not None else ""
        how = "declared" if self.declared else "inferred"
        if self.binary:
            return f"ratings {self.low:g} only ({how}{implicit}): binary interactions, every one a positive"
        return (f"ratings {self.low:g}-{self.high:g} ({how}{implicit}); positives >= {positive:g}, "
                f"liked >= {self.like:g}, disliked <= {self.dislike:g}")


def parse_scale(text: str) -> tuple[float, float]:
    """'1-10' or '0.5-5' -> (low, high)."""
    match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)\s*(?:-|\.\.|to)\s*(-?\d+(?:\.\d+)?)\s*", text)
    if not match:
        raise ValueError(f"rating scale {text!r} is not LOW-HIGH, e.g. 1-5 or 1-10")
    low, high = float(match.group(1)), float(match.group(2))
    if low > high:
        raise ValueError(f"rating scale {text!r} has its low end above its high end")
    return low, high
