"""The judge's settings, without the LM stack: what `--help` and the config of every entry point need.

Importing this module loads pydantic only, not DSPy or LiteLLM, so `python -m recsys.train --help`
and the training-only methods start in seconds; :mod:`judge.lm`, :mod:`judge.runner`,
:mod:`judge.programs` and :mod:`judge.prompts` re-export these names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"
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
    allow_partial: bool = Field(
        False, description="The full model (recsys.train): edit the graph even when some candidate pairs lack "
        "an ok verdict from both views (failed or skipped calls); by default it refuses and says how many."
    )
    progress: bool = Field(True, description="Show a progress bar.")


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
