"""``--batch-api``: a judge stage's LM calls as one OpenAI-compatible batch instead of live calls.

The tasks a stage would run live are rendered, exactly as the live call would send them, into a
JSONL batch input (one line per task: ``custom_id``, ``method``, ``url``, ``body``), uploaded with
``POST /v1/files`` (purpose ``batch``) and submitted with ``POST /v1/batches`` (endpoint
``/v1/chat/completions``, completion window ``24h``). Providers bill batches at about half price;
vLLM serves the same API. The batch id and its tasks' ids are stored (``judge_batches``) before any
polling, so a killed run polls the same batch when re-run and never submits (or pays for) it twice.

Rendering runs the task's own DSPy program, whose adapter formats the signature, demos and inputs
and chooses the response format as on a live call; a capturing engine takes the canonical request
at the point the LM would send it, and lm15's Chat Completions serializer (the one the live call
goes through) writes the body. The same body reaches the server either way (``tests/test_judge_batch.py``
compares them).

Ingesting replays each answer through the same program and :func:`judge.runner.execute`: the
adapter parses it, and the finish-reason, repaired-JSON and degenerate-output checks of
:mod:`judge.outputs` decide whether it stands. So a batch answer lands in the same row, with the same
status, error kind, raw text and finish reason as the same answer from a live call, and resume and
``--retry-failed`` treat it the same way. An answer the batch does not hold (a per-request error, an
expired, failed or cancelled batch, a batch the server no longer knows) is recorded as a transport
failure, never as a result. A task whose prompt changed between submission and ingestion (its
profile was regenerated, say) is recorded as a failure too: the answer is to another prompt.

The API key is read from the environment variable ``--api-key-env`` names, as for live calls; it
is never stored or logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import dspy
from pydantic import BaseModel
from tqdm.auto import tqdm

from judge.config import LMConfig, RunnerConfig, batch_refusal
from judge.records import Heartbeat, finish_run, start_run, write_outcome
from judge.runner import Outcome, RunStats, Task, execute
from recsys.store import Store
from recsys.store.lm_work import record_batch, set_batch_status, stored_open_batches

logger = logging.getLogger(__name__)

CHAT_URL = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
# Batch statuses after which the server does no more work on a batch.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
OPENAI_BASE = "https://api.openai.com/v1"


class BatchAPIError(RuntimeError):
    """The batch path cannot run this stage (wrong LM, unbatchable program, server refusal)."""


def custom_id(task: Task, key: dict) -> str:
    """A task's stable id in a batch: its key, readable, plus a digest of its full row key (LM, prompt
    hash, scope), so ids from another LM, prompt or candidate set never match."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return "/".join(map(str, task.key)) + "#" + digest


# ---------------------------------------------------------------------------------------------
# rendering and replaying through the live LM's own path


class _Captured(Exception):
    """Raised by the capturing engine once it holds the request: no LM call is made."""


@dataclass
class _CaptureEngine:
    """An lm15 engine that takes the canonical request the live call would send, and sends nothing."""

    requests: list = field(default_factory=list)

    def complete(self, request):
        self.requests.append(request)
        raise _Captured("captured for the batch input")


@dataclass
class _ReplayEngine:
    """An lm15 engine that answers the one request of a task with the batch's answer to it, after
    checking that the request is the one that was submitted."""

    wire_body: Callable[[Any], dict]
    body: dict | None = None
    submitted: dict | None = None
    used: bool = False

    def complete(self, request):
        from dspy.lm15 import response_from_openai_chat

        if self.used or self.body is None:
            raise BatchAPIError("the program made more than one LM call for one task; the batch path "
                                "supports programs of one call per task")
        self.used = True
        if self.submitted is not None and self.wire_body(request) != self.submitted:
            raise BatchAPIError("this task's prompt changed since the batch was submitted (e.g. its profile "
                                "was regenerated); the answer is not to this prompt: --retry-failed asks again")
        return response_from_openai_chat(self.body, response_format=request.config.response_format)


def _engine_copy(lm: dspy.LM, engine) -> dspy.LM:
    """``lm`` with ``engine`` in place of its connection, keeping what the adapter reads from it.

    A custom engine owns its connection, so the client settings (key, base URL, timeout) are dropped
    from the copy; the copy reports the live LM's capabilities (a custom engine's are unknown), so
    that the adapter builds the same request (response format included) as for the live LM."""
    from dspy.clients.backend_selection import CLIENT_KEYS

    live = {name: getattr(lm, name) for name in
            ("supported_params", "supports_response_schema", "supports_function_calling", "supports_reasoning")}
    copied = lm.copy(engine=engine, **{key: None for key in lm.kwargs if key in CLIENT_KEYS})
    copied.__class__ = type(f"Batch{type(lm).__name__}", (type(lm),),
                            {name: property(lambda self, value=value: value) for name, value in live.items()})
    copied.history = []
    return copied


