"""`python -m recsys.train [method] [options]` (dispatched here by :mod:`recsys.train`): train and
evaluate one method on a noisy split.

With no method it runs the full LLMHNI model (every stage of :mod:`pipeline.stages`) on ml-100k with
10% realistic noise and the embedded LM, reusing whatever the store already holds. Each method
(:mod:`pipeline.methods`) has its own options: `python -m recsys.train dns --help` lists only DNS's,
with their defaults; each can also come from an environment variable ``RECSYS_<FIELD>``. The older
spelling `--model dns` (and `--model lightgcn --edit-graph` for bpr_edited) still works.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.markup import escape

from pipeline.config_files import config_file_argument, read_config_file, renamed_option_error, with_config_file
from pipeline.registry import HELP_GROUPS, help_groups, option_groups
from pipeline.run import (
    METHODS,
    NON_RESULT_FIELDS,
    BudgetExhausted,
    PipelineReport,
    confusion_table,
    method_settings,
    metrics_table,
    plan,
    recorded_as,
    run_method,
    stage_table,
)
from recsys.cli import EXIT_USAGE, run_cli
from recsys.data.datasets import DataValidationError
from recsys.store import Store, StoreError, discard_if_empty
from recsys.training.trainer import TrainResult

__all__ = ["MODELS", "NON_RESULT_FIELDS", "TrainConfig", "cli", "main", "run", "run_with_report"]

DEFAULT_METHOD = "llmhni"
MODELS = tuple(METHODS)


class TrainConfig(BaseSettings, *option_groups()):
    """Every method's options in one object, for scripts that sweep methods (:mod:`evals.bench`):
    ``run(TrainConfig(model="dns", ...))`` runs the method named by ``model`` on its own fields, as
    `python -m recsys.train dns ...` would (same recorded config and hash). Not a command line."""

    model_config = SettingsConfigDict(env_prefix="RECSYS_")

    model: Literal[MODELS] = Field(DEFAULT_METHOD, description="The method to run (see pipeline.methods).")
    edit_graph: bool = Field(False, description="Older spelling: lightgcn/ngcf with this run bpr_edited.")

    @property
    def method(self) -> str:
        if self.edit_graph and self.model in ("lightgcn", "ngcf"):
            return "bpr_edited"
        return self.model

    def for_method(self) -> BaseSettings:
        values = self.model_dump()
        if self.method == "bpr_edited" and self.model != "bpr_edited":
            values["backbone"] = self.model
        settings = method_settings(self.method)
        return settings.model_validate({k: v for k, v in values.items() if k in settings.model_fields})

    def recorded_as(self) -> tuple[str, str]:
        """(model, config hash) of this run's row in the store's ``runs`` table."""
        return recorded_as(self.method, self.for_method())


def run(config: BaseSettings, console: Console | None = None) -> tuple[str, TrainResult]:
    """Train and evaluate as configured; return the run id and its result."""
    run_id, result, _ = run_with_report(config, console)
    return run_id, result


def method_of(config: BaseSettings) -> str:
    if isinstance(config, TrainConfig):
        return config.method
    return config.method_name


def run_with_report(config: BaseSettings, console: Console | None = None
                    ) -> tuple[str, TrainResult, PipelineReport | None]:
    """``config``: a method's settings (from :func:`parse`) or a :class:`TrainConfig`."""
    if isinstance(config, TrainConfig):
        return run_method(config.method, config.for_method(), console)
    return run_method(config.method_name, config, console)


def main(config: BaseSettings) -> int:
    console = Console(stderr=True)
    new_store = not Path(config.store).exists()
    name = method_of(config)
    try:
        Store(config.store)  # a --store that is a folder or not a store fails here, in one line, before the plan
        for line in plan(name, config.for_method() if isinstance(config, TrainConfig) else config):
            console.print(line, style="bold" if line.startswith("plan:") else None, soft_wrap=True, highlight=False)
        run_id, result, report = run_with_report(config, console)
    except (DataValidationError, StoreError, BudgetExhausted) as error:
        console.print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
        if new_store and isinstance(error, DataValidationError):
            discard_if_empty(config.store)  # a failed first command leaves no store file behind
        return EXIT_USAGE
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the run is marked 'interrupted' in the store; "
                      "every stage's stored work is kept, so a re-run resumes.")
        return 130
    out = Console() if sys.stdout.isatty() else Console(width=160)  # tables are unreadable at 80 columns
    if report is not None:
        if "judge" in report.notes:
            console.print(f"[yellow]{report.notes['judge']}[/]")
        if report.confusion is not None:
            out.print(confusion_table(report.confusion, getattr(config, "judge", name)))
        if report.stage_seconds:
            out.print(stage_table(report))
    title = f"{name} on {config.dataset}, {config.noise_ratio:.0%} {config.noise_kind} noise"
    if result.epochs_run:
        title += f": best valid epoch {result.best_epoch} of {result.epochs_run}"
    out.print(metrics_table(title, result))
    timings = ", ".join(f"{key} {value:.3f}" for key, value in result.timings.items() if not key.startswith("stage_"))
    console.print(f"run {run_id} recorded in {config.store} ({timings})")
    return 0


