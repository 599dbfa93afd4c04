"""The BPR training loop with early stopping on validation Recall@K."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from pydantic import BaseModel, Field, field_validator
from tqdm.auto import tqdm

from recsys.data.split import SplitData
from recsys.models.backbones import build_backbone
from recsys.models.graph import normalized_adjacency
from recsys.training.device import DeviceName, move_to_device, resolve_device
from recsys.training.evaluate import FullRankingEvaluator
from recsys.training.sampling import UniformNegativeSampler


class OptimConfig(BaseModel):
    """Backbone size and the optimisation schedule."""

    embedding_dim: int = Field(64, gt=0, description="Embedding size d.")
    num_layers: int = Field(3, ge=0, description="Graph propagation layers.")
    ngcf_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="NGCF message dropout.")
    epochs: int = Field(400, gt=0, description="Maximum training epochs (early stopping usually ends sooner).")
    batch_size: int = Field(4096, gt=0, description="BPR triples per optimizer step.")
    lr: float = Field(5e-3, gt=0, description="Adam learning rate.")
    reg: float = Field(1e-6, ge=0, description="L2 weight on the batch's layer-0 embeddings (PyG BPRLoss lambda).")
    eval_every: int = Field(1, gt=0, description="Validate every this many epochs, and always at the last one.")
    patience: int = Field(20, gt=0, description="Stop after this many validations without a better valid metric.")
    early_stop_metric: str = Field("recall@20", description="Validation metric for early stopping.")
    ks: list[int] = Field([5, 10, 20], description="Cut-offs K for Recall@K and NDCG@K.")
    eval_batch_size: int = Field(1024, gt=0, description="Users ranked at once in full-ranking evaluation.")
    device: DeviceName = Field(
        "cpu", description="Where the backbone, the objective, evaluation, the alignment projector and FAISS run: "
        "cpu, cuda, or auto (cuda when torch sees a GPU). CPU results are the tested ones.")

    @field_validator("device")
    @classmethod
    def _resolve_device(cls, value: str) -> str:
        # 'auto' is stored (and hashed) as the device it means; 'cuda' without a GPU is an option error
        return resolve_device(value).type


@dataclass
class TrainResult:
    best_epoch: int
    valid: dict[str, float]
    test: dict[str, float]
    epochs_run: int
    timings: dict[str, float] = field(default_factory=dict)
    # The trained (user [U, d], item [I, d]) embeddings at the best epoch; None for untrained rankings.
    embeddings: tuple[torch.Tensor, torch.Tensor] | None = None
    # Metrics known only after training (e.g. what a denoiser dropped), by split name; stored at epoch 0.
    extra_metrics: dict[str, dict[str, float]] = field(default_factory=dict)


EpochCallback = Callable[[int, float, dict[str, float] | None], None]
ModelCallback = Callable[[torch.nn.Module, torch.Tensor], None]  # (model, the graph it is ranked on)


class Objective(Protocol):
    """What a training method adds to the shared loop of :func:`fit`."""

    edges: torch.Tensor  # [2, E] the positives one epoch iterates over
    eval_adj: torch.Tensor  # the graph the model is encoded on for ranking

    def start_epoch(self, model: torch.nn.Module, generator: torch.Generator) -> None: ...

    def batch_loss(self, model: torch.nn.Module, users: torch.Tensor, positives: torch.Tensor,
                   generator: torch.Generator) -> torch.Tensor: ...


class BPRObjective:
    """L_rec alone: BPR with L2 on the batch's layer-0 embeddings, and a negative sampler."""

    def __init__(self, edges: torch.Tensor, adj: torch.Tensor, sampler, reg: float):
        self.edges, self.eval_adj, self.adj = edges, adj, adj
        self.sampler = sampler
        from torch_geometric.nn.models.lightgcn import BPRLoss  # torch_geometric loads in 1.5 s: not for --help

        self.bpr = BPRLoss(lambda_reg=reg)

    def start_epoch(self, model, generator) -> None:
        pass

    def rec_loss(self, model, user_emb, item_emb, users, positives, generator) -> torch.Tensor:
        negatives = self.sampler.sample(users, generator)
        u = user_emb[users]
        pos_score = (u * item_emb[positives]).sum(-1)
        neg_score = (u * item_emb[negatives]).sum(-1)
        return self.bpr(pos_score, neg_score, model.ego_embeddings(users, torch.cat([positives, negatives])))

    def batch_loss(self, model, users, positives, generator) -> torch.Tensor:
        user_emb, item_emb = model.user_item_embeddings(self.adj)
        return self.rec_loss(model, user_emb, item_emb, users, positives, generator)


def build_model(data: SplitData, model_name: str, config: OptimConfig) -> torch.nn.Module:
    return build_backbone(model_name, data.num_users, data.num_items, config.embedding_dim,
                          config.num_layers, config.ngcf_dropout)


