"""A tiny OpenAI-compatible chat server for tests: it answers every request with schema-valid JSON.

It is a real HTTP server on 127.0.0.1 (test code only), so the judge's remote-LM path runs for
real: DSPy, the JSON adapter, response_format, retries and usage accounting. It reads the
requested JSON schema to decide which kind of answer to give, counts requests, and can fail the
first N requests with HTTP 503 to exercise retries.

Faults, for the judge's fault tests: ``hang_first`` requests sleep ``hang_s`` before answering (a
hung server), and ``respond(number, properties, content)`` may replace an answer with
``(content, finish_reason)``: cut-off JSON with ``finish_reason='length'`` (:func:`cut_off`), garbage,
an echo of the schema...

The batch API (for ``--batch-api``, :mod:`judge.batch`): file upload and content, batch create and
retrieve, with the batch advancing validating -> in_progress -> its end as it is polled; every
batched line is answered as the same live request would be. Faults: ``batch_hold``, ``batch_end``
(expired, failed, cancelled), ``batch_error`` per request (see :meth:`FakeOpenAI.reset_batches`).
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from email.parser import BytesParser
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def cut_off(number: int, properties: dict, content: str) -> tuple[str, str]:
    """What a server returns at max_tokens: the JSON stops mid-string, finish_reason is 'length'."""
    return content[: max(12, len(content) // 2)], "length"


def listed_candidates(prompt: str) -> list[str]:
    """The candidate numbers a listwise judge's last message asks about (its ``candidates`` JSON object)."""
    messages = json.loads(prompt)
    content = messages[-1].get("content", "") if messages else ""
    match = re.search(r"\[\[ ## candidates ## \]\]\n(\{.*?\})\n", content, re.DOTALL)
    return list(json.loads(match.group(1))) if match else []


