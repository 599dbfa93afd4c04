import json

import pytest

from judge.prompts import PROGRAMS, init_prompts, load_program, register_prompt


def test_defaults_round_trip_and_hash_follows_content(tmp_path, store):
    written = init_prompts(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{name}.json" for name in PROGRAMS)
    assert init_prompts(tmp_path) == []  # existing files are kept
    first = load_program("dual_judge", prompts_dir=tmp_path)
    assert load_program("dual_judge", prompts_dir=tmp_path).prompt_hash == first.prompt_hash

    state = json.loads(first.path.read_text())
    state["user_view.predict"]["signature"]["instructions"] = "Be strict: say High only with clear evidence."
    first.path.write_text(json.dumps(state))
    edited = load_program("dual_judge", prompts_dir=tmp_path)
    assert edited.prompt_hash != first.prompt_hash
    assert edited.program.user_view.predict.signature.instructions.startswith("Be strict")

    register_prompt(store, edited)
    register_prompt(store, edited)
    with store.connect() as con:
        rows = con.execute("SELECT program, content FROM prompts").fetchall()
    assert len(rows) == 1 and rows[0][0] == "dual_judge" and "Be strict" in rows[0][1]


def test_repo_prompts_load():
    for name in PROGRAMS:
        assert len(load_program(name).prompt_hash) == 16


def test_missing_or_broken_prompt_files_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="init-prompts"):
        load_program("profile_user", prompts_dir=tmp_path)
    (tmp_path / "profile_user.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a saved profile_user program"):
        load_program("profile_user", prompts_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown program"):
        load_program("nope", prompts_dir=tmp_path)
