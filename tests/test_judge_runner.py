"""The batch runner: retries, failure kinds, token usage, outcomes in the calling thread, budgets.

Task.call is a plain Python callable here (the runner never looks inside it), so no LM is needed
except in the usage test, which runs a real DSPy program against DummyLM.
"""

from __future__ import annotations

import threading
import time

import dspy
import pytest
from dspy.utils import DummyLM
from dspy.utils.exceptions import AdapterParseError, LMAuthError, LMRateLimitError, LMTransportError

from judge import runner
from judge.programs import UserViewJudge
from judge.runner import Outcome, RunnerConfig, RunStats, Task, execute, run_tasks
from judge.signatures import UserViewSignature, Verdict


def prediction(**usage) -> dspy.Prediction:
    """A prediction as a DSPy program returns it; ``usage`` is set as per-LM usage when given."""
    pred = dspy.Prediction(verdict=Verdict(label="High", rationale="r"))
    if usage:
        pred.set_lm_usage(usage)
    return pred


class Flaky:
    """Raises ``errors`` one after another, then returns ``result``; counts its calls."""

    def __init__(self, errors, result=None):
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def config(**overrides) -> RunnerConfig:
    return RunnerConfig(**{"progress": False, "backoff_s": 0.0, **overrides})


# ----------------------------------------------------------------------------------------------
# execute: one task


def test_a_successful_dspy_call_is_ok_with_the_usage_dspy_reports():
    adapter = dspy.JSONAdapter()
    lm = DummyLM([{"verdict": {"label": "Mid", "rationale": "unsure"}}], adapter=adapter)

    def call():
        with dspy.context(lm=lm, adapter=adapter, track_usage=True):
            return UserViewJudge()(user_profile="Likes sci-fi.", candidate_item="Alien (1979)")

    outcome = execute(Task(key=("u1", "i1"), call=call), retries=3, backoff_s=0.0)

    assert outcome.ok and outcome.error_kind is None and outcome.error is None
    assert outcome.attempts == 1
    assert outcome.prediction.verdict.label == "Mid"
    assert outcome.latency_s >= 0
    # DummyLM reports usage for its model with zero tokens (checked against dspy 3.4.1): the runner
    # passes those zeros on; it does not invent numbers nor turn a reported 0 into "unknown".
    usage = outcome.prediction.get_lm_usage()
    assert usage and set(usage) == {"dummy"}
    assert (outcome.prompt_tokens, outcome.completion_tokens) == (0, 0)


def test_tokens_are_summed_over_every_lm_a_program_used():
    result = prediction(**{
        "openai/a": {"prompt_tokens": 30, "completion_tokens": 7},
        "openai/b": {"prompt_tokens": 12, "completion_tokens": None},
    })
    outcome = execute(Task(key=("k",), call=lambda: result), retries=0, backoff_s=0.0)
    assert outcome.prediction is result
    assert (outcome.prompt_tokens, outcome.completion_tokens) == (42, 7)


def test_no_reported_usage_means_unknown_tokens_not_zero():
    outcome = execute(Task(key=("k",), call=prediction), retries=0, backoff_s=0.0)
    assert outcome.ok
    assert outcome.prompt_tokens is None and outcome.completion_tokens is None


def test_transient_errors_are_retried_until_the_call_succeeds():
    result = prediction(**{"m": {"prompt_tokens": 5, "completion_tokens": 2}})
    call = Flaky([LMTransportError("connection reset"), LMTransportError("connection reset")], result)

    outcome = execute(Task(key=("k",), call=call), retries=3, backoff_s=0.001)

    assert call.calls == 3
    assert outcome.ok and outcome.prediction is result
    assert outcome.attempts == 3
    assert outcome.error_kind is None
    assert (outcome.prompt_tokens, outcome.completion_tokens) == (5, 2)


def test_a_persistent_transient_error_is_recorded_after_doubling_backoffs(monkeypatch):
    delays = []
    real_sleep = time.sleep

    def recording_sleep(seconds):
        delays.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(runner.time, "sleep", recording_sleep)
    call = Flaky([LMTransportError("server unreachable", model="openai/x") for _ in range(10)])

    outcome = execute(Task(key=("k",), call=call), retries=3, backoff_s=0.01)

    assert not outcome.ok and outcome.prediction is None
    assert outcome.error_kind == "transport"
    assert outcome.attempts == 3 + 1 == call.calls
    assert outcome.error.startswith("LMTransportError:") and "server unreachable" in outcome.error
    assert outcome.raw_output is None
    assert delays == pytest.approx([0.01, 0.02, 0.04])
    # The latency covers every attempt and the backoffs: at least 0.07 s (doubling), more than
    # the 0.03 s a constant backoff would give; the upper bound is loose for a busy machine.
    assert 0.07 <= outcome.latency_s < 2.0


