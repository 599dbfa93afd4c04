"""The judge's two batch jobs over the store: profiles, then verdicts on candidate pairs.

Both build their task list from what the store holds, skip every row already there for the same
LM and prompt hash (so a re-run resumes and pays for nothing twice), order the tasks so that
consecutive calls share a prompt prefix, and write each result as it arrives.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Collection
from typing import Literal

from pydantic import BaseModel, Field

from judge.calibration import label_probs_json
from judge.config import VerdictModeConfig, verdict_program_name
from judge.lm import EMBEDDED, LMConfig, lm_identity
from judge.prompts import LoadedProgram, register_prompt
from judge.records import Heartbeat, done_keys, finish_run, start_run, to_json, write_outcome
from judge.runner import Outcome, RunnerConfig, RunStats, Task, run_tasks
from judge.signatures import ItemProfile, UserProfile
from recsys.data.texts import item_popularity, item_takers, item_texts, profile_texts, user_histories
from recsys.denoising.candidates import candidate_top_items
from recsys.store import Store
from recsys.store.judgments import candidate_pairs, candidate_set_split

logger = logging.getLogger(__name__)

VERDICT_KINDS = ("low_score_positive", "high_score_negative")


class ProfileJobConfig(BaseModel):
    """What to profile, and how much text each prompt gets."""

    kinds: list[Literal["user", "item"]] = Field(["user", "item"], description="Profile users, items, or both.")
    max_history: int = Field(15, gt=0, description="Training items shown per user profile (most recent first).")
    max_takers: int = Field(3, ge=0, description="User profiles shown per item profile.")
    max_users: int | None = Field(None, gt=0, description="Profile only the first N users (by id).")
    users: list[int] = Field([], description="Also profile these users (e.g. every user with a judged pair).")
    max_items: int | None = Field(
        None, gt=0, description="Profile only the N items with the most training users (ties by id)."
    )
    order: Literal["grouped", "shuffled"] = Field(
        "grouped", description="grouped keeps calls that share a prompt prefix together; shuffled is for measuring."
    )


class VerdictJobConfig(VerdictModeConfig):
    """Which candidate pairs to judge, and how the calls are cut (pairwise or listwise)."""

    views: list[Literal["user", "item"]] = Field(["user", "item"], description="The perspectives to run.")
    order: Literal["grouped", "shuffled"] = Field(
        "grouped", description="grouped runs a user's pairs back to back after one shared prefix; shuffled is random."
    )
    max_pairs: int | None = Field(None, gt=0, description="Judge only the first N candidate pairs.")


def user_profile_text(profile: UserProfile) -> str:
    genres = ", ".join(profile.liked_genres)
    return f"{profile.summary} Favourite genres: {genres}. {profile.tastes}".strip()


def item_profile_text(profile: ItemProfile) -> str:
    return f"{profile.summary} Audience: {profile.audience}".strip()


def cost_function(config: LMConfig) -> Callable[[Outcome], float | None]:
    """Cost per call where LiteLLM knows the model's prices; zero for the embedded model."""
    if config.lm == EMBEDDED:
        return lambda outcome: 0.0

    def cost(outcome: Outcome) -> float | None:
        if outcome.prompt_tokens is None:
            return None
        try:
            import litellm

            litellm.suppress_debug_info = True  # an unknown model is expected here, not worth a banner
            prompt, completion = litellm.cost_per_token(
                model=config.lm, prompt_tokens=outcome.prompt_tokens, completion_tokens=outcome.completion_tokens or 0
            )
        except Exception:  # noqa: BLE001 - unknown model: cost unknown, not zero
            return None
        return prompt + completion

    return cost


def ordered_tasks(tasks: list[Task], order: str, seed: int) -> list[Task]:
    if order == "shuffled":
        tasks = tasks[:]
        random.Random(seed).shuffle(tasks)
    return tasks


