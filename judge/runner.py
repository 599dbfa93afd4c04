"""The batch runner: LM calls in parallel, each result handed back as it arrives.

Workers only call the LM. The calling thread receives every outcome as soon as its call ends and
writes it to the store in its own small transaction, so a killed run loses at most the calls that
were in flight. Transient LM errors (timeouts, connection errors, 5xx, rate limits) are retried
with exponential backoff and then recorded as failures; output that does not parse is recorded as
a failure with the raw text, never turned into a result.
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
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

ErrorKind = Literal["parse", "transport", "error"]


class RunnerConfig(BaseModel):
    """Concurrency, retries and budget of a batch of LM calls."""

    parallel: int = Field(2, gt=0, description="LM calls in flight at once (match the server's slots).")
    retries: int = Field(3, ge=0, description="Retries of a transient LM error (timeout, connection, 5xx).")
    backoff_s: float = Field(1.0, ge=0, description="First retry delay; it doubles on every retry.")
    max_calls: int | None = Field(
        None, gt=0, description="Start no call past this many in this run (retries of started calls may add a few)."
    )
    max_cost: float | None = Field(None, gt=0, description="Stop cleanly once this run has cost this much (USD).")
    retry_failed: bool = Field(False, description="Call the LM again for rows recorded as failed.")
    progress: bool = Field(True, description="Show a progress bar.")


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
        try:
            prediction = task.call()
        except AdapterParseError as error:
            return Outcome(task, None, attempts, time.perf_counter() - start, error_kind="parse",
                           error=str(error)[:1000], raw_output=error.lm_response)
        except Exception as error:  # noqa: BLE001 - every failure is recorded, none is invented away
            if is_retryable_lm_error(error) and attempts <= retries:
                time.sleep(backoff_s * 2 ** (attempts - 1))
                continue
            kind: ErrorKind = "transport" if is_retryable_lm_error(error) else "error"
            return Outcome(task, None, attempts, time.perf_counter() - start, error_kind=kind,
                           error=f"{type(error).__name__}: {error}"[:1000])
        prompt_tokens, completion_tokens = _usage(prediction)
        return Outcome(task, prediction, attempts, time.perf_counter() - start, prompt_tokens, completion_tokens)


def run_tasks(
    tasks: Iterable[Task],
    config: RunnerConfig,
    on_outcome: Callable[[Outcome, float | None], None],
    cost_of: Callable[[Outcome], float | None] = lambda outcome: None,
    total: int | None = None,
    desc: str = "LM calls",
    stats: RunStats | None = None,
) -> RunStats:
    """Run tasks with ``config.parallel`` workers, calling ``on_outcome`` in this thread per result.

    Stops submitting once the call or cost budget is reached; calls in flight finish and are kept.
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
            done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
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
        stats.status = "finished"
    return stats