def test_other_retryable_lm_errors_are_transport_failures_too():
    call = Flaky([LMRateLimitError("slow down", status=429) for _ in range(3)])
    outcome = execute(Task(key=("k",), call=call), retries=2, backoff_s=0.0)
    assert outcome.error_kind == "transport" and outcome.attempts == 3 == call.calls


def test_a_parse_failure_keeps_the_raw_text_and_is_not_retried():
    error = AdapterParseError(adapter_name="JSONAdapter", signature=UserViewSignature, lm_response="garbage text")
    call = Flaky([error] * 5, prediction())

    outcome = execute(Task(key=("k",), call=call), retries=3, backoff_s=0.0)

    assert call.calls == 1
    assert outcome.attempts == 1
    assert outcome.prediction is None and not outcome.ok
    assert outcome.error_kind == "parse"
    assert outcome.raw_output == "garbage text"
    assert "JSONAdapter" in outcome.error and len(outcome.error) <= 1000
    assert outcome.prompt_tokens is None and outcome.completion_tokens is None


@pytest.mark.parametrize(
    "error",
    [ValueError("bad input " * 500), LMAuthError("invalid key", status=401)],
    ids=["ValueError", "LMAuthError"],
)
def test_a_non_retryable_error_is_recorded_at_once(error):
    call = Flaky([error] * 5, prediction())

    outcome = execute(Task(key=("k",), call=call), retries=3, backoff_s=0.0)

    assert call.calls == 1 and outcome.attempts == 1
    assert outcome.prediction is None
    assert outcome.error_kind == "error"
    assert outcome.error.startswith(f"{type(error).__name__}: ")
    assert len(outcome.error) <= 1000
    assert outcome.raw_output is None


# ----------------------------------------------------------------------------------------------
# run_tasks: a batch


def test_every_outcome_reaches_on_outcome_in_the_calling_thread():
    parallel, n = 3, 20
    together = threading.Barrier(parallel, timeout=10)  # the first `parallel` calls must overlap
    lock = threading.Lock()
    running, most_running, worker_names = 0, 0, set()

    def make_call(i):
        def call():
            nonlocal running, most_running
            with lock:
                running += 1
                most_running = max(most_running, running)
                worker_names.add(threading.current_thread().name)
            try:
                if i < parallel:
                    together.wait()
                time.sleep(0.002)
                if i % 5 == 4:
                    raise ValueError(f"task {i} fails")
                return prediction(**{"m": {"prompt_tokens": i, "completion_tokens": 1}})
            finally:
                with lock:
                    running -= 1
        return call

    tasks = [Task(key=(f"u{i}",), call=make_call(i), payload={"i": i}) for i in range(n)]
    seen, threads = [], set()

    def on_outcome(outcome: Outcome, cost):
        threads.add(threading.current_thread())
        assert threading.current_thread() is threading.main_thread()
        seen.append((outcome.task.key, outcome.ok, cost))

    stats = run_tasks(iter(tasks), config(parallel=parallel), on_outcome,
                      cost_of=lambda outcome: 0.5 if outcome.ok else None, total=n)

    assert threads == {threading.main_thread()}
    assert sorted(key for key, _, _ in seen) == sorted(task.key for task in tasks)
    failing = {(f"u{i}",) for i in range(n) if i % 5 == 4}
    assert {key for key, ok, _ in seen if not ok} == failing
    assert all(cost == (0.5 if ok else None) for _, ok, cost in seen)
    assert most_running == parallel
    assert all(name.startswith("judge") for name in worker_names)
    assert threading.main_thread().name not in worker_names

    assert stats.status == "incomplete"  # every task ran, some failed: not "finished" (issue 15)
    assert stats.n_tasks == n
    assert (stats.n_ok, stats.n_failed) == (n - len(failing), len(failing))
    assert stats.n_ok + stats.n_failed == stats.lm_calls == n
    assert stats.prompt_tokens == sum(i for i in range(n) if i % 5 != 4)
    assert stats.completion_tokens == stats.n_ok
    assert stats.cost == pytest.approx(0.5 * stats.n_ok)
    assert stats.seconds > 0


def test_retries_count_as_lm_calls_in_the_stats():
    tasks = [Task(key=(i,), call=Flaky([LMTransportError("reset")], prediction())) for i in range(4)]
    tasks.append(Task(key=("dead",), call=Flaky([LMTransportError("reset")] * 9)))
    stats = run_tasks(tasks, config(parallel=2, retries=2), lambda outcome, cost: None)
    assert (stats.n_ok, stats.n_failed) == (4, 1)
    assert stats.lm_calls == 4 * 2 + 3
    assert stats.status == "incomplete"  # one task failed