class BatchRenderer:
    """Chat Completions bodies of tasks, as the live LM would send them, and replays of answers."""

    def __init__(self, lm: dspy.LM, api_base: str | None):
        from dspy.clients.capabilities import resolve
        from dspy.lm15 import OpenAIChatLM

        resolution = resolve(lm)
        if resolution.adapter != "OpenAIChatLM":
            raise BatchAPIError(f"--batch-api needs an OpenAI-compatible Chat Completions LM; {lm.model!r} is "
                                f"served by {resolution.adapter}")
        self.model = resolution.model
        self._wire = OpenAIChatLM(api_key="unused", base_url=api_base or OPENAI_BASE, compat=resolution.compat)
        self._capture = _CaptureEngine()
        self._render_lm = _engine_copy(lm, self._capture)
        self._replay = _ReplayEngine(self.wire_body)
        self._replay_lm = _engine_copy(lm, self._replay)

    def wire_body(self, request) -> dict:
        """The JSON body lm15's Chat Completions serializer sends for a canonical request."""
        transport = self._wire.build_request(replace(request, model=self.model), stream=False)
        return json.loads(transport.body)

    def body(self, task: Task) -> dict:
        self._capture.requests.clear()
        with dspy.context(lm=self._render_lm):
            try:
                task.call()
            except Exception as error:  # the capture stops the program at its LM call
                if not self._capture.requests:
                    raise BatchAPIError(f"task {task.key} failed before its LM call: {error}") from error
        if not self._capture.requests:
            raise BatchAPIError(f"task {task.key} made no LM call")
        return self.wire_body(self._capture.requests[0])

    def replay(self, task: Task, body: dict, submitted: dict | None) -> Outcome:
        """The outcome of ``task`` had the LM answered ``body`` (a Chat Completions response): the same
        parse and checks as a live call, no retry."""
        self._replay.body, self._replay.submitted, self._replay.used = body, submitted, False
        self._replay_lm.history.clear()
        with dspy.context(lm=self._replay_lm):
            return execute(task, retries=0, backoff_s=0.0)


# ---------------------------------------------------------------------------------------------
# the batch API


def batch_cost(lm: LMConfig, list_cost: Callable[[Outcome], float | None]) -> Callable[[Outcome], float | None]:
    """Cost of a batched call at the provider's batch price where LiteLLM knows it (OpenAI's is half the
    live price), else at the live list price (an upper bound); None where the model's price is unknown."""

    def cost(outcome: Outcome) -> float | None:
        live = list_cost(outcome)
        if not live:
            return live
        try:
            import litellm
            from litellm.cost_calculator import batch_cost_calculator
            from litellm.types.utils import Usage

            litellm.suppress_debug_info = True
            usage = Usage(prompt_tokens=outcome.prompt_tokens or 0, completion_tokens=outcome.completion_tokens or 0,
                          total_tokens=(outcome.prompt_tokens or 0) + (outcome.completion_tokens or 0))
            batched = sum(batch_cost_calculator(usage, lm.lm))
        except Exception:  # noqa: BLE001 - no batch price known: the live one bounds it
            return live
        return batched or live

    return cost


def _client(lm: LMConfig, runner: RunnerConfig):
    import openai

    if lm.api_key_env and lm.api_key_env not in os.environ:
        raise BatchAPIError(f"--api-key-env names {lm.api_key_env}, which is not set in the environment.")
    key = os.environ[lm.api_key_env] if lm.api_key_env else os.environ.get("OPENAI_API_KEY", "EMPTY")
    return openai.OpenAI(api_key=key, base_url=lm.api_base or OPENAI_BASE, timeout=lm.timeout_s,
                         max_retries=runner.retries)


@dataclass
class OpenBatch:
    batch_id: str
    input_file_id: str
    ids: list[str]  # the custom ids of this run's tasks in the batch
    status: str = "validating"
    done: int = 0
    info: Any = None


def _jsonl(text: str) -> Iterable[dict]:
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def _file_text(client, file_id: str | None) -> str:
    return client.files.content(file_id).text if file_id else ""


def _failure(task: Task, message: str, seconds: float) -> Outcome:
    return Outcome(task, None, 1, seconds, error_kind="transport", error=message[:1000])


def _seconds(info) -> float:
    """How long the batch took to answer (its per-request latency is unknown)."""
    end = getattr(info, "completed_at", None) or getattr(info, "expired_at", None) or getattr(info, "failed_at", None) \
        or getattr(info, "cancelled_at", None)
    start = getattr(info, "created_at", None)
    return float(end - start) if end and start else 0.0


