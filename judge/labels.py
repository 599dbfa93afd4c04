"""The labeled hard/noise set for the judge (built by `python -m evals.labels`, read by the evals and
the optimizer).

Labels come from the users' own explicit ratings: a pair is *hard* (a real preference the judge
should keep or add) when rated >= ``hard_min_rating`` and *noise* when rated <= ``noise_max_rating``
(by default the top and bottom quarter of the dataset's rating scale: 4 and 2 on MovieLens);
pairs in between stay unlabeled. The pairs are drawn the way the judge meets them, from a backbone
pretrained on the noisy split:

* low_score_positive: each user's lowest-scored training positives with a label (clean ones rated
  >= 4 are hard; injected ones, rated <= 2, are noise; randomly injected ones carry no rating and
  are noise by construction, so a random-noise set measures what the simulated judges of
  `python -m evals.judge_value` decide);
* high_score_negative: each user's highest-scored items without a training edge that have a label:
  reserved positives (``label_reserve``, held out of train, valid and test) are hard, items the user
  rated <= 2 are noise.

Validation and test edges are never drawn (the builder checks it). The set is split train/dev/test
by user, deterministically from the seed, so no user's pairs serve both as a demo and as a test item.
Human audits exported by the TUI (`python -m tui export`) override the rating labels of the same
pairs, keeping the labeler and the time. MovieLens may not be redistributed: the repository holds
this builder, and the set lives in the store.

The set is also a candidate set (the same id), so verdicts on it reuse the judge's tables, resume
after a kill and show up in the audit TUI.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import dspy
import numpy as np
import torch
from pydantic import Field, field_validator
from rich.table import Table

from judge.signatures import Verdict
from recsys.data.datasets import MOVIELENS_SCALE, DataValidationError
from recsys.data.ingest import split_scale
from recsys.data.scale import RatingScale
from recsys.data.split import DataConfig, SplitData, load_split, make_split
from recsys.data.texts import item_texts
from recsys.denoising.candidates import PretrainConfig, candidate_top_items, insert_candidates, pretrain_backbone
from recsys.store import Store
from recsys.store.labels import (
    add_audited_pair,
    count_leaked_pairs,
    has_labeled_pair,
    held_out_pairs,
    insert_label_set,
    insert_labeled_pairs,
    label_set_exists,
    label_set_split,
    labeled_pair_counts,
    labeled_pairs,
    set_audit_label,
    train_edges,
    unobserved_ratings,
    user_parts,
)
from recsys.store.splits import split_dataset_id
from recsys.training.runs import config_hash

PARTS = ("train", "dev", "test")
JUDGED_KINDS = ("low_score_positive", "high_score_negative")


class LabelSetConfig(DataConfig):
    """Which pairs get labels, and how the labeled set is split."""

    label_reserve: float = Field(
        0.1, ge=0.0, lt=0.5, description="Share of each user's positives held out of train/valid/test; "
        "high-scored reserved items are the set's hard negatives."
    )
    # 200: the gate needs an interval narrow enough to tell 0.55 from 0.8. On ml-100k, 20% random noise, 200 users
    # give 210 low-scored positive and 208 high-scored negative test pairs (60 gave 63 and 63), at about 1,200
    # verdict calls for dev and test (some 36 minutes on the embedded model, 2 cores).
    label_users: int = Field(200, gt=0, description="Labeled users: the first N by id, as the pipeline judges them "
                             "(200: at least 200 test pairs of the kind the gate reads on ml-100k).")
    label_low_positives: int = Field(3, ge=0, description="Lowest-scored labeled training positives per user.")
    label_high_negatives: int = Field(3, ge=0, description="Highest-scored labeled items without a training edge per user.")
    label_top_positives: int = Field(5, ge=1, description="Highest-scored training positives the item view reads.")
    hard_min_rating: float | None = Field(
        None, description="Rated at least this: hard, a real preference (default: the dataset's 'liked' threshold, "
        "the top quarter of its scale: 4 on 1-5, 8 on 1-10).")
    noise_max_rating: float | None = Field(
        None, description="Rated at most this: noise, the user did not like it (default: the dataset's 'disliked' "
        "threshold, the bottom quarter of its scale: 2 on 1-5, 3 on 1-10). Implicit rows are never labeled.")
    part_shares: tuple[float, float, float] = Field(
        (0.5, 0.15, 0.35), description="Shares of the labeled users in train (demos), dev (selection), test."
    )
    audits: list[Path] = Field(
        [], description="JSONL audit exports (python -m tui export) whose labels override the ratings' on "
        "the same pairs; pairs from other splits are skipped."
    )

    @field_validator("part_shares")
    @classmethod
    def _shares(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if min(value) <= 0 or abs(sum(value) - 1) > 1e-6:
            raise ValueError("part shares must be positive and sum to 1")
        return value

    def label_thresholds(self, scale: RatingScale) -> tuple[float, float]:
        """(hard at or above, noise at or below) on the dataset's scale, unless set."""
        hard = self.hard_min_rating if self.hard_min_rating is not None else scale.like
        noise = self.noise_max_rating if self.noise_max_rating is not None else scale.dislike
        return hard, noise

    def label_set_id(self, split_id: str, backbone_hash: str, scale: RatingScale = MOVIELENS_SCALE) -> str:
        shares = "-".join(f"{share:g}" for share in self.part_shares)
        hard, noise = self.label_thresholds(scale)
        return (f"labels|{split_id}|backbone={backbone_hash}|users={self.label_users}"
                f"|low={self.label_low_positives}|high={self.label_high_negatives}|top={self.label_top_positives}"
                f"|hard>={hard:g}|noise<={noise:g}|parts={shares}|unrated_injected=noise")


