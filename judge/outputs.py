"""What the LM really answered, and whether a parsed answer may stand as a result.

DSPy's JSONAdapter repairs broken JSON (``json_repair``): an answer cut off at ``max_tokens``
(``finish_reason='length'``) still "parses", with the missing fields filled in or the last string
shortened. Such an answer is invented, not given, so it must never become a verdict or a profile.

:class:`CompletionLog` collects, per thread, the raw text and finish reason of every LM completion
made while it is open (the judge's LMs report them from ``update_history``, see
:class:`judge.lm.RecordingLM`). :func:`rejection` then decides whether the call's result stands:

* a completion that stopped for any reason but ``stop`` (``length``, ``content_filter``...) is a
  ``parse`` failure: the answer is incomplete;
* a completion that is not strict JSON where a JSON adapter read it is a ``parse`` failure: the
  adapter repaired it, so what was parsed is not what the LM wrote;
* a parsed output whose text echoes the schema (``"ItemProfile"`` as a summary, a value that is a
  field's name) or repeats one phrase over and over is a ``degenerate`` failure.

Every rejected call keeps its raw text and finish reason in the row, and ``--retry-failed`` calls
it again.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

_local = threading.local()

# A completion ended normally; anything else (length, content_filter, ...) left the answer incomplete.
COMPLETE_FINISH_REASONS = frozenset({"stop", "end_turn", "eos", "stop_sequence"})


@dataclass
class Completion:
    text: str | None
    finish_reason: str | None
    json_expected: bool


@dataclass
class CompletionLog:
    completions: list[Completion] = field(default_factory=list)

    @property
    def finish_reason(self) -> str | None:
        """The last completion's finish reason (the one a one-call task produced)."""
        return self.completions[-1].finish_reason if self.completions else None

    @property
    def raw_text(self) -> str | None:
        return self.completions[-1].text if self.completions else None


@contextmanager
def completion_log() -> Iterator[CompletionLog]:
    """Collect the completions this thread makes while the block runs (nested logs all see them)."""
    log = CompletionLog()
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(log)
    try:
        yield log
    finally:
        stack.remove(log)


def record_completion(text: str | None, finish_reason: str | None, json_expected: bool) -> None:
    """Called by the LM for every completion; a no-op outside :func:`completion_log`."""
    for log in getattr(_local, "stack", None) or ():
        log.completions.append(Completion(text, finish_reason, json_expected))


def completions_of(response: Any) -> list[tuple[str | None, str | None]]:
    """(text, finish_reason) per choice of a DSPy history entry's response: an lm15 ``Response``
    (DSPy 3.4's native path), a tuple of them, or a LiteLLM/OpenAI ``ModelResponse``."""
    if response is None:
        return []
    if isinstance(response, (list, tuple)):
        return [pair for item in response for pair in completions_of(item)]
    choices = getattr(response, "choices", None)
    if choices is None and isinstance(response, dict):
        choices = response.get("choices")
    if choices is not None:
        out = []
        for choice in choices:
            get = (choice.get if isinstance(choice, dict) else lambda key, c=choice: getattr(c, key, None))
            message = get("message")
            text = (message.get("content") if isinstance(message, dict) else getattr(message, "content", None)
                    ) if message is not None else get("text")
            out.append((text, get("finish_reason")))
        return out
    return [(getattr(response, "text", None), getattr(response, "finish_reason", None))]


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def is_strict_json_object(text: str | None) -> bool:
    """Whether the text is one JSON object as written (a ```json fence around it is allowed)."""
    if not text:
        return False
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        return isinstance(json.loads(stripped), dict)
    except ValueError:
        return False


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _strings(getattr(value, name), f"{path}.{name}" if path else name)
    elif isinstance(value, (list, tuple)):
        yield path, value
        for item in value:
            yield from _strings(item, path)
    elif isinstance(value, str):
        yield path, value


