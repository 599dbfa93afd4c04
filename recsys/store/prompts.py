"""The ``prompts`` table: every saved DSPy program that produced a row, by content hash."""

from __future__ import annotations

from recsys.store.database import Store


def insert_prompt(store: Store, prompt_hash: str, program: str, path: str, content: str) -> None:
    """Keep a program file's content under its hash, in its own transaction (a known hash is kept)."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO prompts (prompt_hash, program, path, content) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [prompt_hash, program, path, content],
        )