def run_job(store: Store, tasks: list[Task], command: str, lm: LMConfig, runner: RunnerConfig, job: BaseModel,
         table: str, key_of: Callable[[Task], dict], result_of: Callable[[Outcome], dict],
         lm_setup: Callable[[], object] | None = None, skipped: int = 0,
         rows_of: Callable[[Outcome], list[Outcome]] | None = None, n_rows: int | None = None) -> RunStats:
    """Run ``tasks`` as one recorded judge run. ``skipped`` tasks could not start (their inputs are
    missing): the run then ends ``incomplete`` with that count, never ``finished``.

    ``rows_of`` splits one call's outcome into the rows it produces (a listwise call judges several
    pairs, :func:`judge.listwise.pair_outcomes`); the run's ok/failed counts are then rows, and
    ``n_rows`` is how many rows the tasks make. Its cost is shared evenly by its rows."""
    stats = RunStats(n_tasks=len(tasks) if n_rows is None else n_rows, n_skipped=skipped)
    if not tasks and not skipped:  # everything is stored already: no LM to start, no run to record
        stats.status = "finished"
        return stats
    if not tasks:  # nothing could start: record that, without starting the LM
        stats.status = "incomplete"
        start_run(store, stats, command, lm_identity(lm), job)
        finish_run(store, stats)
        return stats
    if runner.batch_api:  # the same tasks and rows, through the batch API (judge.batch)
        from judge.batch import run_batch_job

        return run_batch_job(store, tasks, command, lm, runner, job, table, key_of, result_of, lm_setup, skipped,
                             cost_function(lm), rows_of, n_rows)
    if lm_setup is not None:
        lm_setup()
    start_run(store, stats, command, lm_identity(lm), job)

    def on_outcome(outcome: Outcome, cost: float | None) -> None:
        if rows_of is None:
            write_outcome(store, table, key_of(outcome.task), outcome, cost, stats.run_id,
                          result_of(outcome) if outcome.ok else {})
            return
        rows = rows_of(outcome)
        for row in rows:
            write_outcome(store, table, key_of(row.task), row, cost / len(rows) if cost is not None else None,
                          stats.run_id, result_of(row) if row.ok else {})
        # run_tasks counted the call; count its rows instead (a call may parse and still fail a pair)
        stats.n_ok += sum(row.ok for row in rows) - outcome.ok
        stats.n_failed += sum(not row.ok for row in rows) - (not outcome.ok)

    try:
        run_tasks(tasks, runner, on_outcome, cost_function(lm), total=len(tasks), desc=command, stats=stats,
                  on_tick=Heartbeat(store, stats))
    except BaseException:
        if stats.status == "running":
            stats.status = "failed"
        finish_run(store, stats)
        raise
    finish_run(store, stats)
    return stats


def run_profiles(store: Store, split_id: str, user_program: LoadedProgram, item_program: LoadedProgram | None,
                 lm: LMConfig, runner: RunnerConfig, job: ProfileJobConfig, seed: int = 0,
                 lm_setup: Callable[[], object] | None = None) -> list[RunStats]:
    """User profiles from training items, then item profiles from item text and takers' profiles.

    ``lm_setup`` (e.g. :func:`judge.lm.configure_dspy`) runs only when some call is still to be made,
    so a warm re-run never starts the LM."""
    lm_id = lm_identity(lm)
    texts = item_texts(store, split_id)

    def profile_kind(kind: str, loaded: LoadedProgram, entities: list[int],
                     call_for: Callable[[int], Callable[[], object]], text_of: Callable) -> RunStats:
        register_prompt(store, loaded)
        key = {"split_id": split_id, "kind": kind, "lm": lm_id, "prompt_hash": loaded.prompt_hash}
        done = done_keys(store, "profiles", ("entity_idx",), key, runner.retry_failed)
        tasks = [Task(key=(entity,), call=call_for(entity)) for entity in entities if (entity,) not in done]
        return run_job(
            store, ordered_tasks(tasks, job.order, seed), f"profiles:{kind}", lm, runner, job, "profiles",
            key_of=lambda task: key | {"entity_idx": task.key[0]},
            result_of=lambda outcome: {"profile": to_json(outcome.prediction.profile),
                                       "text": text_of(outcome.prediction.profile)},
            lm_setup=lm_setup,
        )

    all_stats = []
    if "user" in job.kinds:
        histories = user_histories(store, split_id, job.max_history)
        all_stats.append(profile_kind(
            "user", user_program, sorted(set(sorted(histories)[: job.max_users]) | (set(job.users) & set(histories))),
            lambda user: lambda: user_program.program(history=[texts[i] for i in histories[user]]),
            user_profile_text,
        ))
    if "item" in job.kinds:
        takers = item_takers(store, split_id, job.max_takers, seed)
        popularity = item_popularity(store, split_id)
        user_text = profile_texts(store, split_id, "user", lm_id, user_program.prompt_hash)
        all_stats.append(profile_kind(
            "item", item_program, sorted(takers, key=lambda item: (-popularity[item], item))[: job.max_items],
            lambda item: lambda: item_program.program(
                item=texts[item], takers=[user_text[u] for u in takers[item] if u in user_text]),
            item_profile_text,
        ))
    return all_stats


