"""Per-dataset settings files: `python -m recsys.train METHOD --config FILE`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from pipeline.config_files import config_file_text, read_config_file, with_config_file
from pipeline.registry import method_settings
from pipeline.run import recorded_as
from pipeline.train import parse_args
from recsys.data.datasets import DataValidationError

REPO = Path(__file__).resolve().parents[1]


def test_a_config_file_round_trips_to_the_same_settings_and_run(tmp_path):
    settings = method_settings("dns")
    chosen = settings(dns_candidates=5, lr=0.003, noise_kind="random", noise_ratio=0.2, ks=[5, 20],
                      store=tmp_path / "s.duckdb")
    path = tmp_path / "dns.toml"
    path.write_text(config_file_text(chosen, "dns", {"valid_recall_at_20": 0.3012, "command": "python -m ..."},
                                     exclude={"store"}))
    loaded = with_config_file(settings, path, "dns")(store=tmp_path / "s.duckdb")
    assert loaded.config == path
    assert loaded.model_dump(exclude={"config"}) == chosen.model_dump(exclude={"config"})
    assert recorded_as("dns", loaded) == recorded_as("dns", chosen)  # the file is recorded, not hashed


def test_none_survives_the_round_trip(tmp_path):
    settings = method_settings("llmhni")
    chosen = settings(candidate_budget=None)
    assert settings().candidate_budget is not None
    path = tmp_path / "llmhni.toml"
    path.write_text(config_file_text(chosen, "llmhni"))
    assert with_config_file(settings, path, "llmhni")().candidate_budget is None


def test_the_command_line_beats_the_file_and_the_file_beats_the_defaults(tmp_path, monkeypatch):
    path = tmp_path / "dns.toml"
    path.write_text('method = "dns"\ndns_candidates = 16\nlr = 0.002\n')
    settings, args = parse_args(["dns", "--config", str(path), "--lr", "0.01"])
    values = settings(_cli_parse_args=args)
    assert values.dns_candidates == 16 and values.lr == 0.01 and values.config == path


@pytest.mark.parametrize("text,message", [
    ('method = "dns"\ndns_candidate = 3\n', "did you mean 'dns_candidates'"),
    ('method = "sgl"\n', "is for method 'sgl'"),
    ("lr = [", "not a readable TOML file"),
])
def test_bad_files_get_one_line_errors(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(DataValidationError, match=message):
        read_config_file(path, method_settings("dns"), "dns")


def test_a_bad_file_stops_the_command_before_any_work(tmp_path):
    done = subprocess.run([sys.executable, "-m", "recsys.train", "dns", "--config", str(tmp_path / "missing.toml")],
                          check=False, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and "no such file" in done.stderr and "Traceback" not in done.stderr


SETTINGS_FILES = sorted(p for p in (REPO / "configs").rglob("*.toml") if p.name != "search_spaces.toml")


@pytest.mark.parametrize("path", SETTINGS_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_shipped_config_file_loads(path):
    method = tomllib.loads(path.read_text())["method"]
    settings = method_settings(method)
    read_config_file(path, settings, method)
    with_config_file(settings, path, method)()


def test_a_renamed_option_names_its_new_name_on_the_command_line_and_in_a_file(tmp_path):
    done = subprocess.run([sys.executable, "-m", "recsys.train", "llmhni", "--lambda-align", "0.01",
                           "--store", str(tmp_path / "s.duckdb")], check=False, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2 and "--lambda-align is now --lambda-rlmrec" in done.stderr
    assert not (tmp_path / "s.duckdb").exists()
    path = tmp_path / "old.toml"
    path.write_text('method = "llmhni"\nlambda_align = 0.003\n')
    with pytest.raises(DataValidationError, match="lambda_align is now lambda_rlmrec"):
        read_config_file(path, method_settings("llmhni"), "llmhni")


def test_a_renamed_option_hashes_as_before_so_stored_runs_still_match():
    from pydantic import BaseModel, create_model

    from recsys.training.runs import config_hash

    settings = method_settings("llmhni")
    fields = {name: (field.annotation, field) for name, field in settings.model_fields.items()}
    fields["lambda_align"] = fields.pop("lambda_rlmrec")
    before_rename = create_model("BeforeRename", __base__=BaseModel, **fields)
    for weight in (0.0, 0.003):
        values = settings(lambda_rlmrec=weight).model_dump()
        values["lambda_align"] = values.pop("lambda_rlmrec")
        assert config_hash(settings(lambda_rlmrec=weight)) == config_hash(before_rename(**values))
    assert config_hash(settings(lambda_rlmrec=0.003)) != config_hash(settings(lambda_rlmrec=0.01))