def test_the_call_budget_stops_the_run_cleanly():
    # budget_left() counts every task in flight as one call, and a task is submitted only while
    # lm_calls + in_flight < max_calls. When every task makes exactly one call, no more than
    # max_calls tasks are ever started: the bound is max_calls itself (not max_calls + parallel),
    # and with more tasks than that it is reached exactly.
    started = []
    tasks = [Task(key=(i,), call=lambda i=i: (started.append(i), time.sleep(0.002), prediction())[-1])
             for i in range(20)]
    seen = []

    stats = run_tasks(tasks, config(parallel=3, max_calls=5), lambda outcome, cost: seen.append(outcome), total=20)

    assert stats.status == "budget_exhausted"
    assert stats.n_ok + stats.n_failed == stats.lm_calls == len(seen) == len(started) == 5
    assert sorted(started) == [0, 1, 2, 3, 4]  # tasks are taken in order; the rest never started
    assert stats.n_tasks == 20


def test_retries_of_tasks_in_flight_may_exceed_the_call_budget():
    # The budget is checked when a task is submitted; retries of a task already in flight are
    # not stopped. So: tasks started <= max_calls, and lm_calls <= max_calls - 1 +
    # (2 * parallel in flight) * (retries + 1). Here 4 tasks start (2 * parallel) and each makes
    # retries + 1 = 3 calls, 12 calls against max_calls = 5.
    parallel, retries, max_calls = 2, 2, 5
    tasks = [Task(key=(i,), call=Flaky([LMTransportError("reset")] * 9)) for i in range(20)]

    stats = run_tasks(tasks, config(parallel=parallel, retries=retries, max_calls=max_calls),
                      lambda outcome, cost: None)

    assert stats.status == "budget_exhausted"
    assert stats.n_ok == 0 and stats.n_failed <= max_calls
    assert stats.lm_calls == stats.n_failed * (retries + 1)
    assert stats.lm_calls <= max_calls - 1 + 2 * parallel * (retries + 1)
    assert (stats.n_failed, stats.lm_calls) == (4, 12)


def test_the_cost_budget_stops_the_run_cleanly():
    # A task is submitted only while stats.cost < max_cost, with at most 2 * parallel in flight
    # (the runner keeps that many queued). At 1.0 per call the last submission happens at
    # cost <= max_cost - 1, so the run ends with max_cost <= cost <= max_cost - 1 + 2 * parallel.
    parallel, max_cost = 2, 3
    tasks = [Task(key=(i,), call=lambda: (time.sleep(0.002), prediction())[-1]) for i in range(20)]
    costs = []

    stats = run_tasks(tasks, config(parallel=parallel, max_cost=max_cost),
                      lambda outcome, cost: costs.append(cost), cost_of=lambda outcome: 1.0)

    assert stats.status == "budget_exhausted"
    assert max_cost <= stats.cost <= max_cost - 1 + 2 * parallel
    assert stats.cost == stats.n_ok == len(costs) == stats.lm_calls
    assert costs == [1.0] * len(costs)
    assert stats.n_failed == 0


@pytest.mark.parametrize("budget", [{"max_calls": 5}, {"max_cost": 5.0}], ids=["max_calls", "max_cost"])
def test_a_run_that_did_all_its_tasks_is_finished_even_at_the_budget(budget):
    tasks = [Task(key=(i,), call=prediction) for i in range(5)]
    stats = run_tasks(tasks, config(parallel=1, **budget), lambda outcome, cost: None,
                      cost_of=lambda outcome: 1.0)
    assert stats.n_ok == 5
    assert stats.status == "finished"


def test_a_keyboard_interrupt_in_on_outcome_propagates_and_marks_the_run_interrupted():
    # parallel=2 keeps 2 * parallel = 4 tasks submitted. Schedule: worker A runs task 0 (instant),
    # then task 2 (0.15 s), then task 3; worker B runs task 1 (0.3 s). After outcome 0 the runner
    # queues task 4, which no worker can start before t = 0.3 s. Outcome 2 arrives at t = 0.15 s
    # and its handler raises: the queued task 4 must be cancelled, never called.
    delays = {0: 0.0, 1: 0.3}
    calls = []

    def make_call(i):
        def call():
            calls.append(i)
            time.sleep(delays.get(i, 0.15))
            return prediction()
        return call

    tasks = [Task(key=(i,), call=make_call(i)) for i in range(50)]
    seen = []

    def on_outcome(outcome, cost):
        seen.append(outcome.task.key)
        if len(seen) == 2:
            raise KeyboardInterrupt

    stats = RunStats(n_tasks=50)
    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, config(parallel=2), on_outcome, total=50, stats=stats)

    assert stats.status == "interrupted"
    assert seen == [(0,), (2,)]
    assert stats.n_ok == 2  # the outcome whose handler raised was already counted
    assert stats.seconds > 0
    time.sleep(0.4)  # the calls in flight (1 and 3) end; a non-cancelled task 4 would have started
    assert sorted(calls) == [0, 1, 2, 3]
