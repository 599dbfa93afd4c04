"""LM batch jobs of the LLM baselines, stored in ``method_outputs`` and resumed like the judge's jobs:

* LLMHD (:func:`run_llmhd`): each candidate positive scored 1-10 against the user's summarized
  preference, then rounds of preference updates, each followed by a re-score of the updated users;
* HNLMRec-style negatives (:func:`run_contrast_negatives`): one generated description per user of an
  item they would not like although it resembles their history.

Rows carry a chained prompt hash (every program whose text feeds the row), so an edited profile or
update prompt never mixes with scores made from the old one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from pydantic import BaseModel

from judge.config import LLMHDConfig
from judge.jobs import ordered_tasks, run_job
from judge.lm import LMConfig, lm_identity
from judge.prompts import LoadedProgram, register_prompt
from judge.records import done_keys, to_json
from judge.runner import RunnerConfig, RunStats, Task
from judge.signatures import ContrastItem
from recsys.data.texts import item_texts, profile_texts, user_histories
from recsys.store import Store
from recsys.store.judgments import candidate_set_split
from recsys.store.lm_work import low_score_positive_pairs, ok_method_outputs

PER_USER = -1  # item_idx of a row about a user, not a pair


def _outputs(store: Store, task: str, scope: str, lm_id: str, prompt_hash: str) -> dict[tuple[int, int, int], tuple]:
    """(user, item, round) -> (score, text) of the ok rows of one task."""
    rows = ok_method_outputs(store, task, scope, lm_id, prompt_hash)
    return {(u, i, r): (score, text) for u, i, r, score, text in rows}


def _run_outputs(store: Store, tasks: list[Task], task_name: str, scope: str, lm: LMConfig, runner: RunnerConfig,
                 job: BaseModel, prompt_hash: str, result_of: Callable, seed: int, lm_setup) -> RunStats:
    lm_id = lm_identity(lm)
    return run_job(
        store, ordered_tasks(tasks, "grouped", seed), task_name, lm, runner, job, "method_outputs",
        key_of=lambda t: {"task": task_name, "scope": scope, "user_idx": t.key[0], "item_idx": t.key[1],
                          "round": t.key[2], "lm": lm_id, "prompt_hash": prompt_hash},
        result_of=result_of, lm_setup=lm_setup)


def llmhd_hash(score: LoadedProgram, update: LoadedProgram, user_prompt_hash: str) -> str:
    """The prompt hash of LLMHD's rows: the scorer, the update and the user profile all feed them."""
    hashes = [score.prompt_hash, update.prompt_hash, user_prompt_hash]
    return hashlib.sha256(json.dumps(hashes).encode()).hexdigest()[:16]


def run_llmhd(store: Store, candidate_set: str, score_program: LoadedProgram, update_program: LoadedProgram,
              user_prompt_hash: str, lm: LMConfig, runner: RunnerConfig, job: LLMHDConfig, seed: int = 0,
              lm_setup: Callable[[], object] | None = None) -> list[RunStats]:
    """Score every candidate positive whose user has a profile (round 0), then ``llmhd_rounds`` update
    rounds. The user profile (the judge's profile_user program) is the initial preference summary."""
    lm_id = lm_identity(lm)
    for program in (score_program, update_program):
        register_prompt(store, program)
    prompt_hash = llmhd_hash(score_program, update_program, user_prompt_hash)
    with store.connect() as con:
        split_id = candidate_set_split(con, candidate_set)
        pairs = low_score_positive_pairs(con, candidate_set)
    texts = item_texts(store, split_id)
    preference = profile_texts(store, split_id, "user", lm_id, user_prompt_hash)
    pairs = [(u, i) for u, i in pairs if u in preference]
    by_user: dict[int, list[int]] = {}
    for u, i in pairs:
        by_user.setdefault(u, []).append(i)

    def score_result(outcome) -> dict:
        hardness = outcome.prediction.hardness
        return {"output": to_json(hardness), "score": float(hardness.score), "text": hardness.reason}

    def score_round(round_: int, users: list[int]) -> RunStats:
        done = done_keys(store, "method_outputs", ("user_idx", "item_idx", "round"),
                         {"task": "llmhd_score", "scope": candidate_set, "lm": lm_id, "prompt_hash": prompt_hash},
                         runner.retry_failed)
        tasks = [Task(key=(u, i, round_), call=lambda p=preference[u], c=texts[i]:
                      score_program.program(user_preference=p, candidate_item=c))
                 for u in users for i in by_user[u] if (u, i, round_) not in done]
        return _run_outputs(store, tasks, "llmhd_score", candidate_set, lm, runner, job, prompt_hash,
                            score_result, seed, lm_setup)

    all_stats = [score_round(0, sorted(by_user))]
    for round_ in range(1, job.llmhd_rounds + 1):
        scores = _outputs(store, "llmhd_score", candidate_set, lm_id, prompt_hash)
        updates = _outputs(store, "llmhd_update", candidate_set, lm_id, prompt_hash)
        changes = {}
        for u, items in by_user.items():
            last = [(i, scores[(u, i, round_ - 1)][0]) for i in items if (u, i, round_ - 1) in scores]
            likes = [texts[i] for i, s in last if s >= job.llmhd_like_score]
            dislikes = [texts[i] for i, s in last if s <= job.llmhd_dislike_score]
            if likes or dislikes:
                changes[u] = (likes, dislikes)
        tasks = [Task(key=(u, PER_USER, round_), call=lambda p=preference[u], lk=lk, dl=dl:
                      update_program.program(user_preference=p, liked_items=lk, disliked_items=dl))
                 for u, (lk, dl) in sorted(changes.items()) if (u, PER_USER, round_) not in updates]
        all_stats.append(_run_outputs(
            store, tasks, "llmhd_update", candidate_set, lm, runner, job, prompt_hash,
            lambda outcome: {"output": to_json(outcome.prediction.preference),
                             "text": outcome.prediction.preference.summary}, seed, lm_setup))
        updates = _outputs(store, "llmhd_update", candidate_set, lm_id, prompt_hash)
        updated = sorted(u for u in changes if (u, PER_USER, round_) in updates)
        for u in updated:
            preference[u] = updates[(u, PER_USER, round_)][1]
        all_stats.append(score_round(round_, updated))
    return all_stats