@dataclass
class LabelSet:
    label_set: str
    split_id: str
    created: bool
    audits_applied: int = 0
    audits_skipped: int = 0


def _label(rating: float, thresholds: tuple[float, float], scale: RatingScale) -> str | None:
    if scale.implicit is not None and rating == scale.implicit:
        return None  # an interaction without a judgement labels nothing
    if rating >= thresholds[0]:
        return "hard"
    if rating <= thresholds[1]:
        return "noise"
    return None


def assign_parts(users: list[int], shares: tuple[float, float, float], seed: int) -> dict[int, str]:
    """Users shuffled by the seed and cut by the shares: the same users and seed give the same parts."""
    order = np.random.default_rng(seed).permutation(sorted(users))
    cuts = np.floor(np.cumsum(shares)[:-1] * len(order) + 0.5).astype(int)
    return {int(user): part for part, chunk in zip(PARTS, np.split(order, cuts)) for user in chunk}


def _part_of_new_user(user: int, shares: tuple[float, float, float], seed: int) -> str:
    """A stable part for an audited user outside the drawn users (a hash, not the shuffle)."""
    position = zlib.crc32(f"{seed}:{user}".encode()) / 2**32
    return PARTS[int(np.searchsorted(np.cumsum(shares), position, side="right").clip(max=2))]


def select_labeled_pairs(store: Store, data: SplitData, user_emb: torch.Tensor, item_emb: torch.Tensor,
                         config: LabelSetConfig) -> tuple[list[tuple], list[tuple]]:
    """Candidate rows (user, item, kind, score, rank) and label rows (user, item, kind, origin, rating,
    part, label) for the first ``label_users`` users with training edges."""
    with store.connect() as con:
        dataset_id = split_dataset_id(con, data.split_id)
        train = train_edges(con, data.split_id)
        # Rated pairs outside train, valid and test: reserved positives and never-injected low ratings.
        unobserved = unobserved_ratings(con, data.split_id, dataset_id)
    users = sorted({user for user, *_ in train})[: config.label_users]
    chosen = set(users)
    train_by_user: dict[int, list[tuple]] = {}
    for user, item, rating, injected in train:
        if user in chosen:
            train_by_user.setdefault(user, []).append((item, rating, injected))
    pool_by_user: dict[int, list[tuple]] = {}
    for user, item, rating, reserved in unobserved:
        if user in chosen:
            pool_by_user.setdefault(user, []).append((item, rating, reserved))
    parts = assign_parts(users, config.part_shares, config.seed)
    scale = split_scale(store, data.split_id)
    thresholds = config.label_thresholds(scale)

    def label(rating: float) -> str | None:
        return _label(rating, thresholds, scale)

    def edge_label(rating: float | None, injected: bool) -> str | None:
        if rating is None:
            return "noise" if injected else None  # random injection: noise by construction, never rated
        return label(rating)

    candidates, labels = [], []
    for user in users:
        scores = item_emb @ user_emb[user]
        edges = sorted(train_by_user[user], key=lambda edge: (float(scores[edge[0]]), edge[0]))
        low = [edge for edge in edges if edge_label(edge[1], edge[2])]
        for rank, (item, rating, injected) in enumerate(low[: config.label_low_positives]):
            candidates.append((user, item, "low_score_positive", float(scores[item]), rank))
            labels.append((user, item, "low_score_positive", "train_injected" if injected else "train_clean",
                           rating, parts[user], edge_label(rating, injected)))
        for rank, (item, _, _) in enumerate(edges[::-1][: config.label_top_positives]):
            candidates.append((user, item, "top_positive", float(scores[item]), rank))
        pool = sorted((entry for entry in pool_by_user.get(user, []) if label(entry[1])),
                      key=lambda entry: (-float(scores[entry[0]]), entry[0]))
        for rank, (item, rating, reserved) in enumerate(pool[: config.label_high_negatives]):
            candidates.append((user, item, "high_score_negative", float(scores[item]), rank))
            labels.append((user, item, "high_score_negative", "reserved" if reserved else "rated_low",
                           rating, parts[user], label(rating)))
    return candidates, labels


