"""torch's thread count on a shared CPU, measured: LightGCN seconds per epoch on ml-100k, with the CPU idle
and beside a CPU hog (one busy-looping process), for torch's own default (one thread per core, what
`python -m recsys.train` ran before `--threads`), one thread, the automatic choice
(:mod:`recsys.training.threads`), and torch's default with OpenMP's passive wait policy.

    python -m evals.oneoff.bench_threads [--epochs 20] [--repeats 2]

Each cell is a fresh `python -m recsys.train lightgcn` process, paired A/B in one loop so that the
machine's state is shared; the report records `uptime` before and after each scenario.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from statistics import mean

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from evals.harness.paths import REPORTS_DIR
from evals.harness.tables import markdown_table
from recsys.cli import run_cli
from recsys.training.threads import usable_cpus

# name -> (extra CLI options, environment changes; None removes the variable)
SETTINGS = {
    "torch default (1 per core)": (["--threads", str(usable_cpus())], {}),
    "one thread": (["--threads", "1"], {}),
    "automatic (new default)": ([], {}),
    "torch default, OMP_WAIT_POLICY=PASSIVE": (["--threads", str(usable_cpus())], {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def uptime() -> str:
    return subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()


def seconds_per_epoch(options: list[str], env_changes: dict, store: Path, epochs: int) -> tuple[float, int]:
    """(seconds per epoch, torch threads the run used)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    env.update({k: v for k, v in env_changes.items() if v is not None} | {"COLUMNS": "250"})
    done = subprocess.run([sys.executable, "-m", "recsys.train", "lightgcn", "--store", str(store), "--no-progress",
                           "--epochs", str(epochs), "--patience", str(epochs), *options],
                          check=False, capture_output=True, text=True, env=env, timeout=1800)
    found = re.search(r"seconds_per_epoch\s+([0-9.]+)", done.stderr)
    threads = re.search(r"torch on (\d+) thread", done.stderr)
    if done.returncode or not found or not threads:
        raise RuntimeError(f"run failed ({done.returncode}): {done.stderr[-2000:]}")
    return float(found.group(1)), int(threads.group(1))


class BenchThreads(BaseSettings):
    """Seconds per LightGCN epoch for each thread setting, idle and beside a CPU hog."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.bench_threads", cli_kebab_case=True)

    epochs: int = Field(20, gt=0, description="Epochs per run (early stopping off).")
    repeats: int = Field(2, gt=0, description="Runs per cell, alternating settings.")
    store: Path = Field(Path("store/bench_threads.duckdb"), description="Store for the runs (the split is reused).")
    out: Path = Field(REPORTS_DIR / "threads.md", description="Report file.")

    def cli_cmd(self) -> None:
        seconds_per_epoch(["--threads", "1"], {}, self.store, 1)  # the split, once
        rows, loads = [], []
        for scenario in ("idle", "beside a CPU hog"):
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if scenario != "idle" else None
            try:
                time.sleep(3 if hog else 0)
                loads.append(f"{scenario}, before: {uptime()}")
                times = {name: [] for name in SETTINGS}
                used = {name: [] for name in SETTINGS}
                for _ in range(self.repeats):
                    for name, (options, env) in SETTINGS.items():
                        seconds, threads = seconds_per_epoch(options, env, self.store, self.epochs)
                        times[name].append(seconds)
                        used[name].append(threads)
                        print(scenario, name, seconds, threads, file=sys.stderr, flush=True)
                loads.append(f"{scenario}, after: {uptime()}")
            finally:
                if hog:
                    hog.kill()
                    hog.wait()
            one = mean(times["one thread"])
            rows += [[scenario, name, "/".join(map(str, used[name])), f"{mean(v):.3f}", ", ".join(f"{x:.3f}" for x in v),
                      f"{mean(v) / one:.2f}"] for name, v in times.items()]
        table = "\n".join(markdown_table(["CPU", "setting", "threads used", "s/epoch (mean)", "runs",
                                           "vs one thread"], rows))
        text = (f"# torch threads on a shared CPU\n\n`python -m evals.oneoff.bench_threads --epochs {self.epochs} "
                f"--repeats {self.repeats}`: LightGCN on ml-100k (10% realistic noise), {self.epochs} epochs per run, "
                f"{usable_cpus()} usable CPUs.\n\n{table}\n\nLoad:\n\n" + "\n".join(f"- {line}" for line in loads) + "\n")
        self.out.write_text(text)
        print(text)


if __name__ == "__main__":
    run_cli(BenchThreads)