def command_line(name: str, listing: bool = False) -> type[BaseSettings]:
    """The CLI class of method ``name``: its settings, run by pydantic-settings' ``cli_cmd``.
    ``listing`` (no method named) adds the list of methods to --help."""
    settings = method_settings(name)
    doc = settings.__doc__
    if listing:
        def listed(uses_lm: bool) -> str:
            return "\n".join(f"  {m.name}: {m.summary}" for m in sorted(
                (m for m in METHODS.values() if m.uses_lm == uses_lm), key=lambda m: m.name != name))

        doc = ("Train and evaluate a recommender on a noisy split. Methods (python -m recsys.train METHOD --help "
               "shows each one's options):\n\nUsing the LM:\n" + listed(True) + "\n\nLM-free:\n" + listed(False)
               + f"\n\nWith no method: {name}. Its options follow.\n\n" + doc)
    prog = "python -m recsys.train" + ("" if listing else f" {name}")
    return type(settings.__name__, (settings,), {
        "__doc__": doc, "__module__": __name__,
        "model_config": SettingsConfigDict(**(settings.model_config | {"cli_prog_name": prog})),
        "cli_cmd": lambda self: sys.exit(main(self)),
    })


def parse_args(argv: Sequence[str]) -> tuple[type[BaseSettings], list[str]]:
    """The method named first (or by the older `--model X`, `--edit-graph`), and the remaining options."""
    settings, args = _method_and_args(list(argv))
    renamed = renamed_option_error(args)
    if renamed:
        Console(stderr=True).print(f"[red]error:[/] {escape(renamed)}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    path = config_file_argument(args)
    if path is not None:
        try:
            read_config_file(path, settings, settings.method_name)  # checked now, before any work
        except DataValidationError as error:
            Console(stderr=True).print(f"[red]error:[/] {escape(str(error))}", soft_wrap=True)
            sys.exit(EXIT_USAGE)
        settings = with_config_file(settings, path, settings.method_name)
    return settings, args


def _method_and_args(args: list[str]) -> tuple[type[BaseSettings], list[str]]:
    if args and args[0] in METHODS:
        return command_line(args.pop(0)), args
    if args and not args[0].startswith("-"):
        close = difflib.get_close_matches(args[0], METHODS, n=1, cutoff=0.5)
        Console(stderr=True).print(f"[red]error:[/] {args[0]!r} is not a method; choose one of {', '.join(METHODS)}"
                                   + (f". Did you mean {close[0]!r}?" if close else ""), soft_wrap=True)
        sys.exit(EXIT_USAGE)
    name, listing = DEFAULT_METHOD, True
    for position, arg in enumerate(args):
        if arg == "--model" and position + 1 < len(args):
            name, listing = args[position + 1], False
            del args[position:position + 2]
            break
        if arg.startswith("--model="):
            name, listing = arg.split("=", 1)[1], False
            del args[position]
            break
    if "--edit-graph" in args and name in ("lightgcn", "ngcf"):
        args.remove("--edit-graph")
        name, args = "bpr_edited", [*args, "--backbone", name]
    if name not in METHODS:
        close = difflib.get_close_matches(name, METHODS, n=1)
        Console(stderr=True).print(f"[red]error:[/] --model: {name!r} is not one of {', '.join(METHODS)}"
                                   + (f"; did you mean {close[0]!r}?" if close else ""), soft_wrap=True)
        sys.exit(EXIT_USAGE)
    return command_line(name, listing), args


def cli(argv: Sequence[str] | None = None) -> None:
    """`python -m recsys.train` with ``argv`` (default: the process's): parse, run, exit."""
    settings, remaining = parse_args(sys.argv[1:] if argv is None else argv)
    name = settings.method_name
    usage = (f"python -m recsys.train [METHOD] [options]   (METHOD defaults to {name}; METHOD --help: its options)"
              if settings.__doc__.startswith("Train and evaluate") else
             f"python -m recsys.train {name} [options]")
    run_cli(settings, remaining, groups=help_groups(settings), group_order=HELP_GROUPS, usage=usage)


if __name__ == "__main__":
    cli()
