"""--device: resolution, the CPU path unchanged, and every tensor of every objective reached by the move.

The CPU tests run everywhere; the CUDA ones are skipped without a GPU (``evals/oneoff/gpu_check.sh`` runs
them on one)."""

from __future__ import annotations

import math

import numpy as np
import pydantic
import pytest
import torch

from pipeline.methods import build_objective, objective_methods, options_of
from pipeline.methods.hnlmrec import FixedHardNegativeSampler
from pipeline.methods.llmhni import LLMHNIConfig, LLMHNIObjective
from recsys.denoising.semantic import AlignmentConfig, SemanticIndex, faiss_gpu_available, train_projector
from recsys.training.device import iter_tensors, map_tensors, move_to_device, resolve_device, tensor_devices
from recsys.training.evaluate import FullRankingEvaluator
from recsys.training.sampling import MixedNegativeSampler, SemanticNegativeSampler, UniformNegativeSampler
from recsys.training.trainer import BPRObjective, OptimConfig, build_model, fit
from tests.test_objectives import NUM_ITEMS, NUM_USERS, OPTIM, one_thread, text_embeddings, tiny_split  # noqa: F401

BaselineOptions = options_of(objective_methods())
METHODS = objective_methods()

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
BASELINE = BaselineOptions(tce_num_gradual=20, sgl_weight=0.1, simgcl_weight=0.1, rlmrec_weight=0.1)


def llmhni_objective(data, **overrides) -> LLMHNIObjective:
    """The full objective with every sampler it can hold: semantic pool, neighbours, per-pair pool."""
    generator = torch.Generator().manual_seed(1)
    user_sem = torch.nn.functional.normalize(torch.randn(NUM_USERS, 8, generator=generator), dim=-1)
    item_sem = torch.nn.functional.normalize(torch.randn(NUM_ITEMS, 8, generator=generator), dim=-1)
    neighbours = torch.randint(NUM_ITEMS, (NUM_USERS, 3), generator=generator)
    sampler = SemanticNegativeSampler(data.train, user_sem, item_sem, neighbours, pool_size=10, keep=4)
    augmented = data.train[:, 5:]  # G' = G minus a few edges
    config = LLMHNIConfig(**({"pool_candidates": 4} | overrides))
    return LLMHNIObjective(data.train, augmented, NUM_USERS, NUM_ITEMS, config, 1e-4, sampler, neighbours)