def build_label_set(store: Store, config: LabelSetConfig, progress: bool = True,
                    flush_seconds: float = 5.0) -> LabelSet:
    """Make (or reuse) the split, the pretrained backbone's labeled pairs and the audits' overrides."""
    split_id = make_split(store, config.data_config())
    pretrain = PretrainConfig.model_validate(config.data_config().model_dump())
    label_set = config.label_set_id(split_id, config_hash(pretrain), split_scale(store, split_id))
    exists = label_set_exists(store, label_set)
    if not exists:
        data = load_split(store, split_id)
        run_id, result = pretrain_backbone(store, data, pretrain, progress, flush_seconds)
        candidates, labels = select_labeled_pairs(store, data, *result.embeddings, config)
        with store.transaction() as con:
            insert_candidates(con, label_set, split_id, run_id, config, candidates)
            insert_labeled_pairs(con, label_set, labels)
            insert_label_set(con, label_set, split_id, config.model_dump_json(exclude={"audits"}))
    built = LabelSet(label_set, split_id, created=not exists)
    for path in config.audits:
        applied, skipped = apply_audits(store, label_set, split_id, path, config)
        built.audits_applied += applied
        built.audits_skipped += skipped
    leaked = leaked_pairs(store, label_set)
    if leaked:
        raise RuntimeError(f"{leaked} labeled pairs are validation or test edges; the label set is invalid.")
    return built


AUDIT_FIELDS = ("split_id", "candidate_set", "user_idx", "item_idx", "kind", "label", "labeler", "labeled_at")


def read_audits(path: Path) -> list[dict]:
    """Audit lines from a TUI export; a malformed line is an error that names the line."""
    records = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            missing = [name for name in AUDIT_FIELDS if name not in record]
            if missing:
                raise ValueError(f"missing {', '.join(missing)}")
            if record["label"] not in ("hard", "noise") or record["kind"] not in JUDGED_KINDS:
                raise ValueError(f"label {record['label']!r} / kind {record['kind']!r} not recognised")
            record["labeled_at"] = datetime.fromisoformat(record["labeled_at"])
        except (json.JSONDecodeError, ValueError, TypeError) as error:
            raise DataValidationError(f"{path}:{number}: not an audit line ({error}); "
                                      "write the file with `python -m tui export`.") from error
        records.append(record)
    return records


