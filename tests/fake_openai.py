"""A tiny OpenAI-compatible chat server for tests: it answers every request with schema-valid JSON.

It is a real HTTP server on 127.0.0.1 (test code only), so the judge's remote-LM path runs for
real: DSPy, the JSON adapter, response_format, retries and usage accounting. It reads the
requested JSON schema to decide which kind of answer to give, counts requests, and can fail the
first N requests with HTTP 503 to exercise retries.

Faults, for the judge's fault tests: ``hang_first`` requests sleep ``hang_s`` before answering (a
hung server), and ``respond(number, properties, content)`` may replace an answer with
``(content, finish_reason)``: cut-off JSON with ``finish_reason='length'`` (:func:`cut_off`), garbage,
an echo of the schema...
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def cut_off(number: int, properties: dict, content: str) -> tuple[str, str]:
    """What a server returns at max_tokens: the JSON stops mid-string, finish_reason is 'length'."""
    return content[: max(12, len(content) // 2)], "length"


def answer_for(schema_properties: dict, prompt: str) -> dict:
    if "verdict" in schema_properties:
        # Deterministic but varied: the label depends on the prompt text.
        label = ("High", "Mid", "Low")[sum(map(ord, prompt)) % 3]
        return {"verdict": {"label": label, "rationale": "fake rationale"}}
    if "hardness" in schema_properties:
        # A varied score, so that LLMHD's decisions and updates see likes, dislikes and middles.
        return {"hardness": {"score": 1 + sum(map(ord, prompt)) % 10, "reason": "fake reason"}}
    if "preference" in schema_properties:
        return {"preference": {"summary": "Likes dramas, not comedies."}}
    if "negative_item" in schema_properties:
        return {"negative_item": {"title": "A loud comedy", "genres": ["Comedy"], "description": "Slapstick."}}
    profile = schema_properties.get("profile", {})
    ref = profile.get("$ref", "")
    if "UserProfile" in ref:
        return {"profile": {"summary": "Likes films.", "liked_genres": ["Drama"], "tastes": "Classics."}}
    return {"profile": {"summary": "A film.", "audience": "Film fans."}}


class FakeOpenAI:
    def __init__(self, delay_s: float = 0.0, fail_first: int = 0):
        self.delay_s = delay_s
        self.fail_first = fail_first
        self.hang_first = 0
        self.hang_s = 0.0
        self.respond: Callable[[int, dict, str], tuple[str, str] | None] | None = None
        self.requests = 0
        self.bodies: list[dict] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with owner._lock:
                    owner.requests += 1
                    number = owner.requests
                    owner.bodies.append(body)
                if self.path.endswith("/embeddings"):
                    texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    # A deterministic 8-d vector per text: letter counts of a few vowels and consonants.
                    vectors = [[float(t.lower().count(c)) + 0.1 for c in "aeioustr"] for t in texts]
                    payload = {"object": "list", "model": body.get("model"),
                               "data": [{"object": "embedding", "index": i, "embedding": v}
                                        for i, v in enumerate(vectors)],
                               "usage": {"prompt_tokens": 1, "total_tokens": 1}}
                    self._reply(json.dumps(payload).encode())
                    return
                if number <= owner.fail_first:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "overloaded"}}')
                    return
                if number <= owner.fail_first + owner.hang_first:
                    time.sleep(owner.hang_s)
                time.sleep(owner.delay_s)
                schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
                prompt = json.dumps(body.get("messages", []))
                content = json.dumps(answer_for(schema.get("properties", {}), prompt))
                finish_reason = "stop"
                if owner.respond is not None:
                    replaced = owner.respond(number, schema.get("properties", {}), content)
                    if replaced is not None:
                        content, finish_reason = replaced
                payload = {
                    "id": f"fake-{number}", "object": "chat.completion", "created": 0, "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": finish_reason,
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                }
                self._reply(json.dumps(payload).encode())

            def _reply(self, data: bytes) -> None:
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except BrokenPipeError:  # the client was killed mid-call, as the resume test intends
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def lm_args(fake: FakeOpenAI, store) -> list[str]:
    """`python -m judge` options that point the judge at ``fake`` (key from FAKE_API_KEY, fast retries)."""
    return ["--store", str(store), "--lm", "openai/fake", "--api-base", fake.api_base, "--json-schema",
            "--api-key-env", "FAKE_API_KEY", "--no-progress", "--backoff-s", "0.01"]
