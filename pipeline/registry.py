"""The registry of training methods, the single source of truth about them.

Each method module (:mod:`pipeline.methods.dns`, ...) declares one :class:`Method` once, with its name,
summary, option groups, stages, whether it uses the LM (and which stored LM work its runs read) and, for
methods that fit one objective, the builder of that objective. The command line (its method list and
per-method options, :func:`method_settings`), :class:`pipeline.train.TrainConfig`, the benchmark scripts
and every method list derive from :data:`METHODS`; :func:`register_training_only` registers a
training-only baseline from its config and objective builder.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from judge.config import LMConfig, RunnerConfig, VerdictModeConfig
from judge.embeddings import EncoderConfig
from pipeline.options import BackboneOptions, CandidateOptions, JudgeOptions, ProfileOptions, RunOptions
from recsys.data.datasets import ReadOptions
from recsys.data.split import DataConfig
from recsys.denoising.candidates import CandidateConfig
from recsys.training.trainer import OptimConfig

# (data, config, reg, model, text_embeddings) -> objective for recsys.training.trainer.fit.
ObjectiveBuilder = Callable[..., object]


@dataclass(frozen=True)
class Method:
    """``run(config, console) -> (run_id, TrainResult, PipelineReport | None)`` with ``config`` an instance
    of :func:`method_settings` (or any config holding its fields, see :func:`own_config`)."""

    name: str
    summary: str
    options: tuple[type[BaseModel], ...]
    stages: tuple[str, ...]
    run: Callable
    uses_lm: bool = False
    # The kinds of stored LM work a run reads (profiles, verdicts, ...), for the benchmarks' cost columns.
    lm_work: tuple[str, ...] = ()
    # ``objective(data, config, reg, model, text_embeddings=None)``, for methods that fit one objective.
    objective: ObjectiveBuilder | None = None

    @property
    def kind(self) -> str:
        return "uses the LM" if self.uses_lm else "LM-free"

    @property
    def fields(self) -> set[str]:
        return {name for group in self.options for name in group.model_fields}


METHODS: dict[str, Method] = {}

# --help's option groups, in this order. Each shared option class files under one; a method's own
# options (DNSConfig, ...) under "method"; a few fields sit better elsewhere than their class.
HELP_GROUPS = ("method", "data", "model", "training", "judge", "LM", "store and output")
_CLASS_GROUPS: dict[type, str] = {
    DataConfig: "data", ReadOptions: "data", BackboneOptions: "model", OptimConfig: "training",
    JudgeOptions: "judge", CandidateOptions: "judge", CandidateConfig: "judge", VerdictModeConfig: "judge",
    LMConfig: "LM", RunnerConfig: "LM", ProfileOptions: "LM", EncoderConfig: "LM", RunOptions: "store and output"}
_FIELD_GROUPS = {"embedding_dim": "model", "num_layers": "model", "ngcf_dropout": "model", "train_seed": "training",
                 "threads": "training", "device": "training", "seed": "data"}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is registered twice")
    METHODS[method.name] = method
    return method


def register_training_only(name: str, summary: str, config: type[BaseModel], objective: ObjectiveBuilder) -> Method:
    """A training-only baseline: the data, then ``objective`` fitted on --backbone and recorded
    (:func:`pipeline.stages.train_objective`); its options are ``config`` plus the shared groups."""
    from pipeline.stages import train_objective  # the stages import the LM-free core only when a run starts

    def run(settings, console) -> tuple:
        return train_objective(name, settings, console, lambda data, model: objective(
            data, settings, settings.optim_config().reg, model))

    return register(Method(name, summary, (config, BackboneOptions, RunOptions, OptimConfig, DataConfig),
                           ("data", "train"), run, objective=objective))


def method_names(uses_lm: bool | None = None) -> tuple[str, ...]:
    """The registered methods (all, or only those that do / do not use the LM), in registration order."""
    return tuple(name for name, method in METHODS.items() if uses_lm is None or method.uses_lm == uses_lm)


def objective_methods() -> tuple[str, ...]:
    """The methods whose run fits one objective that :func:`build_objective` builds."""
    return tuple(name for name, method in METHODS.items() if method.objective is not None)


def build_objective(name: str, data, config: BaseModel, reg: float, model, text_embeddings=None):
    """The objective of method ``name`` on ``data.train`` for :func:`recsys.training.trainer.fit`;
    ``config`` holds that method's fields (e.g. :func:`option_groups`' union). rlmrec_con needs
    ``text_embeddings`` and attaches its MLP to ``model``; simgcl needs a LightGCN ``model``."""
    method = METHODS.get(name)
    if method is None or method.objective is None:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(objective_methods())}")
    return method.objective(data, config, reg, model, text_embeddings)


def help_groups(settings: type[BaseModel]) -> dict[str, str]:
    """Each option of ``settings`` and the --help group (one of :data:`HELP_GROUPS`) it is listed under."""
    groups = {}
    for field in settings.model_fields:
        owner = next((cls for cls in settings.__mro__ if field in inspect.get_annotations(cls)), None)
        groups[field] = _FIELD_GROUPS.get(field) or _CLASS_GROUPS.get(owner, "method")
    return groups


def option_groups(names: tuple[str, ...] | None = None) -> tuple[type[BaseModel], ...]:
    """The option groups of methods ``names`` (default: all), each once, most derived first, so that
    ``type(..., option_groups(), ...)`` has a valid MRO."""
    groups: list[type[BaseModel]] = []
    for name in names or tuple(METHODS):
        for group in METHODS[name].options:
            if group not in groups:
                groups.append(group)
    return tuple(g for g in groups if not any(other is not g and issubclass(other, g) for other in groups))


@cache
def options_of(names: tuple[str, ...]) -> type[BaseModel]:
    """One model with every option of methods ``names`` (e.g. the objective methods, for code that
    builds several objectives: benchmarks, tests)."""
    return type("Options", (*option_groups(names),), {"__module__": __name__})


@cache
def method_settings(name: str) -> type[BaseSettings]:
    """The command-line config of method ``name``: its option groups, each field a kebab-case flag
    (also ``RECSYS_<FIELD>`` from the environment)."""
    method = METHODS[name]
    stages = " → ".join(method.stages)
    doc = f"{method.name}: {method.summary}\n\nStages: {stages}. Every run is recorded in the DuckDB store."
    return type(f"{name.title().replace('_', '')}Settings", (BaseSettings, *method.options), {
        "__doc__": doc, "__module__": __name__, "method_name": name,
        "__annotations__": {"method_name": ClassVar[str]},
        "model_config": SettingsConfigDict(cli_prog_name=f"python -m recsys.train {name}", cli_kebab_case=True,
                                           cli_implicit_flags=True, cli_avoid_json=True, cli_hide_none_type=True,
                                           env_prefix="RECSYS_"),
    })


def own_config(name: str, config: BaseModel) -> BaseSettings:
    """``config`` (e.g. the all-methods :class:`pipeline.train.TrainConfig`) narrowed to method ``name``'s
    fields: a run's recorded config and hash are the same whichever way it was launched."""
    settings = method_settings(name)
    if type(config) is settings:
        return config
    return settings.model_validate(config.model_dump(include=set(settings.model_fields)))
