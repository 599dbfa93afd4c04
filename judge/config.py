"""The judge's settings, without the LM stack: what `--help` and the config of every entry point need.

Importing this module loads pydantic only, not DSPy or LiteLLM, so `python -m recsys.train --help`
and the training-only methods start in seconds; :mod:`judge.lm`, :mod:`judge.runner`,
:mod:`judge.programs` and :mod:`judge.prompts` re-export these names.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

# The installed `prompts` package (the checkout's prompts/ in an editable install), not a path guessed from this file.
PROMPTS_DIR = Path(str(resources.files("prompts")))
HardRule = Literal["both_high", "either_high", "both_at_least_mid"]

EMBEDDED = "embedded"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_ALIAS = "smollm2-135m-instruct"


class LMConfig(BaseModel):
    """Which language model the judge calls, and how."""

    lm: str = Field(
        EMBEDDED,
        description="'embedded' (SmolLM2-135M via llama.cpp, offline) or a LiteLLM model string, "
        "e.g. openai/gpt-4o-mini, ollama_chat/llama3.1, hosted_vllm/Qwen2.5-7B-Instruct.",
    )
    api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible server (vLLM, Ollama, ...).")
    api_key_env: str | None = Field(
        None, description="Name of the environment variable that holds the API key (never the key itself)."
    )
    json_schema: bool = Field(
        False,
        description="Ask a remote server for schema-constrained JSON (response_format json_schema); "
        "always on for the embedded model.",
    )
    temperature: float = Field(0.0, ge=0.0, description="Sampling temperature.")
    max_tokens: int = Field(
        320, gt=0, description="Maximum tokens per LM answer (the schemas cap answers well below it)."
    )
    logprobs: bool = Field(
        False, description="Ask for token log-probabilities and store each verdict's label probabilities "
        "(llama.cpp and OpenAI give them), for a calibrated hard/noise threshold."
    )
    top_logprobs: int = Field(20, gt=0, le=20, description="Alternatives per token when --logprobs is on.")
    timeout_s: float = Field(
        300.0, gt=0, description="Seconds one LM call may take before it is abandoned as a transport failure "
        "(then retried like one; --retries, --backoff-s). LiteLLM's own default is 6,000 s."
    )
    lm_id: str | None = Field(
        None, description="The LM's identity in the store (default: the model string; the embedded model's "
        "file and digest). Name the weights when the model string does not (e.g. Qwen2.5-7B-Instruct-AWQ); "
        "never a URL: moving a server keeps every stored row."
    )
    embedded_threads: int | None = Field(
        None, gt=0, description="CPU threads of the embedded llama.cpp server (default: the cores this "
        "process may use, os.sched_getaffinity)."
    )
    embedded_slots: int = Field(2, gt=0, description="Parallel request slots of the embedded server.")
    embedded_context_per_slot: int = Field(2048, ge=512, description="Context tokens per embedded slot.")


def batch_refusal(lm: str | None, max_cost: float | None) -> str | None:
    """Why ``--batch-api`` cannot run with this LM and budget (one line), or None."""
    if lm == EMBEDDED:
        return ("--batch-api needs a remote OpenAI-compatible LM: the embedded LM (llama.cpp) has no batch API "
                "(use --lm openai/<model>, or hosted_vllm/<model> with --api-base for a vLLM server)")
    if max_cost is not None:
        return ("--batch-api cannot be bounded by --max-cost (a batch's cost is known only once it completes); "
                "bound it with --max-calls instead")
    return None


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
    batch_api: bool = Field(
        False, description="Send each judge stage's LM calls as OpenAI-compatible batches (/v1/files + "
        "/v1/batches; about half price on providers, also on vLLM) instead of live calls, poll them and store "
        "the answers in the same rows as live calls; a killed run resumes polling the same batches. Remote "
        "LMs only (not the embedded one)."
    )
    batch_poll_s: float = Field(30.0, gt=0, description="--batch-api: seconds between two polls of a batch.")
    batch_max_requests: int = Field(
        50_000, gt=0, description="--batch-api: most requests per batch (OpenAI's limit is 50,000); a bigger "
        "stage is split into several batches, polled together."
    )
    batch_timeout_s: float | None = Field(
        None, gt=0, description="--batch-api: stop polling after this many seconds, leaving the batches open "
        "(the run is incomplete; a re-run resumes polling them). Default: poll until every batch has ended."
    )

    @model_validator(mode="after")
    def _batch_api_needs_a_remote_lm(self):
        # Subclasses that are also LMConfigs (every judge command, the trainer) carry the LM choice.
        if self.batch_api:
            refusal = batch_refusal(getattr(self, "lm", None), self.max_cost)
            if refusal is not None:
                raise ValidationError.from_exception_data(type(self).__name__, [{
                    "type": "value_error", "loc": ("batch_api",), "input": True,
                    "ctx": {"error": ValueError(refusal)}}])
        return self


VerdictMode = Literal["pairwise", "listwise"]
# The most candidates one listwise call may judge: the output schema's maxItems (llama.cpp's grammar
# then stops a looping list), and the upper bound of --listwise-max-candidates.
LISTWISE_LIMIT = 16


class VerdictModeConfig(BaseModel):
    """How the judge's calls are cut (one call per pair and view, or one per user and view), and which
    pairs it leaves alone."""

    verdict_mode: VerdictMode = Field(
        "pairwise", description="pairwise: one call per candidate pair and view (prompts/dual_judge.json); "
        "listwise: one call per user and view judges all of the user's candidates "
        "(prompts/listwise_judge.json). Their verdicts are stored apart (distinct prompt hash), never mixed."
    )
    listwise_max_candidates: int = Field(
        8, gt=0, le=LISTWISE_LIMIT, description="Listwise: most candidates per call; a user with more is "
        "judged in chunks of this size."
    )
    exclude_flagged_text: bool = Field(
        False, description="Do not judge a pair whose candidate item text or user profile looks like instructions "
        "to the model (judge.injection), and leave flagged items out of users' top-item lists; the count is printed."
    )


def verdict_program_name(mode: VerdictMode) -> str:
    """The saved program under prompts/ that judges in this mode."""
    return {"pairwise": "dual_judge", "listwise": "listwise_judge"}[mode]


class LLMHDConfig(BaseModel):
    """LLMHD's scoring thresholds and update rounds. The seed paper's text gives no values; these are
    ours: a 1-10 score of at least ``llmhd_keep_score`` keeps the positive as hard."""

    llmhd_keep_score: int = Field(6, ge=1, le=10, description="LLMHD: a candidate scored at least this is hard (kept); "
                                  "below it, noise (removed from training).")
    llmhd_like_score: int = Field(8, ge=1, le=10, description="LLMHD: scores at least this are the likes a "
                                  "preference update adds.")
    llmhd_dislike_score: int = Field(3, ge=1, le=10, description="LLMHD: scores at most this are the dislikes a "
                                     "preference update drops.")
    llmhd_rounds: int = Field(1, ge=0, description="LLMHD: preference update rounds; each updates the users with a "
                              "like or dislike and re-scores their candidates.")