def run_verdicts(store: Store, candidate_set: str, judge_program: LoadedProgram, user_prompt_hash: str,
                 lm: LMConfig, runner: RunnerConfig, job: VerdictJobConfig, seed: int = 0,
                 lm_setup: Callable[[], object] | None = None,
                 only: Collection[tuple[int, int]] | None = None, profile_lm: str | None = None) -> RunStats:
    """Both views on every candidate pair (or on the ``only`` pairs); pairs whose user has no profile
    yet are reported, not judged. Label probabilities are stored where the LM returned logprobs.
    The user view reads the profiles of ``profile_lm`` (default: this LM's; ``recsys.data.texts.IMPORTED``
    for the dataset's own).

    ``job.verdict_mode`` listwise judges all of a user's pending pairs in one call per view (chunks of
    ``job.listwise_max_candidates``) with ``prompts/listwise_judge.json``; it writes the same rows,
    keyed by that program's prompt hash, and resumes pair by pair: a re-run judges only the pairs
    with no row (or a failed one, with ``--retry-failed``)."""
    expected = verdict_program_name(job.verdict_mode)
    if judge_program.name != expected:
        raise ValueError(f"--verdict-mode {job.verdict_mode} judges with the {expected} program, "
                         f"not {judge_program.name}")
    lm_id = lm_identity(lm)
    register_prompt(store, judge_program)
    with store.connect() as con:
        split_id = candidate_set_split(con, candidate_set)
        pairs = candidate_pairs(con, candidate_set, VERDICT_KINDS)
    top_items = candidate_top_items(store, candidate_set)
    profiles = profile_texts(store, split_id, "user", profile_lm or lm_id, user_prompt_hash)
    texts = item_texts(store, split_id)
    if only is not None:
        only = set(only)
        pairs = [pair for pair in pairs if pair in only]
    pairs = pairs[: job.max_pairs]
    if job.exclude_flagged_text:
        from judge.injection import exclude_flagged

        pairs, top_items, excluded = exclude_flagged(pairs, texts, profiles, top_items)
        logger.info(excluded.summary())
    done = done_keys(store, "verdicts", ("user_idx", "item_idx", "view"),
                     {"candidate_set": candidate_set, "lm": lm_id, "prompt_hash": judge_program.prompt_hash},
                     runner.retry_failed)
    judge = judge_program.program
    key_of = (lambda task: {"candidate_set": candidate_set, "user_idx": task.key[0], "item_idx": task.key[1],
                            "view": task.key[2], "lm": lm_id, "prompt_hash": judge_program.prompt_hash})
    if job.verdict_mode == "listwise":
        return _run_listwise(store, pairs, done, judge, profiles, top_items, texts, lm, runner, job, seed,
                             key_of, lm_setup)
    tasks, missing_profiles = [], 0
    # Views in the outer loop: consecutive calls then share the instructions and the user's prefix.
    for view in job.views:
        for user, item in pairs:
            if (user, item, view) in done:
                continue
            if view == "user":
                if user not in profiles:
                    missing_profiles += 1
                    continue
                call = (lambda p=profiles[user], c=texts[item]:
                        judge.user_view(user_profile=p, candidate_item=c))
            else:
                top = [texts[i] for i in top_items.get(user, [])]
                call = (lambda top=top, c=texts[item]: judge.item_view(user_top_items=top, candidate_item=c))
            tasks.append(Task(key=(user, item, view), call=call))
    _missing_profiles_note(missing_profiles)
    return run_job(
        store, ordered_tasks(tasks, job.order, seed), "verdicts", lm, runner, job, "verdicts",
        key_of=key_of,
        result_of=lambda outcome: {"label": outcome.prediction.verdict.label,
                                   "rationale": outcome.prediction.verdict.rationale,
                                   "label_probs": label_probs_json(outcome.prediction)},
        lm_setup=lm_setup, skipped=missing_profiles,
    )


def _missing_profiles_note(missing: int) -> None:
    if missing:
        logger.warning("%d user-view calls skipped: their users have no profile for this LM and prompt; "
                       "run `python -m judge profiles` first (or --retry-failed for failed profiles). "
                       "This run is incomplete.", missing)


def _run_listwise(store: Store, pairs: list[tuple[int, int]], done: set[tuple], judge, profiles: dict[int, str],
                  top_items: dict[int, list[int]], texts: dict[int, str], lm: LMConfig, runner: RunnerConfig,
                  job: VerdictJobConfig, seed: int, key_of: Callable[[Task], dict],
                  lm_setup: Callable[[], object] | None) -> RunStats:
    """One call per user, view and chunk of the user's pending pairs; each call writes one row per pair."""
    from judge.listwise import chunks, pair_outcomes

    pending: dict[tuple[str, int], list[int]] = {}
    for view in job.views:
        for user, item in pairs:
            if (user, item, view) not in done:
                pending.setdefault((view, user), []).append(item)
    tasks, missing_profiles = [], 0
    for (view, user), items in pending.items():  # views outer, users in order: shared prefixes stay together
        if view == "user" and user not in profiles:
            missing_profiles += len(items)  # counted per pair, as the pairwise judge counts its calls
            continue
        for chunk in chunks(items, job.listwise_max_candidates):
            candidates = [texts[item] for item in chunk]
            if view == "user":
                call = (lambda p=profiles[user], c=candidates: judge.user_view(user_profile=p, candidate_items=c))
            else:
                top = [texts[i] for i in top_items.get(user, [])]
                call = (lambda top=top, c=candidates: judge.item_view(user_top_items=top, candidate_items=c))
            tasks.append(Task(key=(user, view, tuple(chunk)), call=call))
    _missing_profiles_note(missing_profiles)
    return run_job(
        store, ordered_tasks(tasks, job.order, seed), "verdicts:listwise", lm, runner, job, "verdicts",
        key_of=key_of,
        result_of=lambda row: {"label": row.prediction.label, "rationale": None,
                               "label_probs": row.prediction.label_probs},
        lm_setup=lm_setup, skipped=missing_profiles, rows_of=pair_outcomes, n_rows=sum(len(t.key[2]) for t in tasks),
    )
