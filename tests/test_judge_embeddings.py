"""The default text encoder: all-MiniLM-L6-v2 from its wheel, offline, to unit float32 vectors."""

from __future__ import annotations

import numpy as np
import pytest

from judge.embeddings import Encoder, EncoderConfig, encoder_identity

pytestmark = pytest.mark.slow  # loads a real sentence-transformer (a few seconds, once per module)

SCI_FI = "A science fiction film about astronauts exploring a distant galaxy in a spaceship."
SCI_FI_TOO = "A sci-fi movie where aliens invade Earth and soldiers fight back with laser weapons."
ROMANCE = "A romantic comedy about two people who fall in love at a summer wedding."


@pytest.fixture(scope="module")
def encoder():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")  # nothing may be fetched
        encoder = Encoder()
        encoder.encode(["warm up"])  # loads the model while offline
        yield encoder


def test_default_encoder_identity():
    assert EncoderConfig().encoder == "minilm"
    assert encoder_identity(EncoderConfig()) == "sentence-transformers/all-MiniLM-L6-v2"
    assert Encoder().identity == "sentence-transformers/all-MiniLM-L6-v2"


def test_minilm_encodes_texts_to_unit_float32_vectors(encoder):
    vectors = encoder.encode([SCI_FI, SCI_FI_TOO, ROMANCE])

    assert isinstance(vectors, np.ndarray)
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, 384)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(vectors[0], vectors[2])


def test_similar_texts_are_closer(encoder):
    sci_fi, sci_fi_too, romance = encoder.encode([SCI_FI, SCI_FI_TOO, ROMANCE])
    # Observed cosines: 0.45 between the sci-fi texts, 0.21 between sci-fi and romance.
    assert sci_fi @ sci_fi_too > sci_fi @ romance + 0.1
    assert sci_fi @ sci_fi_too > sci_fi_too @ romance


def test_encoding_is_deterministic_and_independent_of_the_batch(encoder):
    alone = encoder.encode([ROMANCE])
    together = encoder.encode([SCI_FI, ROMANCE])
    np.testing.assert_allclose(alone[0], together[1], atol=1e-5)


def test_an_empty_list_gives_an_empty_array(encoder):
    vectors = encoder.encode([])
    assert isinstance(vectors, np.ndarray)
    assert vectors.size == 0 and vectors.shape[0] == 0
    assert vectors.dtype == np.float32
