"""Test metrics of every LM-free method on one fixed small config, as JSON: run it in two checkouts
and compare the files to show a refactor left results unchanged.

    PYTHONPATH=<checkout> python -m evals.oneoff.same_results --store /tmp/a.duckdb > a.json

Each case trains 3 epochs on ml-100k with 20% random noise (split seed 2026, training seed 2026);
the oracle cases read the injected-noise flags, so no LM is called.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.train import TrainConfig, run
from recsys.cli import run_cli

CASES = {
    "lightgcn": {"model": "lightgcn"},
    "ngcf": {"model": "ngcf"},
    "dns": {"model": "dns"},
    "tce": {"model": "tce", "tce_num_gradual": 20},
    "rce": {"model": "rce"},
    "sgl": {"model": "sgl"},
    "simgcl": {"model": "simgcl"},
    "popularity": {"model": "popularity"},
    "random": {"model": "random"},
    "lightgcn_edited_oracle": {"model": "lightgcn", "edit_graph": True, "judge": "oracle", "candidate_share": 0.2},
    "llmhni_oracle_nosem": {"model": "llmhni", "judge": "oracle", "semantic_negatives": False, "candidate_share": 0.2},
}


class SameResults(BaseSettings):
    """Print the test metrics of the fixed cases as JSON on stdout."""

    model_config = SettingsConfigDict(cli_prog_name="python -m evals.oneoff.same_results", cli_kebab_case=True,
                                      cli_implicit_flags=True)

    store: Path = Field(Path("store/same_results.duckdb"), description="Store file for the runs.")
    epochs: int = Field(3, gt=0, description="Epochs per case.")

    def cli_cmd(self) -> None:
        out = {}
        for name, values in CASES.items():
            config = TrainConfig(store=self.store, progress=False, epochs=self.epochs, noise_kind="random",
                                 noise_ratio=0.2, **values)
            out[name] = {key: round(value, 10) for key, value in run(config)[1].test.items()}
            print(name, out[name], file=sys.stderr, flush=True)
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    run_cli(SameResults)
