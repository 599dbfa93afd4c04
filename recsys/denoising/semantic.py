"""Semantic relevance: profile texts, their cached embeddings, the goal-aligned projector, FAISS.

docs/design.md, "Goal-aligned semantic embeddings": an encoder turns user and item profiles into s_u,
s_i; an MLP projector g is trained with InfoNCE on pseudo-positive pairs (training edges whose text
similarity is also high for that user); the aligned relevance is sem(u, i) = cos(g(s_u), g(s_i)).
"""

from __future__ import annotations

import hashlib
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field
from tqdm.auto import tqdm

from recsys.data.texts import item_texts, profile_texts, user_histories
from recsys.store import Store
from recsys.store.splits import split_size
from recsys.store.vectors import cached_text_vectors, insert_text_vectors
from recsys.training.device import resolve_device
from recsys.training.losses import info_nce


class TextEncoder(Protocol):
    identity: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


ENCODE_CHUNK = 512  # texts per progress step and per store write (a kill loses at most one chunk)


def cached_encode(store: Store, encoder: TextEncoder, texts: list[str], progress: bool = False,
                  desc: str = "encoding") -> np.ndarray:
    """Encode texts, reusing every vector the store already has for this encoder; new vectors are
    written a chunk at a time, so an interrupted run keeps what it encoded."""
    hashes = [_text_hash(t) for t in texts]
    known = cached_text_vectors(store, encoder.identity, hashes)
    missing = sorted({h: t for h, t in zip(hashes, texts) if h not in known}.items())
    with tqdm(total=len(missing), desc=desc, unit="text", disable=not progress or not missing) as bar:
        for start in range(0, len(missing), ENCODE_CHUNK):
            chunk = missing[start: start + ENCODE_CHUNK]
            vectors = encoder.encode([t for _, t in chunk])
            insert_text_vectors(store, encoder.identity, [(h, v) for (h, _), v in zip(chunk, vectors)])
            known |= {h: v for (h, _), v in zip(chunk, vectors)}
            bar.update(len(chunk))
    return np.asarray([known[h] for h in hashes], dtype=np.float32)


def entity_texts(store: Store, split_id: str, profile_lm: str | None = None, user_prompt: str | None = None,
                 item_prompt: str | None = None, max_history: int = 15) -> tuple[list[str], list[str], dict]:
    """One text per user and per item (by index): a user's recent training items and an item's own
    text, each followed by its LLM profile where the store has one for the given LM and prompts (the
    LM work is bounded, so some entities have none; every text keeps the same base part).
    Returns the texts and how many of each carry an LLM profile."""
    with store.connect() as con:
        num_users, num_items = split_size(con, split_id)
    profiles = ({kind: profile_texts(store, split_id, kind, profile_lm, prompt)
                 for kind, prompt in (("user", user_prompt), ("item", item_prompt))} if profile_lm is not None else {})
    items = item_texts(store, split_id)
    histories = user_histories(store, split_id, max_history)
    user_profiles, item_profiles = profiles.get("user", {}), profiles.get("item", {})
    users_text = [
        ("Watched: " + "; ".join(items[i] for i in histories[u]) if histories.get(u) else "No history.")
        + (" " + user_profiles[u] if u in user_profiles else "")
        for u in range(num_users)
    ]
    items_text = [
        items.get(i, "") + (" " + item_profiles[i] if i in item_profiles else "") for i in range(num_items)
    ]
    return users_text, items_text, {"user_profiles": len(user_profiles), "item_profiles": len(item_profiles)}


class AlignmentConfig(BaseModel):
    """The goal-alignment projector g and its InfoNCE training."""

    align: bool = Field(True, description="Train the projector g with L_al (the paper's goal alignment); --no-align "
                        "uses the raw encoder similarity (the ablation 'w/o alignment').")
    projector_hidden: int = Field(256, gt=0, description="Hidden width of the projector MLP.")
    projector_dim: int = Field(64, gt=0, description="Output size of the projector.")
    align_temperature: float = Field(0.1, gt=0, description="InfoNCE temperature of L_al, the projector's loss.")
    align_epochs: int = Field(40, gt=0, description="Projector training epochs.")
    align_batch_size: int = Field(1024, gt=0, description="Pseudo-positive pairs per InfoNCE batch.")
    align_lr: float = Field(1e-3, gt=0, description="Projector learning rate.")
    pseudo_positive_share: float = Field(
        0.5, gt=0, le=1, description="A training edge is a pseudo-positive when its text similarity is in the "
        "user's top share of training items."
    )