def hnlmrec_objective(data) -> BPRObjective:
    hard = torch.full((NUM_USERS, 3), -1, dtype=torch.long)
    hard[: NUM_USERS // 2] = torch.randint(NUM_ITEMS, (NUM_USERS // 2, 3), generator=torch.Generator().manual_seed(2))
    from recsys.models.graph import normalized_adjacency

    uniform = UniformNegativeSampler(data.train, NUM_ITEMS)
    return BPRObjective(data.train, normalized_adjacency(data.train, NUM_USERS, NUM_ITEMS),
                        MixedNegativeSampler(uniform, FixedHardNegativeSampler(hard), 0.5), 1e-4)


NAMES = (*METHODS, "llmhni", "hnlmrec")


def make_objective(name: str, data, model):
    """The objective of a method of :data:`NAMES` (rlmrec_con attaches its MLP to ``model``)."""
    if name == "llmhni":
        return llmhni_objective(data)
    if name == "hnlmrec":
        return hnlmrec_objective(data)
    return build_objective(name, data, BASELINE, OPTIM.reg, model, text_embeddings())


def every_objective(data, model):
    for name in NAMES:
        yield name, make_objective(name, data, model)


# -- resolution ----------------------------------------------------------------------------------
def test_auto_is_cuda_only_where_torch_sees_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    assert OptimConfig().device == "cpu"  # the default
    assert OptimConfig(device="auto").device == "cpu"  # stored (and hashed) as what it means
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(pydantic.ValidationError, match="no CUDA device"):
        OptimConfig(device="cuda")
    with pytest.raises(pydantic.ValidationError):
        OptimConfig(device="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")  # resolving touches no GPU
    assert OptimConfig(device="auto").device == "cuda"


def test_cpu_runs_keep_their_config_hash(tmp_path):
    from pipeline.train import NON_RESULT_FIELDS, TrainConfig
    from recsys.training.runs import config_hash

    config = TrainConfig(store=tmp_path / "s.duckdb", model="lightgcn", device="cpu")
    assert config_hash(config, NON_RESULT_FIELDS) == config_hash(config, NON_RESULT_FIELDS | {"device"})


@pytest.mark.skipif(CUDA, reason="checks the error shown where there is no GPU")
def test_cuda_without_a_gpu_is_a_one_line_option_error(tmp_path, capsys):
    from pipeline.train import cli

    with pytest.raises(SystemExit) as exit_info:
        cli(["--device", "cuda", "--store", str(tmp_path / "s.duckdb")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--device" in err and "no CUDA device" in err and "Traceback" not in err


# -- the move ------------------------------------------------------------------------------------
def test_the_move_reaches_every_tensor_of_every_objective_once():
    """Every tensor an objective holds, after an epoch (bound embeddings, views, per-edge counters),
    is replaced by the move, each shared tensor once, and each module is moved as a module."""
    data = tiny_split()
    torch.manual_seed(0)
    model = build_model(data, "lightgcn", OPTIM)
    for name, objective in every_objective(data, model):
        fit(model, data, objective, OPTIM.model_copy(update={"epochs": 1}), seed=0, progress=False)
        before = {id(t) for _, t in iter_tensors(objective)}
        moved, modules = [], []

        def tensor_fn(tensor):
            moved.append(tensor.clone())
            return moved[-1]

        assert map_tensors(objective, tensor_fn, lambda m: modules.append(m) or m) is objective
        after = {path: t for path, t in iter_tensors(objective)}
        module_tensors = {id(t) for m in modules for t in list(m.parameters()) + list(m.buffers())}
        left = [path for path, t in after.items() if id(t) in before and id(t) not in module_tensors]
        assert not left, f"{name}: not moved: {left}"
        assert len(moved) == len({id(t) for t in moved}) == len(after) - len(module_tensors), name
        assert objective.adj is objective.eval_adj, name  # one tensor under two names stays one
        if name == "rlmrec_con":
            assert objective.projector in modules
        if name == "llmhni":
            assert objective.pool is objective.sampler.uniform  # the shared sampler is walked once
            assert objective.pool.user_emb is not None  # bound during the epoch, and moved too


def test_moving_cpu_state_to_the_cpu_changes_nothing():
    data = tiny_split()
    torch.manual_seed(0)
    model = build_model(data, "lightgcn", OPTIM)
    for name, objective in every_objective(data, model):
        tensors = [(path, t) for path, t in iter_tensors(objective)]
        assert move_to_device(objective, "cpu") is objective
        assert [(path, t) for path, t in iter_tensors(objective)] == tensors, name  # the same objects
        assert tensor_devices(objective) == {torch.device("cpu")}, name


def test_fit_on_the_cpu_leaves_every_tensor_where_it_was():
    """On the CPU nothing is copied: the objective's tensors are the same objects after fit."""
    data = tiny_split()
    for name in NAMES:
        torch.manual_seed(0)
        model = build_model(data, "lightgcn", OPTIM)
        objective = make_objective(name, data, model)
        held = {path: t for path, t in iter_tensors(objective) if ".last_" not in path}
        result = fit(model, data, objective, OPTIM.model_copy(update={"device": "cpu", "epochs": 2}),
                     seed=0, progress=False)
        now = dict(iter_tensors(objective))
        assert all(now[path] is t for path, t in held.items()), name
        assert all(e.device.type == "cpu" for e in result.embeddings)
        assert all(math.isfinite(v) for v in result.test.values())


def test_fit_with_device_cpu_is_the_default_run():
    data = tiny_split()
    results = []
    for config in (OPTIM, OPTIM.model_copy(update={"device": "cpu"}), OptimConfig.model_validate(
            OPTIM.model_dump() | {"device": "auto"}) if not CUDA else OPTIM):
        torch.manual_seed(3)
        model = build_model(data, "lightgcn", config)
        objective = build_objective("tce", data, BASELINE, config.reg, model)
        results.append(fit(model, data, objective, config, seed=3, progress=False).test)
    assert results[0] == results[1] == results[2]


def test_the_evaluator_keeps_its_masks_on_its_device():
    from tests.test_evaluate import SCORES, TRAIN, TRUTH

    default = FullRankingEvaluator(TRAIN, TRUTH, 3, 5, ks=(2, 4))
    on_cpu = FullRankingEvaluator(TRAIN, TRUTH, 3, 5, ks=(2, 4), device="cpu")
    assert {t.device.type for t in (on_cpu.train_rowptr, on_cpu.train_items, on_cpu.truth_rowptr,
                                    on_cpu.truth_items, on_cpu.users)} == {"cpu"}
    assert default(lambda users: SCORES[users]) == on_cpu(lambda users: SCORES[users])


def planted_vectors():
    generator = torch.Generator().manual_seed(0)
    users, items = torch.randn(20, 6, generator=generator), torch.randn(30, 6, generator=generator)
    pairs = torch.stack([torch.arange(20).repeat_interleave(3), torch.randint(30, (60,), generator=generator)])
    return users, items, pairs


def test_the_projector_on_the_cpu_is_the_default_one():
    users, items, pairs = planted_vectors()
    config = AlignmentConfig(align_epochs=3, align_batch_size=16, projector_hidden=8, projector_dim=4)
    default, losses = train_projector(users, items, pairs, config, seed=0)
    on_cpu, cpu_losses = train_projector(users, items, pairs, config, seed=0, device="cpu")
    assert losses == cpu_losses
    assert all(torch.equal(a, b) for a, b in zip(default.state_dict().values(), on_cpu.state_dict().values()))


def test_the_faiss_index_stays_on_the_cpu_by_default():
    items = np.eye(4, dtype=np.float32)
    assert not SemanticIndex(items).on_gpu and not SemanticIndex(items, device="cpu").on_gpu
    assert SemanticIndex(items, device="cpu").kind == "IndexFlatIP"


# -- on a GPU ------------------------------------------------------------------------------------
@needs_cuda
def test_every_objective_trains_on_cuda_and_comes_back_to_the_cpu():
    data = tiny_split()
    config = OPTIM.model_copy(update={"device": "cuda", "epochs": 3})
    for name in NAMES:
        torch.manual_seed(0)
        model = build_model(data, "lightgcn", config)
        objective = make_objective(name, data, model)
        seen = []

        def after_epoch(model, adj, objective=objective):
            seen.append(tensor_devices(objective) | {p.device for p in model.parameters()} | {adj.device})

        result = fit(model, data, objective, config, seed=0, progress=False, after_epoch=after_epoch)
        assert all(devices == {torch.device("cuda", 0)} for devices in seen), (name, seen)
        assert all(math.isfinite(v) for v in result.test.values()), name
        assert tensor_devices(objective) == {torch.device("cpu")}, name
        assert {p.device.type for p in model.parameters()} == {"cpu"}
        assert all(e.device.type == "cpu" for e in result.embeddings)


@needs_cuda
def test_cuda_runs_reproduce_with_a_seed():
    data = tiny_split()
    config = OPTIM.model_copy(update={"device": "cuda", "epochs": 3})
    results = []
    for _ in range(2):
        torch.manual_seed(0)
        model = build_model(data, "lightgcn", config)
        results.append(fit(model, data, build_objective("lightgcn", data, BASELINE, config.reg, model), config,
                           seed=0, progress=False).test)
    for key in results[0]:
        assert results[0][key] == pytest.approx(results[1][key], abs=1e-6)


@needs_cuda
def test_the_evaluator_on_cuda_matches_the_cpu():
    from tests.test_evaluate import SCORES, TRAIN, TRUTH

    on_gpu = FullRankingEvaluator(TRAIN, TRUTH, 3, 5, ks=(2, 4), device="cuda")
    cpu = FullRankingEvaluator(TRAIN, TRUTH, 3, 5, ks=(2, 4))(lambda users: SCORES[users])
    gpu = on_gpu(lambda users: SCORES.cuda()[users])
    assert gpu == pytest.approx(cpu)


@needs_cuda
def test_the_projector_trains_on_cuda_and_comes_back_to_the_cpu():
    users, items, pairs = planted_vectors()
    config = AlignmentConfig(align_epochs=3, align_batch_size=16, projector_hidden=8, projector_dim=4)
    projector, losses = train_projector(users, items, pairs, config, seed=0, device="cuda")
    assert all(math.isfinite(x) for x in losses)
    assert {p.device.type for p in projector.parameters()} == {"cpu"}


@pytest.mark.skipif(not CUDA or not faiss_gpu_available(), reason="needs faiss-gpu and a CUDA device")
def test_the_faiss_gpu_index_finds_what_the_cpu_one_finds():
    generator = np.random.default_rng(0)
    items = generator.standard_normal((500, 16)).astype(np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = items[:20] + 0.01
    gpu = SemanticIndex(items, device="cuda")
    assert gpu.on_gpu
    assert (gpu.search(queries, 5)[1] == SemanticIndex(items).search(queries, 5)[1]).all()
