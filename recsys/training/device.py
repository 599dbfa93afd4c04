"""Where training runs: ``--device auto|cpu|cuda``, and moving a training method's state there once.

CPU is the default and the tested path. Every tensor that lives through training (the model, the
objective's graphs and sampler tables, the evaluator's masks) is moved once, before the first epoch;
the random generator of :func:`recsys.training.trainer.fit` is created on the same device, so every sample
is drawn where it is used and nothing crosses the bus per batch. On the CPU nothing changes: the same
generator, the same draws, bit-identical results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal

import torch
from pydantic import BaseModel

DeviceName = Literal["auto", "cpu", "cuda"]
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device = "cpu") -> torch.device:
    """``auto`` is CUDA when ``torch.cuda.is_available()``, else the CPU; ``cuda`` without a GPU is an error."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"torch {torch.__version__} sees no CUDA device (a CPU build of torch, or no GPU); "
                         "use cpu, or auto (cuda where there is one)")
    return device


def device_name(name: str) -> str:
    """The concrete device a ``--device`` value means here ('auto' resolved), as a string."""
    return str(resolve_device(name))


def move_to_device(obj: Any, device: str | torch.device) -> Any:
    """Move every tensor an object holds to ``device``, in place, and return the object.

    Walks the attributes of objects defined in this package (objectives, samplers, their nested
    samplers), and lists, tuples and dicts of them; :class:`torch.nn.Module` attributes are moved
    with ``.to``. A tensor held under two names (``adj`` and ``eval_adj``) stays one tensor. Other
    objects (configs, stores, callables) are left alone. On the tensor's own device ``.to`` returns
    the tensor itself, so moving CPU state to the CPU changes nothing."""
    device = torch.device(device)
    return map_tensors(obj, lambda t: t.to(device), lambda m: m.to(device))


def map_tensors(obj: Any, tensor_fn: Callable[[torch.Tensor], torch.Tensor],
                module_fn: Callable[[torch.nn.Module], torch.nn.Module],
                _memo: dict[int, tuple[Any, Any]] | None = None) -> Any:
    """Replace every tensor ``obj`` holds (as :func:`move_to_device` walks it) by ``tensor_fn(tensor)``,
    each distinct tensor once, and apply ``module_fn`` to each module; returns the (same) object."""
    memo = {} if _memo is None else _memo  # id -> (the original, kept alive so its id is not reused; the result)
    key = id(obj)
    if key in memo:
        return memo[key][1]
    if isinstance(obj, torch.Tensor):
        result = tensor_fn(obj)
    elif isinstance(obj, torch.nn.Module):
        result = module_fn(obj)
    elif isinstance(obj, (list, tuple)):
        result = type(obj)(map_tensors(v, tensor_fn, module_fn, memo) for v in obj)
    elif isinstance(obj, dict):
        result = {k: map_tensors(v, tensor_fn, module_fn, memo) for k, v in obj.items()}
    elif _walked(obj):
        memo[key] = (obj, obj)  # before recursing: cycles end here
        for name, value in list(vars(obj).items()):
            new = map_tensors(value, tensor_fn, module_fn, memo)
            if new is not value:
                setattr(obj, name, new)
        return obj
    else:
        result = obj
    memo[key] = (obj, result)
    return result


# The toolkit's own packages: their objectives and samplers hold tensors to move. Objectives live in the
# core (recsys) and, for most methods, in the orchestration floor (pipeline.methods); named, not imported.
FIRST_PARTY = ("recsys", "judge", "pipeline")


def _walked(obj: Any) -> bool:
    """An instance of a class of this toolkit that holds state (not a config)."""
    return (type(obj).__module__.split(".")[0] in FIRST_PARTY and hasattr(obj, "__dict__")
            and not isinstance(obj, (BaseModel, type)))


def iter_tensors(obj: Any, _seen: set[int] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """(path, tensor) of every tensor :func:`move_to_device` reaches, modules' parameters and buffers included."""
    yield from _iter(obj, "", set() if _seen is None else _seen)


def _iter(obj: Any, path: str, seen: set[int]) -> Iterator[tuple[str, torch.Tensor]]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, torch.Tensor):
        yield path, obj
    elif isinstance(obj, torch.nn.Module):
        for name, tensor in list(obj.named_parameters()) + list(obj.named_buffers()):
            yield f"{path}.{name}", tensor
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _iter(value, f"{path}[{i}]", seen)
    elif isinstance(obj, dict):
        for k, value in obj.items():
            yield from _iter(value, f"{path}[{k!r}]", seen)
    elif _walked(obj):
        for name, value in vars(obj).items():
            yield from _iter(value, f"{path}.{name}", seen)


def tensor_devices(obj: Any) -> set[torch.device]:
    """The devices of every tensor ``obj`` holds (see :func:`iter_tensors`)."""
    return {tensor.device for _, tensor in iter_tensors(obj)}
