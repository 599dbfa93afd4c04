"""Declarative prompts: each program's DSPy state (instructions, demos) saved as JSON under prompts/.

Programs are loaded from these files at run time, and every row they produce records the file's
content hash, so that an edited or optimized prompt never silently mixes with older results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import dspy
from pydantic import TypeAdapter

from judge.config import PROMPTS_DIR
from judge.listwise import ListwiseJudge
from judge.programs import (
    ContrastNegative,
    DualPerspectiveJudge,
    LLMHDPreferenceUpdate,
    LLMHDScorer,
    ProfileItem,
    ProfileUser,
)
from recsys.store import Store
from recsys.store.prompts import insert_prompt

PROGRAMS = {
    "profile_user": ProfileUser,
    "profile_item": ProfileItem,
    "dual_judge": DualPerspectiveJudge,
    "listwise_judge": ListwiseJudge,
    "llmhd_score": LLMHDScorer,
    "llmhd_update": LLMHDPreferenceUpdate,
    "contrast_negative": ContrastNegative,
}


@dataclass
class LoadedProgram:
    name: str
    program: dspy.Module
    path: Path
    prompt_hash: str


def prompt_path(name: str, prompts_dir: Path = PROMPTS_DIR) -> Path:
    return Path(prompts_dir) / f"{name}.json"


def content_hash(path: Path, program: dspy.Module | None = None) -> str:
    """Hash of the saved state plus the program's field schemas, which live in code, not in the file:
    a changed output model (say, a new length limit) is a changed prompt too."""
    digest = hashlib.sha256(Path(path).read_bytes())
    if program is not None:
        for name, predictor in program.named_predictors():
            fields = predictor.signature.model_fields
            schemas = {key: TypeAdapter(field.annotation).json_schema() for key, field in fields.items()}
            digest.update(json.dumps([name, schemas], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def save_program(program: dspy.Module, path: Path) -> str:
    """Save a program's state as JSON and return its content hash."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    program.save(str(path))
    return content_hash(path, program)


def init_prompts(prompts_dir: Path = PROMPTS_DIR, force: bool = False) -> list[Path]:
    """Write the zero-shot default of every program that has no file yet (or all, with force)."""
    written = []
    for name, factory in PROGRAMS.items():
        path = prompt_path(name, prompts_dir)
        if force or not path.exists():
            save_program(factory(), path)
            written.append(path)
    return written


def load_program(name: str, path: Path | None = None, prompts_dir: Path = PROMPTS_DIR, **kwargs) -> LoadedProgram:
    """Build the program and load its saved state from ``path`` (default prompts/<name>.json)."""
    if name not in PROGRAMS:
        raise ValueError(f"unknown program {name!r}; choose one of {sorted(PROGRAMS)}")
    path = Path(path) if path is not None else prompt_path(name, prompts_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; create the defaults with `python -m judge init-prompts`.")
    program = PROGRAMS[name](**kwargs)
    try:
        program.load(str(path))
    except (KeyError, ValueError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a saved {name} program ({error}); restore it or re-run init-prompts.") from error
    return LoadedProgram(name, program, path, content_hash(path, program))


def register_prompt(store: Store, loaded: LoadedProgram) -> None:
    """Keep the prompt's content in the store, so any row's prompt_hash can be read back."""
    insert_prompt(store, loaded.prompt_hash, loaded.name, str(loaded.path), loaded.path.read_text())