class Projector(torch.nn.Module):
    """g: a two-layer MLP into the recommendation space, output L2-normalized."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(in_dim, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=-1)


def pseudo_positive_pairs(train: torch.Tensor, user_vecs: torch.Tensor, item_vecs: torch.Tensor,
                          share: float) -> torch.Tensor:
    """Training edges whose raw text similarity is within the user's top ``share`` of their edges."""
    sim = (F.normalize(user_vecs, dim=-1)[train[0]] * F.normalize(item_vecs, dim=-1)[train[1]]).sum(-1)
    keep = torch.zeros(train.size(1), dtype=torch.bool)
    order = torch.argsort(train[0] * 4.0 - sim.double().clamp(-1, 1), stable=True)  # by user, then similarity desc
    users = train[0][order]
    starts = torch.searchsorted(users, users, right=False)
    counts = torch.bincount(users)[users]
    rank = torch.arange(users.numel()) - starts
    keep[order] = rank < torch.clamp((counts.float() * share).ceil().long(), min=1)
    return train[:, keep]


def train_projector(user_vecs: torch.Tensor, item_vecs: torch.Tensor, pairs: torch.Tensor,
                    config: AlignmentConfig, seed: int, progress: bool = False,
                    device: str | torch.device = "cpu") -> tuple[Projector, list[float]]:
    """InfoNCE between g(s_u) and g(s_i) of pseudo-positive pairs, with in-batch negatives (L_al).

    On ``device`` (see :func:`recsys.training.device.resolve_device`) the vectors, the pairs and the projector
    move there once and the shuffling generator lives there; the projector comes back on the CPU."""
    device = resolve_device(device)
    torch.manual_seed(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    projector = Projector(user_vecs.size(1), config.projector_hidden, config.projector_dim)  # same init anywhere
    if device.type != "cpu":
        projector.to(device)
        user_vecs, item_vecs, pairs = user_vecs.to(device), item_vecs.to(device), pairs.to(device)
    optimizer = torch.optim.Adam(projector.parameters(), lr=config.align_lr)
    losses = []
    bar = tqdm(range(config.align_epochs), desc="alignment", unit="epoch", disable=not progress)
    for _ in bar:
        total = 0.0
        order = torch.randperm(pairs.size(1), generator=generator, device=device)
        for chunk in order.split(config.align_batch_size):
            users, items = pairs[0, chunk], pairs[1, chunk]
            loss = info_nce(projector(user_vecs[users]), projector(item_vecs[items]), config.align_temperature)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * chunk.numel()
        losses.append(total / pairs.size(1))
        bar.set_postfix(info_nce=f"{losses[-1]:.4f}")
    bar.close()
    return projector.cpu().eval(), losses


def ranking_auc(user_vecs: torch.Tensor, item_vecs: torch.Tensor, positives: torch.Tensor, seed: int = 0) -> float:
    """P(sem(u, i+) > sem(u, j)) for held-out positives i+ and uniformly random items j."""
    generator = torch.Generator().manual_seed(seed)
    random_items = torch.randint(item_vecs.size(0), (positives.size(1),), generator=generator)
    u = F.normalize(user_vecs, dim=-1)[positives[0]]
    i = F.normalize(item_vecs, dim=-1)
    pos = (u * i[positives[1]]).sum(-1)
    neg = (u * i[random_items]).sum(-1)
    return float((pos > neg).float().mean() + 0.5 * (pos == neg).float().mean())


def faiss_gpu_available() -> bool:
    """Whether the installed faiss is a GPU build that sees at least one GPU."""
    import faiss

    return hasattr(faiss, "StandardGpuResources") and hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0


class SemanticIndex:
    """FAISS inner-product index over L2-normalized item vectors (cosine similarity).

    On the CPU (the default): exact search below ``exact_threshold`` items, HNSW above. With
    ``device`` cuda and faiss-gpu installed (``pip install -e .[gpu]``), exact search on that GPU at
    any size (brute force on a GPU beats CPU HNSW at these sizes); with cuda but a CPU-only faiss, the
    CPU index, and ``on_gpu`` says so.
    """

    def __init__(self, item_vecs: np.ndarray, exact_threshold: int = 50_000, hnsw_m: int = 32,
                 device: str | torch.device = "cpu"):
        import faiss

        vectors = np.ascontiguousarray(item_vecs, dtype=np.float32)
        dim = vectors.shape[1]
        device = resolve_device(device)
        self.on_gpu = device.type == "cuda" and faiss_gpu_available()
        if len(vectors) <= exact_threshold or self.on_gpu:
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        if self.on_gpu:
            self._resources = faiss.StandardGpuResources()  # must outlive the index
            index = faiss.index_cpu_to_gpu(self._resources, device.index or 0, index)
        index.add(vectors)
        self.index = index
        self.kind = type(index).__name__

    def search(self, query_vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, item ids) of the k nearest items of each query, best first."""
        return self.index.search(np.ascontiguousarray(query_vecs, dtype=np.float32), k)