def train_bpr(
    data: SplitData,
    model_name: str,
    config: OptimConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    after_epoch: ModelCallback | None = None,
) -> TrainResult:
    """Train a backbone with BPR and uniform negatives; return test metrics at the best valid epoch."""
    torch.manual_seed(seed)
    model = build_model(data, model_name, config)
    adj = normalized_adjacency(data.train, data.num_users, data.num_items)
    objective = BPRObjective(data.train, adj, UniformNegativeSampler(data.train, data.num_items), config.reg)
    return fit(model, data, objective, config, seed, on_epoch, progress, desc=model_name, after_epoch=after_epoch)


def fit(
    model: torch.nn.Module,
    data: SplitData,
    objective: Objective,
    config: OptimConfig,
    seed: int,
    on_epoch: EpochCallback | None = None,
    progress: bool = True,
    desc: str = "train",
    after_epoch: ModelCallback | None = None,
) -> TrainResult:
    """The shared loop: epochs of mini-batches over ``objective.edges``, validation, early stopping,
    and test metrics at the best validation epoch. Rankings mask the original training items.

    ``after_epoch(model, eval_adj)`` sees the model after every epoch (e.g. to track score variance).
    An objective may keep a ``timings`` dict (seconds by name); it is averaged per epoch into the result.

    On ``config.device`` the model and every tensor the objective holds are moved there once (see
    :func:`recsys.training.device.move_to_device`), and the generator lives there too; after training both are
    moved back to the CPU, and the returned embeddings are CPU tensors, whatever the device."""
    device = resolve_device(config.device)
    if device.type != "cpu":
        model.to(device)
        move_to_device(objective, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    evaluate_valid = FullRankingEvaluator(data.train, data.valid, data.num_users, data.num_items,
                                          config.ks, config.eval_batch_size, device)
    evaluate_test = FullRankingEvaluator(data.train, data.test, data.num_users, data.num_items,
                                         config.ks, config.eval_batch_size, device)
    if config.early_stop_metric not in {f"{m}@{k}" for m in ("recall", "ndcg") for k in config.ks}:
        raise ValueError(f"early_stop_metric {config.early_stop_metric!r} is not one of the computed metrics")

    def score_fn():
        model.eval()
        with torch.no_grad():
            users, items = model.user_item_embeddings(objective.eval_adj)
        return lambda batch: users[batch] @ items.T

    edges = objective.edges
    best = (-math.inf, 0, copy.deepcopy(model.state_dict()), {})
    bad_evals = 0
    train_seconds = eval_seconds = 0.0
    epoch = 0
    bar = tqdm(range(1, config.epochs + 1), desc=desc, unit="epoch", disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        objective.start_epoch(model, generator)
        model.train()
        total_loss = 0.0
        for chunk in torch.randperm(edges.size(1), generator=generator, device=device).split(config.batch_size):
            loss = objective.batch_loss(model, edges[0, chunk], edges[1, chunk], generator)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * chunk.numel()
        train_seconds += time.perf_counter() - start
        mean_loss = total_loss / edges.size(1)
        if after_epoch is not None:
            after_epoch(model, objective.eval_adj)

        valid = None
        # The last epoch is always validated: otherwise --epochs 1 --eval-every 3 tests the untrained model.
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            start = time.perf_counter()
            valid = evaluate_valid(score_fn())
            eval_seconds += time.perf_counter() - start
            value = valid[config.early_stop_metric]
            if value > best[0]:
                best = (value, epoch, copy.deepcopy(model.state_dict()), valid)
                bad_evals = 0
            else:
                bad_evals += 1
            bar.set_postfix(loss=f"{mean_loss:.4f}", valid=f"{value:.4f}", best=f"{best[0]:.4f}@{best[1]}")
        if on_epoch is not None:
            on_epoch(epoch, mean_loss, valid)
        if bad_evals >= config.patience:
            break
    bar.close()

    _, best_epoch, state, best_valid = best
    model.load_state_dict(state)
    start = time.perf_counter()
    test = evaluate_test(score_fn())  # also leaves the model in eval mode
    n_evals = max(1, epoch // config.eval_every + (epoch % config.eval_every != 0))
    timings = {
        "seconds_per_epoch": train_seconds / max(epoch, 1),
        "seconds_per_eval": (eval_seconds + time.perf_counter() - start) / (n_evals + 1),
        "train_seconds": train_seconds,
    }
    for name, seconds in getattr(objective, "timings", {}).items():
        timings[f"{name}_per_epoch"] = seconds / max(epoch, 1)
        timings[f"{name}_share_of_epoch"] = seconds / train_seconds if train_seconds else 0.0
    with torch.no_grad():
        embeddings = model.user_item_embeddings(objective.eval_adj)
    if device.type != "cpu":
        embeddings = tuple(e.cpu() for e in embeddings)
        model.to("cpu")
        move_to_device(objective, "cpu")
    return TrainResult(best_epoch, best_valid, test, epoch, timings, embeddings)


def evaluate_fixed(data: SplitData, score, ks, batch_size: int) -> tuple[dict, dict]:
    """Valid and test metrics of a ranking that is not trained (random, popularity)."""
    valid = FullRankingEvaluator(data.train, data.valid, data.num_users, data.num_items, ks, batch_size)(score)
    test = FullRankingEvaluator(data.train, data.test, data.num_users, data.num_items, ks, batch_size)(score)
    return valid, test
