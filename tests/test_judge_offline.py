"""Offline guarantees of the backends: no network with the embedded model, and the remote encoder path."""

import subprocess
import sys

import numpy as np
import pytest

from judge.embeddings import Encoder, EncoderConfig
from tests.fake_openai import FakeOpenAI

NO_NETWORK_SCRIPT = r"""
import ipaddress, socket, sys
outside = []

def hook(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple):
        host = args[1][0]
        try:
            if not ipaddress.ip_address(host).is_loopback:
                outside.append(host)
        except ValueError:
            outside.append(host)
    elif event == "socket.getaddrinfo" and args[0] not in ("127.0.0.1", "localhost", "::1", None):
        outside.append(args[0])

sys.addaudithook(hook)
import judge  # sets the offline environment before dspy/litellm load
from judge.lm import LMConfig, configure_dspy
from judge.programs import UserViewJudge
# What is checked is where sockets go, not speed: the call is bounded by the LM's own timeout, and a
# verdict that a loaded machine cuts off still made (or tried) its one request.
configure_dspy(LMConfig(embedded_slots=1, embedded_threads=1, timeout_s=90))
try:
    label = UserViewJudge()(user_profile="Likes westerns.", candidate_item="Unforgiven (1992). Genres: Western.").verdict.label
except Exception as error:  # a timeout or a cut-off answer under load: the network audit still stands
    label = f"({type(error).__name__})"
print(label, "outside:", outside)
sys.exit(1 if outside else 0)
"""


@pytest.mark.slow
def test_embedded_model_never_reaches_outside_loopback():
    # The script bounds its own LM call (timeout_s=90); this limit only catches a hang of the process itself.
    result = subprocess.run([sys.executable, "-c", NO_NETWORK_SCRIPT], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    assert "outside: []" in result.stdout


def test_remote_encoder_through_an_openai_compatible_server(monkeypatch):
    monkeypatch.setenv("FAKE_EMBED_KEY", "sk-embed")
    with FakeOpenAI() as fake:
        encoder = Encoder(EncoderConfig(encoder="openai/fake-embed", encoder_api_base=fake.api_base,
                                        encoder_api_key_env="FAKE_EMBED_KEY"))
        vectors = encoder.encode(["banana split", "a rose", "banana bread"])
        assert fake.requests >= 1
    assert vectors.shape == (3, 8) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[1]
    assert encoder.identity == f"openai/fake-embed@{fake.api_base}"