def run_batch_job(store: Store, tasks: list[Task], command: str, lm: LMConfig, runner: RunnerConfig, job: BaseModel,
                  table: str, key_of: Callable[[Task], dict], result_of: Callable[[Outcome], dict],
                  lm_setup: Callable[[], object] | None, skipped: int,
                  cost_of: Callable[[Outcome], float | None],
                  rows_of: Callable[[Outcome], list[Outcome]] | None = None, n_rows: int | None = None) -> RunStats:
    """:func:`judge.jobs.run_job` through the batch API: submit what no open batch holds yet, poll
    every batch this stage's tasks are in, and write each answer as a live call's would be (``rows_of``
    splits a call's outcome into its rows, as there)."""
    import openai

    from judge.lm import lm_identity

    refusal = batch_refusal(lm.lm, runner.max_cost)
    if refusal is not None:
        raise BatchAPIError(refusal)
    lm_id = lm_identity(lm)
    cost_of = batch_cost(lm, cost_of)
    stats = RunStats(n_tasks=len(tasks) if n_rows is None else n_rows, n_skipped=skipped)
    writer = _RowWriter(store, table, key_of, result_of, cost_of, stats, rows_of)
    by_id = {custom_id(task, key_of(task)): task for task in tasks}
    if lm_setup is not None:
        lm_setup()
    if dspy.settings.lm is None:
        raise BatchAPIError("no LM is configured (judge.lm.configure_dspy)")
    renderer = BatchRenderer(dspy.settings.lm, lm.api_base)
    client = _client(lm, runner)
    start_run(store, stats, command, lm_id, job)
    heartbeat = Heartbeat(store, stats)
    started = time.perf_counter()
    bar = None
    try:
        # 1. batches a killed run left open: poll them, never submit their tasks again.
        batches: list[OpenBatch] = []
        claimed: set[str] = set()
        for batch_id, input_file_id, ids, status in stored_open_batches(store, command, table):
            mine = [i for i in ids if i in by_id and i not in claimed]
            if mine:
                batches.append(OpenBatch(batch_id, input_file_id, mine, status))
                claimed.update(mine)
        if batches:
            logger.info("%s: resuming %d open batch(es) (%d requests): %s", command, len(batches), len(claimed),
                        ", ".join(b.batch_id for b in batches))
        # 2. the rest, in batches of at most --batch-max-requests (and --max-calls in all).
        rest = [i for i in by_id if i not in claimed]
        if runner.max_calls is not None and len(claimed) + len(rest) > runner.max_calls:
            rest = rest[: max(0, runner.max_calls - len(claimed))]
            stats.status = "budget_exhausted"
        for start in range(0, len(rest), runner.batch_max_requests):
            ids = rest[start: start + runner.batch_max_requests]
            lines = "".join(json.dumps({"custom_id": i, "method": "POST", "url": CHAT_URL,
                                        "body": renderer.body(by_id[i])}) + "\n" for i in ids)
            upload = client.files.create(file=(f"{command.replace(':', '-')}.jsonl", lines.encode()), purpose="batch")
            created = client.batches.create(input_file_id=upload.id, endpoint=CHAT_URL,
                                            completion_window=COMPLETION_WINDOW,
                                            metadata={"command": command, "lm": lm_id[:512]})
            record_batch(store, created.id, upload.id, command, table, lm_id, ids, created.status, stats.run_id)
            batches.append(OpenBatch(created.id, upload.id, ids, created.status))
            logger.info("%s: submitted batch %s (%d requests)", command, created.id, len(ids))
        # 3. poll until every batch has ended (or --batch-timeout-s), ingesting each as it ends.
        bar = tqdm(total=sum(len(b.ids) for b in batches), desc=f"{command} (batch)", unit="req",
                   disable=not runner.progress, dynamic_ncols=True)
        pending = list(batches)
        deadline = None if runner.batch_timeout_s is None else time.monotonic() + runner.batch_timeout_s
        while pending:
            for batch in list(pending):
                try:
                    info = client.batches.retrieve(batch.batch_id)
                except openai.NotFoundError as error:  # a server that lost the batch: its tasks failed
                    _ingest(store, renderer, client, batch, None, by_id, writer,
                            f"batch {batch.batch_id} is unknown to the server ({error})")
                    pending.remove(batch)
                    continue
                batch.info, batch.status = info, info.status
                counts = getattr(info, "request_counts", None)
                done = min(len(batch.ids), (counts.completed + counts.failed) if counts else 0)
                bar.update(max(0, done - batch.done))
                batch.done = done
                if info.status in TERMINAL:
                    bar.update(len(batch.ids) - batch.done)
                    batch.done = len(batch.ids)
                    _ingest(store, renderer, client, batch, info, by_id, writer)
                    pending.remove(batch)
                else:
                    set_batch_status(store, batch.batch_id, info.status)
            bar.set_postfix(ok=stats.n_ok, failed=stats.n_failed,
                            batches=",".join(sorted({b.status for b in pending})) or "done")
            heartbeat()
            if not pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                waiting = sum(writer.rows_in(by_id[i]) for b in pending for i in b.ids)
                stats.n_skipped += waiting
                stats.status = "incomplete"
                logger.warning("%s: --batch-timeout-s reached; %d batch(es) still %s with %d requests: "
                               "re-run to resume polling them (nothing is submitted twice).", command, len(pending),
                               "/".join(sorted({b.status for b in pending})), waiting)
                break
            time.sleep(runner.batch_poll_s)
    except KeyboardInterrupt:
        stats.status = "interrupted"
        stats.seconds = time.perf_counter() - started
        finish_run(store, stats)
        raise
    except BaseException:
        stats.status = "failed"
        stats.seconds = time.perf_counter() - started
        finish_run(store, stats)
        raise
    finally:
        if bar is not None:
            bar.close()
    stats.seconds = time.perf_counter() - started
    if stats.status == "running":
        stats.status = "incomplete" if stats.n_failed or stats.n_skipped else "finished"
    finish_run(store, stats)
    return stats


