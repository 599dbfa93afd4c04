"""The judge measured on labeled sets: stored verdicts beside the gold labels (``labeled_pairs`` joined
to ``verdicts``), and the ``judge_evals`` table of recorded scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from recsys.store.database import Store

# The score columns of judge_evals; whatever else an evaluation reports goes into its details JSON.
JUDGE_EVAL_SCORES = ("n_pairs", "accuracy", "balanced_accuracy", "macro_f1", "kappa", "parse_failure_rate",
                     "lm_calls", "prompt_tokens", "completion_tokens", "cost", "seconds")


def labeled_verdicts(store: Store, label_set: str, lm: str, prompt_hash: str, parts: Sequence[str]) -> pd.DataFrame:
    """One row per labeled pair of ``parts`` (by user, item): its label, the pretrained backbone's score that
    selected it, and both views' stored verdicts for this LM and prompt (NULL if none), with their summed
    calls, tokens, cost and seconds."""
    with store.connect() as con:
        return con.execute(
            "SELECT l.user_idx, l.item_idx, l.kind, l.origin, l.part, l.label, "
            "u.status AS user_status, u.label AS user_label, u.error_kind AS user_error, u.label_probs AS user_probs, "
            "i.status AS item_status, i.label AS item_label, i.error_kind AS item_error, i.label_probs AS item_probs, "
            "coalesce(u.attempts, 0) + coalesce(i.attempts, 0) AS lm_calls, "
            "coalesce(u.prompt_tokens, 0) + coalesce(i.prompt_tokens, 0) AS prompt_tokens, "
            "coalesce(u.completion_tokens, 0) + coalesce(i.completion_tokens, 0) AS completion_tokens, "
            "coalesce(u.cost, 0) + coalesce(i.cost, 0) AS cost, "
            "coalesce(u.latency_s, 0) + coalesce(i.latency_s, 0) AS seconds, "
            "c.score AS backbone_score "
            "FROM labeled_pairs l "
            "LEFT JOIN candidates c ON c.candidate_set = l.label_set AND c.user_idx = l.user_idx "
            "  AND c.item_idx = l.item_idx AND c.kind = l.kind "
            "LEFT JOIN verdicts u ON u.candidate_set = l.label_set AND u.user_idx = l.user_idx "
            "  AND u.item_idx = l.item_idx AND u.view = 'user' AND u.lm = ? AND u.prompt_hash = ? "
            "LEFT JOIN verdicts i ON i.candidate_set = l.label_set AND i.user_idx = l.user_idx "
            "  AND i.item_idx = l.item_idx AND i.view = 'item' AND i.lm = ? AND i.prompt_hash = ? "
            "WHERE l.label_set = ? AND l.part IN ? ORDER BY l.user_idx, l.item_idx",
            [lm, prompt_hash, lm, prompt_hash, label_set, list(parts)]).df()


def most_judged_label_set(store: Store, dataset_id: str, lm: str, prompt_hash: str, part: str,
                          noise: tuple[str, float] | None = None) -> str | None:
    """The labeled set of ``dataset_id`` with the most pairs of ``part`` judged by both views of this LM
    and prompt (ties by id), made on a split of ``noise`` (kind, ratio) where given; None if none has such
    verdicts."""
    where, noise_params = "", []
    if noise is not None:
        where, noise_params = " AND p.noise_kind = ? AND abs(p.noise_ratio - ?) < 1e-9", list(noise)
    with store.connect() as con:
        rows = con.execute(
            "SELECT l.label_set, count(*) AS judged FROM labeled_pairs l JOIN label_sets s USING (label_set) "
            "JOIN splits p ON p.split_id = s.split_id "
            "JOIN verdicts u ON u.candidate_set = l.label_set AND u.user_idx = l.user_idx AND u.item_idx = l.item_idx "
            " AND u.view = 'user' AND u.lm = ? AND u.prompt_hash = ? "
            "JOIN verdicts i ON i.candidate_set = l.label_set AND i.user_idx = l.user_idx AND i.item_idx = l.item_idx "
            " AND i.view = 'item' AND i.lm = ? AND i.prompt_hash = ? "
            "WHERE p.dataset_id = ? AND l.part = ?" + where + " GROUP BY l.label_set ORDER BY judged DESC, l.label_set "
            "LIMIT 1", [lm, prompt_hash, lm, prompt_hash, dataset_id, part, *noise_params]).fetchall()
    return rows[0][0] if rows else None


def insert_judge_eval(store: Store, eval_id: str, label_set: str, part: str, judge: str, lm: str | None,
                      prompt_hash: str | None, prompt_path: str | None, rule: str | None,
                      scores: Mapping[str, object], details_json: str) -> None:
    """One evaluation's row, in its own transaction: the :data:`JUDGE_EVAL_SCORES` of ``scores`` (NULL
    where missing) and the details."""
    with store.transaction() as con:
        con.execute(
            f"INSERT INTO judge_evals (eval_id, label_set, part, judge, lm, prompt_hash, prompt_path, rule, "
            f"{', '.join(JUDGE_EVAL_SCORES)}, details) VALUES ({', '.join('?' * (len(JUDGE_EVAL_SCORES) + 9))})",
            [eval_id, label_set, part, judge, lm, prompt_hash, prompt_path, rule,
             *(scores.get(column) for column in JUDGE_EVAL_SCORES), details_json])