def answer_for(schema_properties: dict, prompt: str) -> dict:
    if "judged" in schema_properties:
        # A listwise verdict: one entry per candidate asked, each label varied like the pairwise ones.
        return {"judged": {"verdicts": [
            {"candidate": int(number), "label": ("High", "Mid", "Low")[(sum(map(ord, prompt)) + int(number)) % 3]}
            for number in listed_candidates(prompt)]}}
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
        self.reset_batches()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?")[0]
                batch = re.fullmatch(r".*/batches/([^/]+)", path)
                content = re.fullmatch(r".*/files/([^/]+)/content", path)
                if batch and batch.group(1) in owner.batches:
                    self._reply(json.dumps(owner._poll_batch(batch.group(1))).encode())
                elif content and content.group(1) in owner.files:
                    self._reply(owner.files[content.group(1)]["data"], "application/octet-stream")
                else:
                    self._reply(b'{"error": {"message": "not found", "type": "invalid_request_error"}}', status=404)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path.endswith("/files"):
                    self._reply(json.dumps(owner._upload(self.headers["Content-Type"], raw)).encode())
                    return
                if self.path.endswith("/batches"):
                    self._reply(json.dumps(owner._create_batch(json.loads(raw))).encode())
                    return
                body = json.loads(raw)
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
                    self._reply(b'{"error": {"message": "overloaded"}}', status=503)
                    return
                if number <= owner.fail_first + owner.hang_first:
                    time.sleep(owner.hang_s)
                time.sleep(owner.delay_s)
                self._reply(json.dumps(owner._completion(body, number)).encode())

            def _reply(self, data: bytes, content_type: str = "application/json", status: int = 200) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except BrokenPipeError:  # the client was killed mid-call, as the resume test intends
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _completion(self, body: dict, number: int) -> dict:
        """The chat completion this server answers ``body`` with (live or in a batch)."""
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema", {})
        prompt = json.dumps(body.get("messages", []))
        content = json.dumps(answer_for(schema.get("properties", {}), prompt))
        finish_reason = "stop"
        if self.respond is not None:
            replaced = self.respond(number, schema.get("properties", {}), content)
            if replaced is not None:
                content, finish_reason = replaced
        return {
            "id": f"fake-{number}", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": finish_reason,
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
        }

    # -- the batch API: /v1/files, /v1/batches, /v1/batches/{id}, /v1/files/{id}/content ------------

    def reset(self) -> None:
        """Back to a healthy server with no requests seen: every fault off, counters and files cleared."""
        self.requests, self.delay_s, self.fail_first = 0, 0.0, 0
        self.hang_first, self.hang_s, self.respond = 0, 0.0, None
        self.bodies.clear()
        self.reset_batches()

    def reset_batches(self) -> None:
        """Forget every file and batch, and put the batch faults back to none.

        A batch goes validating -> in_progress -> (after ``batch_steps`` more polls) its end, unless
        ``batch_hold`` keeps it in progress. Its end is ``batch_end``: ``completed`` answers every
        line; ``expired`` and ``cancelled`` answer only the first ``batch_answered`` lines and leave
        the rest out of both files; ``failed`` answers none (input validation failed).
        ``batch_error(custom_id)`` may return ``(status_code, message)``: that line goes to the error
        file instead of being answered. Batched lines count in ``requests`` (and reach ``respond``)
        as live calls do; ``batch_bodies`` holds their bodies."""
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self._batch_serial = 0
        self.batch_steps = 1
        self.batch_hold = False
        self.batch_end = "completed"
        self.batch_answered = 0
        self.batch_error: Callable[[str], tuple[int, str] | None] | None = None
        self.batch_bodies: list[dict] = []
        self.batch_polls = 0

    @property
    def batches_created(self) -> int:
        return len(self.batches)

    def _new_file(self, data: bytes, filename: str, purpose: str) -> dict:
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                                   "filename": filename, "purpose": purpose, "status": "processed", "data": data}
        return {k: v for k, v in self.files[file_id].items() if k != "data"}

    def _upload(self, content_type: str, raw: bytes) -> dict:
        message = BytesParser(policy=default).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        purpose = fields["purpose"].get_content().strip()
        upload = fields["file"]
        return self._new_file(upload.get_payload(decode=True), upload.get_filename(), purpose)

    def _create_batch(self, request: dict) -> dict:
        lines = [json.loads(line) for line in self.files[request["input_file_id"]]["data"].decode().splitlines()
                 if line.strip()]
        with self._lock:
            self._batch_serial += 1  # never reused, even after ``batches`` is cleared (a server reset)
            batch_id = f"batch_{self._batch_serial}"
            self.batches[batch_id] = {"object": {
                "id": batch_id, "object": "batch", "endpoint": request["endpoint"], "errors": None,
                "input_file_id": request["input_file_id"], "completion_window": request["completion_window"],
                "status": "validating", "output_file_id": None, "error_file_id": None,
                "created_at": int(time.time()), "metadata": request.get("metadata"),
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}, "lines": lines, "polls": 0}
        return self.batches[batch_id]["object"]

    def _poll_batch(self, batch_id: str) -> dict:
        with self._lock:
            self.batch_polls += 1
            batch = self.batches[batch_id]
            state = batch["object"]
            batch["polls"] += 1
            if state["status"] == "validating":
                state["status"] = "in_progress"
                return dict(state)
            if state["status"] != "in_progress" or self.batch_hold or batch["polls"] <= 1 + self.batch_steps:
                return dict(state)
        self._end_batch(batch)
        return dict(batch["object"])

    def _end_batch(self, batch: dict) -> None:
        state, lines = batch["object"], batch["lines"]
        answered = {"completed": len(lines), "failed": 0}.get(self.batch_end, self.batch_answered)
        output, errors = [], []
        for index, line in enumerate(lines[:answered]):
            with self._lock:
                self.requests += 1
                number = self.requests
                self.batch_bodies.append(line["body"])
            failure = self.batch_error(line["custom_id"]) if self.batch_error is not None else None
            if failure is None and number <= self.fail_first:
                failure = (503, "overloaded")
            request_id = f"req_{number}"
            if failure is None:
                output.append({"id": f"batch_req_{number}", "custom_id": line["custom_id"], "error": None,
                               "response": {"status_code": 200, "request_id": request_id,
                                            "body": self._completion(line["body"], number)}})
            else:
                errors.append({"id": f"batch_req_{number}", "custom_id": line["custom_id"], "error": None,
                               "response": {"status_code": failure[0], "request_id": request_id,
                                            "body": {"error": {"message": failure[1], "type": "server_error"}}}})
        now = int(time.time())
        if output:
            state["output_file_id"] = self._new_file("".join(json.dumps(o) + "\n" for o in output).encode(),
                                                     "output.jsonl", "batch_output")["id"]
        if errors:
            state["error_file_id"] = self._new_file("".join(json.dumps(e) + "\n" for e in errors).encode(),
                                                    "errors.jsonl", "batch_output")["id"]
        if self.batch_end == "failed":
            state["errors"] = {"object": "list", "data": [{"code": "invalid_request", "message": "validation failed"}]}
        state["request_counts"] = {"total": len(lines), "completed": len(output), "failed": len(errors)}
        state["status"] = self.batch_end
        state[{"completed": "completed_at", "expired": "expired_at", "failed": "failed_at",
               "cancelled": "cancelled_at"}[self.batch_end]] = now

    def batch_input(self, batch_id: str) -> list[dict]:
        """The lines a batch was submitted with."""
        return self.batches[batch_id]["lines"]

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def run_judge(*args: str) -> None:
    """`python -m judge ARGS` in this process."""
    from pydantic_settings import CliApp

    from judge.__main__ import JudgeCLI

    CliApp.run(JudgeCLI, cli_args=list(args))


def judge_template(folder: Path, fake: FakeOpenAI, secret: str, candidates: Sequence[str] = (
        "--low-positives", "1", "--high-negatives", "1"), profiles: Sequence[str] | None = ()
                   ) -> tuple[Path, list[str]]:
    """A store with a synthetic dataset's candidates and (unless ``profiles`` is None) its LM profiles
    from ``fake``, made once through the CLI: (store, the data options every later command repeats)."""
    from tests.conftest import synthetic_ratings

    os.environ.setdefault("FAKE_API_KEY", secret)
    ratings = folder / "ratings.csv"
    synthetic_ratings().to_csv(ratings, index=False)
    store = folder / "template.duckdb"
    data = ["--dataset", str(ratings), "--noise-ratio", "0.05", "--no-progress"]
    run_judge("candidates", "--store", str(store), *candidates, *data)
    if profiles is not None:
        run_judge("profiles", *lm_args(fake, store), *data, *profiles)
    return store, data


def lm_args(fake: FakeOpenAI, store) -> list[str]:
    """`python -m judge` options that point the judge at ``fake`` (key from FAKE_API_KEY, fast retries)."""
    return ["--store", str(store), "--lm", "openai/fake", "--api-base", fake.api_base, "--json-schema",
            "--api-key-env", "FAKE_API_KEY", "--no-progress", "--backoff-s", "0.01"]
