"""The batch runner: LM calls in parallel, each result handed back as it arrives.

Workers only call the LM. The calling thread receives every outcome as soon as its call ends and
writes it to the store in its own small transaction, so a killed run loses at most the calls that
were in flight. Transient LM errors (timeouts, connection errors, 5xx, rate limits) are retried
with exponential backoff and then recorded as failures (a call past ``--timeout-s`` is one); output
that does not parse, was cut off (``finish_reason=length``), was repaired by the adapter, or is
degenerate (see :mod:`judge.outputs`) is recorded as a failure with the raw text and finish reason,
never turned into a result. A run with any failed or skipped task ends ``incomplete``, not ``finished``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal

import dspy
from dspy.utils.exceptions import AdapterParseError, is_retryable_lm_error
from tqdm.auto import tqdm

from judge.config import RunnerConfig
from judge.outputs import completion_log, rejection

ErrorKind = Literal["parse", "degenerate", "transport", "error"]


@dataclass
class Task:
    """One LM call to make. ``key`` names the row it produces; ``call`` runs the DSPy program."""

    key: tuple
    call: Callable[[], dspy.Prediction]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    task: Task
    prediction: dspy.Prediction | None
    attempts: int
    latency_s: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error_kind: ErrorKind | None = None
    error: str | None = None
    raw_output: str | None = None
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.prediction is not None


@dataclass
class RunStats:
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    status: str = "running"
    n_tasks: int = 0
    n_ok: int = 0
    n_failed: int = 0
    n_skipped: int = 0  # tasks that could not even start (e.g. a user view without a profile)
    lm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    seconds: float = 0.0

    def add(self, outcome: Outcome, cost: float | None) -> None:
        self.n_ok += outcome.ok
        self.n_failed += not outcome.ok
        self.lm_calls += outcome.attempts
        self.prompt_tokens += outcome.prompt_tokens or 0
        self.completion_tokens += outcome.completion_tokens or 0
        self.cost += cost or 0.0


def _usage(prediction: dspy.Prediction) -> tuple[int | None, int | None]:
    usage = prediction.get_lm_usage() or {}
    if not usage:
        return None, None
    return (sum(u.get("prompt_tokens") or 0 for u in usage.values()),
            sum(u.get("completion_tokens") or 0 for u in usage.values()))


def execute(task: Task, retries: int, backoff_s: float) -> Outcome:
    """Run one task with retries; never raises for LM or parse errors."""
    attempts = 0
    start = time.perf_counter()
    while True:
        attempts += 1
        with completion_log() as log:
            try:
                prediction = task.call()
            except AdapterParseError as error:
                return Outcome(task, None, attempts, time.perf_counter() - start, error_kind="parse",
                               error=str(error)[:1000], raw_output=error.lm_response or log.raw_text,
                               finish_reason=log.finish_reason)
            except Exception as error:  # noqa: BLE001 - every failure is recorded, none is invented away
                if is_retryable_lm_error(error) and attempts <= retries:
                    time.sleep(backoff_s * 2 ** (attempts - 1))
                    continue
                kind: ErrorKind = "transport" if is_retryable_lm_error(error) else "error"
                return Outcome(task, None, attempts, time.perf_counter() - start, error_kind=kind,
                               error=f"{type(error).__name__}: {error}"[:1000], raw_output=log.raw_text,
                               finish_reason=log.finish_reason)
        prompt_tokens, completion_tokens = _usage(prediction)
        rejected = rejection(log, prediction)
        if rejected is not None:  # cut off, repaired or degenerate: the tokens were paid, no result stands
            return Outcome(task, None, attempts, time.perf_counter() - start, prompt_tokens, completion_tokens,
                           error_kind=rejected.kind, error=rejected.message[:1000],
                           raw_output=log.raw_text if log.raw_text is not None else str(prediction)[:4000],
                           finish_reason=log.finish_reason)
        return Outcome(task, prediction, attempts, time.perf_counter() - start, prompt_tokens, completion_tokens,
                       finish_reason=log.finish_reason)


def run_tasks(
    tasks: Iterable[Task],
    config: RunnerConfig,
    on_outcome: Callable[[Outcome, float | None], None],
    cost_of: Callable[[Outcome], float | None] = lambda outcome: None,
    total: int | None = None,
    desc: str = "LM calls",
    stats: RunStats | None = None,
    on_tick: Callable[[], None] | None = None,
    tick_s: float = 10.0,
) -> RunStats:
    """Run tasks with ``config.parallel`` workers, calling ``on_outcome`` in this thread per result.

    Stops submitting once the call or cost budget is reached; calls in flight finish and are kept.
    ``on_tick`` runs in this thread at least every ``tick_s`` while calls are in flight (the run's
    heartbeat), however long one call takes.
    """
    stats = stats or RunStats(n_tasks=total or 0)
    started = time.perf_counter()
    pending = iter(tasks)
    in_flight: set[Future] = set()
    bar = tqdm(total=total, desc=desc, unit="call", disable=not config.progress, dynamic_ncols=True)

    def budget_left() -> bool:
        calls = stats.lm_calls + len(in_flight)
        if config.max_calls is not None and calls >= config.max_calls:
            return False
        return config.max_cost is None or stats.cost < config.max_cost

    executor = ThreadPoolExecutor(max_workers=config.parallel, thread_name_prefix="judge")
    exhausted = False
    try:
        while True:
            while not exhausted and len(in_flight) < 2 * config.parallel:
                task = next(pending, None)
                if task is None:
                    exhausted = True
                    break
                if not budget_left():  # a task is left behind: the run stopped on its budget
                    exhausted = True
                    stats.status = "budget_exhausted"
                    break
                in_flight.add(executor.submit(execute, task, config.retries, config.backoff_s))
            if not in_flight:
                break
            done, in_flight = wait(in_flight, timeout=tick_s if on_tick else None, return_when=FIRST_COMPLETED)
            if on_tick is not None:
                on_tick()
            for future in done:
                outcome = future.result()
                cost = cost_of(outcome)
                stats.add(outcome, cost)
                on_outcome(outcome, cost)
                bar.update(1)
                bar.set_postfix(ok=stats.n_ok, failed=stats.n_failed)
    except KeyboardInterrupt:
        stats.status = "interrupted"
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
        stats.seconds = time.perf_counter() - started
    executor.shutdown(wait=True)
    if stats.status == "running":
        stats.status = "incomplete" if stats.n_failed or stats.n_skipped else "finished"
    return stats
