"""Per-dataset settings files: `python -m recsys.train METHOD --config configs/<dataset>/<method>.toml`.

A file holds a method's options as TOML keys (the field names of its --help, with underscores), plus an
optional ``[tuning]`` table that records how they were chosen (the validation figure, the search, the
command) and that training ignores. The file's settings sit below the command line and the environment:
``--config f.toml --lr 0.01`` takes every setting of ``f.toml`` except lr. The run records the file's
path (its ``config`` field) beside the settings it used; the config hash covers the settings only, so a
run launched from a file and the same run spelled out on the command line are one stored run.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import tomllib
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from recsys.data.datasets import DataValidationError

# Tables of a settings file that describe it rather than configure the run.
METADATA_TABLES = ("tuning",)
# Options renamed since settings files and commands were written: old name -> (new name, why).
RENAMED_OPTIONS = {
    "lambda_align": ("lambda_rlmrec", ("it weighs RLMRec-Con's CF-profile InfoNCE (L_rlm), not the paper's L_al, "
                                       "which trains the semantic projector (the --align-* options)")),
}
# TOML has no null: an option set to None where its default is not None is written as this string.
NONE = "None"


def read_config_file(path: Path, settings: type[BaseSettings], method: str) -> dict[str, Any]:
    """The settings of ``path`` for ``method``, checked against ``settings``' fields (one-line errors)."""
    try:
        values = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataValidationError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DataValidationError(f"--config {path}: not a readable TOML file ({error})") from None
    named = values.pop("method", method)
    if named != method:
        raise DataValidationError(f"--config {path} is for method {named!r}, not {method!r}: "
                                  f"run `python -m recsys.train {named} --config {path}`")
    for table in METADATA_TABLES:
        values.pop(table, None)
    values = {key: None if value == NONE else value for key, value in values.items()}
    for key in values:
        if key in RENAMED_OPTIONS:
            new, why = RENAMED_OPTIONS[key]
            raise DataValidationError(f"--config {path}: {key} is now {new} ({why})")
    unknown = sorted(set(values) - set(settings.model_fields))
    if unknown:
        hints = [f"{key} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(
            key, settings.model_fields, n=1)) else key for key in unknown]
        raise DataValidationError(f"--config {path}: {method} has no option " + ", ".join(hints))
    return values


class ConfigFileSource(PydanticBaseSettingsSource):
    """pydantic-settings source for one settings file, below the CLI and the environment."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path, method: str):
        super().__init__(settings_cls)
        self.values = read_config_file(path, settings_cls, method) | {"config": Path(path)}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def with_config_file(settings: type[BaseSettings], path: Path, method: str) -> type[BaseSettings]:
    """``settings`` reading ``path`` as its lowest-priority source."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, env_settings, dotenv_settings, file_secret_settings, ConfigFileSource(
            settings_cls, path, method)

    return type(settings.__name__, (settings,), {"__module__": settings.__module__, "__doc__": settings.__doc__,
                                                 "settings_customise_sources": settings_customise_sources})


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_file_text(settings: BaseSettings, method: str, tuning: dict[str, Any] | None = None,
                     exclude: set[str] = frozenset(), always: set[str] = frozenset()) -> str:
    """A settings file for ``settings`` of ``method``: every option that differs from its default (less
    ``exclude``, e.g. where a run is stored; plus ``always``, e.g. the dataset), then the ``[tuning]`` table
    (how the values were chosen)."""
    lines = [f'method = "{method}"']
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        default = value == field.get_default(call_default_factory=True) and name not in always
        if name in exclude or name == "config" or default:
            continue
        lines.append(f"{name} = {_toml_value(NONE if value is None else value)}")
    if tuning:
        lines += ["", "[tuning]", *(f"{key} = {_toml_value(value)}" for key, value in tuning.items())]
    return "\n".join(lines) + "\n"


def renamed_option_error(args: list[str]) -> str | None:
    """One line naming a renamed ``--option`` of ``args`` and its new name, or None."""
    for arg in args:
        key = arg.removeprefix("--").split("=", 1)[0].replace("-", "_")
        if arg.startswith("--") and key in RENAMED_OPTIONS:
            new, why = RENAMED_OPTIONS[key]
            return f"{arg.split('=', 1)[0]} is now --{new.replace('_', '-')} ({why})"
    return None


def config_file_argument(args: list[str]) -> Path | None:
    """The value of ``--config FILE`` or ``--config=FILE`` in ``args`` (left in place), if any."""
    for position, arg in enumerate(args):
        if arg == "--config" and position + 1 < len(args):
            return Path(args[position + 1])
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1])
    return None
