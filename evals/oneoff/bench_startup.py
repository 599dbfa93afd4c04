"""How long `python -m recsys.train --help` and an untrained floor take to start: `python -m evals.oneoff.bench_startup`.

Each command runs ``--repeats`` times in a fresh interpreter; the report gives the median and the
range of wall time, the load average at the start (the machine is shared), and whether the LM stack
(DSPy, LiteLLM) or the sentence encoder was imported at all: neither `--help` nor a training-only
method needs them. Writes evals/reports/startup.md.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console

from evals.harness.tables import markdown_table
from recsys.cli import run_cli

HEAVY = ("dspy", "litellm", "sentence_transformers", "textual")
# The entry point as `python -m recsys.train` runs it (run_cli on TrainConfig), then the modules it loaded.
PROBE = ("import sys; sys.argv = {argv!r}\n"
         "from recsys.cli import run_cli\nfrom pipeline.train import TrainConfig\n"
         "try:\n    run_cli(TrainConfig)\n"
         "finally:\n"
         f"    print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")


class StartupBenchConfig(BaseSettings):
    """Time the entry point's start-up in fresh interpreters."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.bench_startup", cli_kebab_case=True,
                                      cli_implicit_flags=True, cli_avoid_json=True)

    repeats: int = Field(5, gt=0, description="Fresh interpreters per command.")
    report: Path = Field(Path("evals/reports/startup.md"), description="Markdown report to write.")

    def cli_cmd(self) -> None:
        main(self)


def time_command(argv: list[str], repeats: int) -> tuple[list[float], str]:
    """Wall seconds of each run, and the heavy modules the last run imported."""
    seconds, heavy = [], ""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PROBE.format(argv=["recsys.train", *argv])],
                              capture_output=True, text=True, env=env, check=False)
        seconds.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip().splitlines()[-1:]}")
        heavy = next((line[6:] for line in done.stderr.splitlines() if line.startswith("HEAVY=")), "?")
    return seconds, heavy or "none"


def main(config: StartupBenchConfig) -> None:
    console = Console(stderr=True)
    load = os.getloadavg()[0]
    commands = {"--help": ["--help"],
                "--model popularity (ml-100k, stored split)": ["--model", "popularity", "--store",
                                                               "store/startup.duckdb"]}
    rows = []
    for name, argv in commands.items():
        seconds, heavy = time_command(argv, config.repeats)
        rows.append((name, statistics.median(seconds), min(seconds), max(seconds), heavy))
        console.print(f"{name}: median {statistics.median(seconds):.2f} s, LM stack imported: {heavy}")
    lines = ["# Start-up time of `python -m recsys.train`", "",
             (f"Command: `python -m evals.oneoff.bench_startup --repeats {config.repeats}`; each run is a fresh interpreter. "
             f"Load average at the start: {load:.2f} on {os.cpu_count()} cores (the machine is shared; an idle one "
             "is faster). The popularity run includes ingesting ml-100k into a new store on its first repeat."), ""]
    lines += markdown_table(["command", "median s", "min s", "max s", "heavy modules imported"],
                            [[f"`{name}`", f"{median:.2f}", f"{low:.2f}", f"{high:.2f}", heavy]
                             for name, median, low, high, heavy in rows], "lrrrl")
    config.report.write_text("\n".join(lines) + "\n")
    console.print(f"wrote {config.report}")


if __name__ == "__main__":
    run_cli(StartupBenchConfig)
