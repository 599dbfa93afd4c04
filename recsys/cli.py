"""Entry-point plumbing shared by every `python -m ...` command: one-line option errors, exit 2.

A bad option value (``--model lightgnc``, ``--noise-ratio 2``) is reported as one line per option,
naming the flag, what it accepts and the closest valid value, instead of a pydantic traceback.
Library code logs through :mod:`logging`; :func:`configure_logging` shows it on the command line.
SIGTERM (what ``timeout``, ``kill`` and schedulers send) is handled like Ctrl-C: the run in progress
is marked ``interrupted`` and what it stored is kept.
"""

from __future__ import annotations

import difflib
import logging
import re
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

from pydantic import ValidationError
from pydantic_settings import BaseSettings, CliApp, CliSettingsSource, SettingsError
from rich.console import Console
from rich.markup import escape

EXIT_USAGE = 2
# The first-party packages whose library code logs progress notes and warnings for the CLIs to show.
LIBRARY_LOGGERS = ("recsys", "judge", "pipeline", "evals", "tui")


class _StdoutHandler(logging.Handler):
    """Writes each record as a line to the current ``sys.stdout``, as the ``print`` it replaces did."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:  # noqa: BLE001 - logging's own convention: report, never raise
            self.handleError(record)


def configure_logging() -> None:
    """Show the library's progress notes and warnings (logged, not printed) on the command line: one plain
    line each on stdout. Other libraries' loggers keep their defaults (warnings only), so HTTP clients
    stay quiet. Calling it again changes nothing."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not any(isinstance(handler, _StdoutHandler) for handler in logger.handlers):
            handler = _StdoutHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.addHandler(handler)


def _flag(loc: tuple) -> str:
    names = [str(part) for part in loc if not isinstance(part, int)]
    return "--" + "-".join(names).replace("_", "-") if names else "an option"


def option_error_lines(error: ValidationError) -> list[str]:
    """One readable line per invalid option."""
    lines = []
    for item in error.errors():
        flag = _flag(item.get("loc", ()))
        given = item.get("input")
        message = item.get("msg", "is invalid").rstrip(".")
        expected = (item.get("ctx") or {}).get("expected")
        if item.get("type") == "literal_error" and expected:
            choices = re.findall(r"'([^']*)'", str(expected))
            close = difflib.get_close_matches(str(given), choices, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            lines.append(f"{flag}: {given!r} is not one of {', '.join(choices)}{hint}")
        elif item.get("type") == "missing":
            lines.append(f"{flag} is required")
        else:
            shown = f" (got {given!r})" if given is not None and not isinstance(given, dict) else ""
            lines.append(f"{flag}: {message[:1].lower() + message[1:]}{shown}")
    return lines


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise KeyboardInterrupt, so that every handler of Ctrl-C
    (mark the run interrupted, flush metrics, stop the LM server) handles it too."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated(f"signal {signum}")


def handle_sigterm_like_ctrl_c() -> None:
    """Install the SIGTERM handler (main thread only; elsewhere signals cannot be handled)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def grouped_arguments(groups: Mapping[str, str], order: Sequence[str]):
    """An ``add_argument`` for pydantic-settings that files each option under its named group (``groups``
    maps a field name to a title), the groups made in ``order`` so that --help reads in that order."""
    made: dict[int, dict[str, object]] = {}

    def add_argument(parser, *names, **kwargs):
        text = kwargs.get("help")
        if isinstance(text, str) and text.count("(default") > 1:  # the description names its default already
            kwargs["help"] = text[:text.rfind(" (default")]
        title = groups.get(kwargs.get("dest", ""))
        if title is None or not hasattr(parser, "add_argument_group"):
            return parser.add_argument(*names, **kwargs)
        sections = made.setdefault(id(parser), {})
        if not sections:
            sections.update((name, parser.add_argument_group(f"{name} options")) for name in order)
        if title not in sections:
            sections[title] = parser.add_argument_group(f"{title} options")
        return sections[title].add_argument(*names, **kwargs)

    return add_argument


def run_cli(settings: type[BaseSettings], cli_args: Sequence[str] | None = None, groups: Mapping[str, str] | None = None,
            group_order: Sequence[str] = (), usage: str | None = None) -> BaseSettings:
    """``CliApp.run`` with option errors printed as one line each and exit status 2; SIGTERM acts as Ctrl-C.
    ``groups`` (field name -> title, in ``group_order``) files --help's options under named groups;
    ``usage`` replaces argparse's every-option usage block."""
    console = Console(stderr=True)
    handle_sigterm_like_ctrl_c()
    configure_logging()
    source = None
    if groups:
        source = CliSettingsSource(settings, add_argument_method=grouped_arguments(groups, group_order))
        if usage:
            source.root_parser.usage = usage
    try:
        return CliApp.run(settings, cli_args=list(cli_args) if cli_args is not None else None,
                          cli_settings_source=source)
    except ValidationError as error:
        for line in option_error_lines(error):
            console.print(f"[red]error:[/] {escape(line)}", soft_wrap=True)
        console.print("Run with --help to see every option and its default.", soft_wrap=True)
        sys.exit(EXIT_USAGE)
    except SettingsError as error:
        console.print(f"[red]error:[/] {escape(str(error).splitlines()[0])}", soft_wrap=True)
        sys.exit(EXIT_USAGE)