def apply_audits(store: Store, label_set: str, split_id: str, path: Path, config: LabelSetConfig) -> tuple[int, int]:
    """Override (or add) labels from audits of the same split; the latest audit of a pair wins.

    Returns (applied, skipped): audits of another split, or of validation/test edges, are skipped."""
    records = sorted(read_audits(path), key=lambda record: record["labeled_at"])
    applied = skipped = 0
    with store.transaction() as con:
        held_out = held_out_pairs(con, split_id)
        parts = user_parts(con, label_set)
        for record in records:
            pair = (int(record["user_idx"]), int(record["item_idx"]))
            if record["split_id"] != split_id or pair in held_out:
                skipped += 1
                continue
            audit = {"label": record["label"], "labeler": record["labeler"], "labeled_at": record["labeled_at"],
                     "note": record.get("note")}
            if has_labeled_pair(con, label_set, *pair):
                set_audit_label(con, label_set, *pair, **audit)
            else:
                part = parts.setdefault(pair[0], _part_of_new_user(pair[0], config.part_shares, config.seed))
                # The item view reads the user's top items: they are copied from the audited candidate set.
                add_audited_pair(con, label_set, split_id, *pair, kind=record["kind"],
                                 audited_candidate_set=record["candidate_set"], part=part, **audit)
            applied += 1
    return applied, skipped


def leaked_pairs(store: Store, label_set: str) -> int:
    """Labeled pairs that are validation or test edges of the set's split (must be zero)."""
    return count_leaked_pairs(store, label_set)


def judge_examples(store: Store, label_set: str, parts: tuple[str, ...], user_profiles: dict[int, str]
                   ) -> list[dspy.Example]:
    """The labeled pairs of ``parts`` as judge inputs plus the gold ``hard``; pairs whose user has no
    profile are left out. ``verdict`` (High for hard, Low for noise) makes them usable as demos."""
    with store.connect() as con:
        split_id = label_set_split(con, label_set)
        rows = labeled_pairs(con, label_set, parts)
    top_items = candidate_top_items(store, label_set)
    texts = item_texts(store, split_id)
    examples = []
    for user, item, kind, part, label in rows:
        if user not in user_profiles:
            continue
        hard = label == "hard"
        rationale = ("The user's own rating marks this as a real preference." if hard
                     else "The user's own rating marks this as an item they did not like.")
        examples.append(dspy.Example(
            user_profile=user_profiles[user], user_top_items=[texts[i] for i in top_items.get(user, [])],
            candidate_item=texts[item], hard=hard, verdict=Verdict(label="High" if hard else "Low", rationale=rationale),
            user_idx=user, item_idx=item, kind=kind, part=part,
        ).with_inputs("user_profile", "user_top_items", "candidate_item"))
    return examples


def listwise_examples(store: Store, label_set: str, parts: tuple[str, ...], user_profiles: dict[int, str],
                      max_candidates: int) -> list[dspy.Example]:
    """The labeled pairs of ``parts`` grouped per user (chunks of at most ``max_candidates``, as the
    listwise judge is called) as listwise judge inputs plus the gold ``hard`` per candidate. ``judged``
    (High for hard, Low for noise, by candidate number) makes them usable as demos of either view."""
    from judge.listwise import CandidateVerdict, ListVerdicts, chunks, numbered

    by_user: dict[int, list[dspy.Example]] = {}
    for example in judge_examples(store, label_set, parts, user_profiles):
        by_user.setdefault(example.user_idx, []).append(example)
    examples = []
    for user, pairs in by_user.items():
        for chunk in chunks(pairs, max_candidates):
            items = [pair.candidate_item for pair in chunk]
            hard = [pair.hard for pair in chunk]
            examples.append(dspy.Example(
                user_profile=chunk[0].user_profile, user_top_items=chunk[0].user_top_items,
                candidate_items=items, candidates=numbered(items), hard=hard,
                judged=ListVerdicts(verdicts=[CandidateVerdict(candidate=number, label="High" if h else "Low")
                                              for number, h in enumerate(hard, start=1)]),
                user_idx=user, item_idx=[pair.item_idx for pair in chunk], part=chunk[0].part,
            ).with_inputs("user_profile", "user_top_items", "candidate_items"))
    return examples


def label_counts(store: Store, label_set: str) -> Table:
    rows = labeled_pair_counts(store, label_set)
    counts = Counter({tuple(row[:4]): row[4] for row in rows})
    table = Table(title="labeled pairs by part")
    for column in ("kind", "origin", "label", *PARTS):
        table.add_column(column, justify="right" if column in PARTS else "left")
    for kind, origin, label in sorted({row[1:4] for row in rows}):
        table.add_row(kind, origin, label, *(str(counts[(part, kind, origin, label)]) for part in PARTS))
    return table
