"""A synthetic store of judged candidate pairs, written straight into the tables (:func:`tui.queries.insert_synthetic`),
for the benchmark, the tests and the README screenshot: no training and no LM, and 50,000 pairs in a few seconds.

The labels follow the ground truth loosely (injected edges mostly get Low, clean ones mostly High),
so that the lists and stats look like a judge that is right more often than not.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recsys.store import Store
from tui.queries import SyntheticFrames, insert_synthetic

LM = "openai/gpt-4o-mini"
PROMPT_HASH = "3f9a1c2b7d4e5f60"
PROFILE_HASH = "a1b2c3d4e5f60718"
SPLIT_ID = "demo|seed=7|realistic=0.1"
CANDIDATE_SET = f"{SPLIT_ID}|backbone=lightgcn|low=2|high=2|top=5"

# Well-known films, with their year and genres: enough to make a list read like a real one.
FILMS = [
    ("Toy Story", 1995, "Animation, Children's, Comedy"), ("GoldenEye", 1995, "Action, Adventure, Thriller"),
    ("Heat", 1995, "Action, Crime, Thriller"), ("Casablanca", 1942, "Drama, Romance, War"),
    ("Fargo", 1996, "Crime, Drama, Thriller"), ("Star Wars", 1977, "Action, Adventure, Sci-Fi"),
    ("The Godfather", 1972, "Action, Crime, Drama"), ("Pulp Fiction", 1994, "Crime, Drama"),
    ("Babe", 1995, "Children's, Comedy, Drama"), ("Twelve Monkeys", 1995, "Drama, Sci-Fi"),
    ("Braveheart", 1995, "Action, Drama, War"), ("Apollo 13", 1995, "Action, Drama, Thriller"),
    ("Clueless", 1995, "Comedy, Romance"), ("The Usual Suspects", 1995, "Crime, Thriller"),
    ("Alien", 1979, "Action, Horror, Sci-Fi"), ("Vertigo", 1958, "Mystery, Thriller"),
    ("Aladdin", 1992, "Animation, Children's, Comedy, Musical"), ("Scream", 1996, "Horror, Thriller"),
    ("Titanic", 1997, "Action, Drama, Romance"), ("Contact", 1997, "Drama, Sci-Fi"),
    ("Sense and Sensibility", 1995, "Drama, Romance"), ("Die Hard", 1988, "Action, Thriller"),
    ("Annie Hall", 1977, "Comedy, Romance"), ("The Shining", 1980, "Horror"),
    ("Groundhog Day", 1993, "Comedy, Romance"), ("Jurassic Park", 1993, "Action, Adventure, Sci-Fi"),
    ("Schindler's List", 1993, "Drama, War"), ("Mrs. Doubtfire", 1993, "Comedy"),
    ("Speed", 1994, "Action, Romance, Thriller"), ("The Lion King", 1994, "Animation, Children's, Musical"),
    ("Forrest Gump", 1994, "Comedy, Romance, War"), ("Blade Runner", 1982, "Film-Noir, Sci-Fi"),
    ("Amadeus", 1984, "Drama, Mystery"), ("Chinatown", 1974, "Film-Noir, Mystery, Thriller"),
    ("Jaws", 1975, "Action, Horror"), ("Psycho", 1960, "Horror, Romance, Thriller"),
    ("Mary Poppins", 1964, "Children's, Comedy, Musical"), ("Men in Black", 1997, "Action, Adventure, Sci-Fi"),
    ("The Full Monty", 1997, "Comedy"), ("Air Force One", 1997, "Action, Thriller"),
]
TASTES = ["action and thrillers", "family animation", "classic dramas", "crime stories", "science fiction",
          "romantic comedies", "horror", "war films"]
RATIONALE = {
    "user": {
        "High": "The profile's love of {taste} fits this film well.",
        "Mid": "Partly matches the profile's {taste}, but the tone differs.",
        "Low": "The profile says {taste}; this film is far from it.",
    },
    "item": {
        "High": "Close to the user's top items, which are mostly {taste}.",
        "Mid": "Shares a genre with one of the top items, not with the rest.",
        "Low": "Nothing like the user's top items ({taste}).",
    },
}


def build_store(path: str | Path, n_users: int = 12_500, n_items: int = 1_600, low_positives: int = 2,
                high_negatives: int = 2, top_positives: int = 5, failed_rate: float = 0.01, seed: int = 7) -> Store:
    """Write a store with ``n_users * (low_positives + high_negatives)`` judged pairs (two verdict rows each).

    The defaults give 50,000 pairs and 100,000 verdict rows.
    """
    per_user = low_positives + high_negatives + top_positives
    # Distinct items per user: a stride of 7 never repeats within a user when 7 does not divide n_items.
    if n_items % 7 == 0 or per_user > n_items:
        raise ValueError(f"n_items must exceed {per_user} and not be a multiple of 7")
    rng = np.random.default_rng(seed)
    store = Store(path)
    users = np.repeat(np.arange(n_users), per_user)
    starts = rng.integers(0, n_items, n_users)
    steps = np.tile(np.arange(per_user) * 7 + 1, n_users)
    item_idx = (np.repeat(starts, per_user) + steps) % n_items
    kinds = np.tile(["low_score_positive"] * low_positives + ["high_score_negative"] * high_negatives
                    + ["top_positive"] * top_positives, n_users)
    base = {"low_score_positive": 1.0, "high_score_negative": 4.0, "top_positive": 6.0}
    scores = np.array([base[k] for k in kinds]) + rng.normal(0, 0.6, len(kinds))
    candidates = pd.DataFrame({"candidate_set": CANDIDATE_SET, "split_id": SPLIT_ID, "user_idx": users,
                               "item_idx": item_idx, "kind": kinds, "score": scores.round(3)})
    # Ranks as the candidate picker gives them: lowest score first for positives, highest first otherwise.
    signed = np.where(candidates.kind == "low_score_positive", candidates.score, -candidates.score)
    candidates["rank"] = candidates.assign(signed=signed).groupby(["user_idx", "kind"]).signed.rank(
        method="first").astype(int) - 1

    pairs = candidates[candidates.kind != "top_positive"].reset_index(drop=True)
    positive = (pairs.kind == "low_score_positive").to_numpy()
    injected = positive & (rng.random(len(pairs)) < 0.35)
    rating = np.where(positive, np.where(injected, rng.integers(1, 3, len(pairs)), rng.integers(3, 6, len(pairs))),
                      rng.integers(1, 6, len(pairs))).astype(float)
    rated = positive | (rng.random(len(pairs)) < 0.3)
    liked = (~injected & positive) | (~positive & rated & (rating >= 4))
    taste = np.array(TASTES)[pairs.user_idx.to_numpy() % len(TASTES)]

    def labels() -> np.ndarray:
        # A judge that is right about 70% of the time: High for liked pairs, Low or Mid for the rest.
        right = rng.random(len(pairs)) < 0.7
        good = np.where(right, "High", rng.choice(["Mid", "Low"], len(pairs)))
        bad = np.where(right, rng.choice(["Low", "Mid"], len(pairs), p=[0.7, 0.3]), "High")
        return np.where(liked, good, bad)

    verdict_frames = []
    for view in ("user", "item"):
        label = labels()
        failed = rng.random(len(pairs)) < failed_rate
        verdict_frames.append(pd.DataFrame({
            "candidate_set": CANDIDATE_SET, "user_idx": pairs.user_idx, "item_idx": pairs.item_idx, "view": view,
            "lm": LM, "prompt_hash": PROMPT_HASH, "status": np.where(failed, "failed", "ok"),
            "label": np.where(failed, None, label),
            "rationale": np.where(failed, None, [RATIONALE[view][lab].format(taste=t) for lab, t in zip(label, taste)]),
            "error": np.where(failed, "timeout after 3 attempts", None), "attempts": 1, "judge_run_id": "demo-run",
        }))
    verdicts = pd.concat(verdict_frames, ignore_index=True)

    films = pd.DataFrame(FILMS, columns=["title", "year", "genres"])
    items = pd.DataFrame({"item_idx": np.arange(n_items)})
    items["title"] = [FILMS[i % len(FILMS)][0] + ("" if i < len(FILMS) else f" {i // len(FILMS) + 1}")
                      for i in items.item_idx]
    items["year"] = films.year.to_numpy()[items.item_idx % len(FILMS)]
    items["genres"] = films.genres.to_numpy()[items.item_idx % len(FILMS)]
    items["text"] = [f"{t} ({y}). Genres: {g}." for t, y, g in zip(items.title, items.year, items.genres)]
    train = pairs[positive].assign(is_injected_noise=injected[positive], rating=rating[positive])
    ratings = pairs[rated].assign(rating=rating[rated])
    user_profiles = pd.DataFrame({
        "entity_idx": np.arange(n_users),
        "text": [f"Watches mostly {TASTES[u % len(TASTES)]}, with a soft spot for older films. "
                 f"Favourite genres: {TASTES[u % len(TASTES)]}, drama." for u in range(n_users)]})
    item_profiles = items.assign(entity_idx=items.item_idx, text=[
        f"{t}: {'an' if g[0] in 'AEIOU' else 'a'} {g.split(',')[0].lower()} film from {y}. "
        f"Audience: fans of {g.lower()}."
        for t, y, g in zip(items.title, items.year, items.genres)])[["entity_idx", "text"]]

    insert_synthetic(store, SyntheticFrames(candidates, verdicts, items, train, ratings, user_profiles, item_profiles),
                     SPLIT_ID, CANDIDATE_SET, LM, PROFILE_HASH, n_users, n_items,
                     n_clean=int((~injected & positive).sum()), n_injected=int(injected.sum()))
    return store