@dataclass
class _RowWriter:
    """Writes a call's outcome as :func:`judge.jobs.run_job` does: one row, or the rows ``rows_of``
    splits it into (their cost shared evenly), counted in ``stats``."""

    store: Store
    table: str
    key_of: Callable[[Task], dict]
    result_of: Callable[[Outcome], dict]
    cost_of: Callable[[Outcome], float | None]
    stats: RunStats
    rows_of: Callable[[Outcome], list[Outcome]] | None = None

    def rows_in(self, task: Task) -> int:
        return 1 if self.rows_of is None else len(self.rows_of(_failure(task, "", 0.0)))

    def __call__(self, outcome: Outcome) -> None:
        cost = self.cost_of(outcome)
        self.stats.add(outcome, cost)
        rows = [outcome] if self.rows_of is None else self.rows_of(outcome)
        for row in rows:
            share = cost / len(rows) if cost is not None else None
            write_outcome(self.store, self.table, self.key_of(row.task), row, share, self.stats.run_id,
                          self.result_of(row) if row.ok else {})
        self.stats.n_ok += sum(row.ok for row in rows) - outcome.ok
        self.stats.n_failed += sum(not row.ok for row in rows) - (not outcome.ok)


def _ingest(store: Store, renderer: BatchRenderer, client, batch: OpenBatch, info, by_id: dict[str, Task],
            write: _RowWriter, lost: str | None = None) -> None:
    """Write one ended batch's answers (and failures) for this run's tasks, then mark it ingested."""
    import openai

    answers: dict[str, dict] = {}
    errors: dict[str, str] = {}
    submitted: dict[str, dict] = {}
    seconds = _seconds(info) if info is not None else 0.0
    if info is not None:
        for line in _jsonl(_file_text(client, getattr(info, "output_file_id", None))):
            response = line.get("response") or {}
            if line.get("error") is None and response.get("status_code") == 200:
                answers[line["custom_id"]] = response.get("body") or {}
            else:
                errors[line["custom_id"]] = _line_error(line)
        for line in _jsonl(_file_text(client, getattr(info, "error_file_id", None))):
            errors.setdefault(line["custom_id"], _line_error(line))
        try:
            submitted = {line["custom_id"]: line["body"] for line in _jsonl(_file_text(client, batch.input_file_id))}
        except openai.NotFoundError as error:  # the check is lost, not the answers
            logger.warning("batch %s: its input file is gone (%s); answers are ingested without checking that "
                           "each task's prompt is unchanged", batch.batch_id, type(error).__name__)
    batch_errors = "; ".join(getattr(e, "message", "") or str(e) for e in
                             (getattr(getattr(info, "errors", None), "data", None) or []))
    for i in batch.ids:
        task = by_id[i]
        if i in answers:
            outcome = renderer.replay(task, answers[i], submitted.get(i) if submitted else None)
            outcome.latency_s = seconds
        elif i in errors:
            outcome = _failure(task, f"batch {batch.batch_id}: {errors[i]}", seconds)
        else:
            reason = lost or (f"batch {batch.batch_id} ended {info.status} without an answer to this request"
                              + (f" ({batch_errors})" if batch_errors else ""))
            outcome = _failure(task, reason, seconds)
        write(outcome)
    set_batch_status(store, batch.batch_id, info.status if info is not None else "lost", ingested=True)


def _line_error(line: dict) -> str:
    error = line.get("error")
    if error:
        return f"{error.get('code') or 'error'}: {error.get('message') or error}"
    response = line.get("response") or {}
    body = response.get("body") or {}
    detail = body.get("error") if isinstance(body, dict) else None
    message = detail.get("message") if isinstance(detail, dict) else detail or body
    return f"HTTP {response.get('status_code')}: {message}"
