"""The orchestration floor: the stages, the methods built from them, their registry and the training
entry point. It stands on :mod:`recsys` (the LM-free core) and :mod:`judge` (the LM floor); see docs/design.md."""