def _model_names(value: Any) -> tuple[set[str], set[str]]:
    """Class names and field names of the Pydantic models inside an output."""
    classes, fields = set(), set()
    if isinstance(value, BaseModel):
        classes.add(type(value).__name__)
        for name in type(value).model_fields:
            fields.add(name.lower())
            sub_classes, sub_fields = _model_names(getattr(value, name))
            classes |= sub_classes
            fields |= sub_fields
    elif isinstance(value, (list, tuple)):
        for item in value:
            sub_classes, sub_fields = _model_names(item)
            classes |= sub_classes
            fields |= sub_fields
    return classes, fields


_WORD = re.compile(r"\w+", re.UNICODE)


def repeated_phrase(text: str, min_repeats: int = 3, min_share: float = 0.6) -> str | None:
    """A phrase (1-8 words) that repeats ``min_repeats``+ times and covers ``min_share`` of the text."""
    words = [w.lower() for w in _WORD.findall(text)]
    if len(words) < 6:
        return None
    for n in range(1, 9):
        if n * min_repeats > len(words):
            break
        grams = Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))
        gram, repeats = grams.most_common(1)[0]
        if repeats >= min_repeats and repeats * n >= min_share * len(words):
            if n == 1 and len(gram[0]) <= 3:
                continue  # "a a a" is noise; only a real word or phrase looping counts
            return " ".join(gram)
    return None


def degenerate_reason(outputs: dict[str, Any], signature_fields: set[str] = frozenset()) -> str | None:
    """Why a parsed output is degenerate (echoes the schema, or loops on one phrase), or None.

    ``outputs`` maps output field names to values (Pydantic models, strings or lists of them)."""
    classes, fields = set(), {name.lower() for name in signature_fields}
    for name, value in outputs.items():
        fields.add(name.lower())
        sub_classes, sub_fields = _model_names(value)
        classes |= sub_classes
        fields |= sub_fields
    # Only compound names (ItemProfile, UserProfile): "Verdict" alone is an ordinary word in a rationale.
    classes = {name for name in classes if sum(c.isupper() for c in name) >= 2}
    class_pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(classes))) + r")\b") if classes else None
    for name, value in outputs.items():
        for path, text in _strings(value, name):
            if isinstance(text, (list, tuple)):
                items = [str(item).strip().lower() for item in text if isinstance(item, str)]
                if len(items) >= 3 and len(set(items)) == 1:
                    return f"{path} repeats one entry {len(items)} times: {items[0]!r}"
                continue
            stripped = text.strip()
            if not stripped:
                continue
            if class_pattern is not None and class_pattern.search(stripped):
                return f"{path} echoes the schema: {stripped[:80]!r}"
            if stripped.lower().rstrip(":.") in fields:
                return f"{path} echoes a field name: {stripped[:80]!r}"
            phrase = repeated_phrase(stripped)
            if phrase is not None:
                return f"{path} repeats {phrase!r}: {stripped[:80]!r}"
    return None


@dataclass
class Rejection:
    kind: str  # "parse" or "degenerate"
    message: str


def rejection(log: CompletionLog, prediction: Any) -> Rejection | None:
    """Whether a call that returned ``prediction`` must be recorded as a failure instead."""
    for completion in log.completions:
        reason = completion.finish_reason
        if reason is not None and reason not in COMPLETE_FINISH_REASONS:
            return Rejection("parse", f"the LM's answer is incomplete (finish_reason={reason}); "
                                      "it was not taken as a result (raise --max-tokens?)")
        if completion.json_expected and not is_strict_json_object(completion.text):
            return Rejection("parse", "the LM's answer is not valid JSON; the adapter's repair of it was "
                                      "not taken as a result")
    if prediction is not None:
        outputs = {key: value for key, value in dict(prediction.items()).items()
                   if key not in ("logprobs", "reasoning", "rationale")}
        reason = degenerate_reason(outputs)
        if reason is not None:
            return Rejection("degenerate", f"degenerate output: {reason}")
    return None
