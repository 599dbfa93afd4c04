"""A training method: its own options, the stages it runs, and how it runs them, registered by name.

Each method module (:mod:`recsys.methods.dns`, ...) builds one :class:`Method` and registers it;
`python -m recsys.train <name>` parses that method's options only (:func:`method_settings`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict


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

    @property
    def fields(self) -> set[str]:
        return {name for group in self.options for name in group.model_fields}


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is registered twice")
    METHODS[method.name] = method
    return method


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
    """``config`` (e.g. the all-methods :class:`recsys.train.TrainConfig`) narrowed to method ``name``'s
    fields: a run's recorded config and hash are the same whichever way it was launched."""
    settings = method_settings(name)
    if type(config) is settings:
        return config
    return settings.model_validate(config.model_dump(include=set(settings.model_fields)))