def llmhd_scores(store: Store, candidate_set: str, lm_id: str, prompt_hash: str) -> dict[tuple[int, int], float]:
    """Each scored candidate positive's score from its latest round (a failed re-score keeps the earlier one)."""
    latest: dict[tuple[int, int], tuple[int, float]] = {}
    for (u, i, round_), (score, _) in _outputs(store, "llmhd_score", candidate_set, lm_id, prompt_hash).items():
        if (u, i) not in latest or round_ > latest[(u, i)][0]:
            latest[(u, i)] = (round_, score)
    return {pair: score for pair, (_, score) in latest.items()}


def contrast_item_text(item: ContrastItem) -> str:
    """The generated item, written like the catalogue's item texts (title, genres, description)."""
    return f"{item.title}. Genres: {', '.join(item.genres)}. {item.description}".strip()


class _NegativeJob(BaseModel):
    """What the negative job recorded in judge_runs was asked to do."""

    max_users: int | None
    max_history: int


def run_contrast_negatives(store: Store, split_id: str, program: LoadedProgram, lm: LMConfig, runner: RunnerConfig,
                           max_users: int | None, max_history: int, seed: int = 0,
                           lm_setup: Callable[[], object] | None = None) -> RunStats:
    """One generated negative per user (the first ``max_users`` by id, as the profiles)."""
    lm_id = lm_identity(lm)
    register_prompt(store, program)
    texts = item_texts(store, split_id)
    histories = user_histories(store, split_id, max_history)
    done = done_keys(store, "method_outputs", ("user_idx", "item_idx", "round"),
                     {"task": "hnlmrec_negative", "scope": split_id, "lm": lm_id, "prompt_hash": program.prompt_hash},
                     runner.retry_failed)
    tasks = [Task(key=(u, PER_USER, 0), call=lambda h=[texts[i] for i in histories[u]]: program.program(history=h))
             for u in sorted(histories)[:max_users] if (u, PER_USER, 0) not in done]
    return _run_outputs(
        store, tasks, "hnlmrec_negative", split_id, lm, runner, job=_NegativeJob(max_users=max_users,
                                                                                  max_history=max_history),
        prompt_hash=program.prompt_hash,
        result_of=lambda outcome: {"output": to_json(outcome.prediction.negative_item),
                                   "text": contrast_item_text(outcome.prediction.negative_item)},
        seed=seed, lm_setup=lm_setup)


def contrast_negative_texts(store: Store, split_id: str, lm_id: str, prompt_hash: str) -> dict[int, str]:
    """Each user's generated negative description."""
    return {u: text for (u, _, _), (_, text) in
            _outputs(store, "hnlmrec_negative", split_id, lm_id, prompt_hash).items()}
