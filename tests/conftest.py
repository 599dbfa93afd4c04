"""Shared fixtures: a tiny synthetic ratings file and stores under tmp_path."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from recsys.store import Store


def synthetic_ratings(num_users: int = 40, num_items: int = 60, per_user: int = 20, seed: int = 0) -> pd.DataFrame:
    """Explicit ratings 1-5 with a latent taste structure, so a model can learn something."""
    rng = np.random.default_rng(seed)
    user_taste = rng.normal(size=(num_users, 4))
    item_taste = rng.normal(size=(num_items, 4))
    rows = []
    for user in range(num_users):
        items = rng.choice(num_items, size=per_user, replace=False)
        affinity = item_taste[items] @ user_taste[user]
        ratings = np.clip(np.round(3 + affinity / affinity.std()), 1, 5)
        rows += [(f"u{user}", f"i{item}", float(r), 1_000_000 + k) for k, (item, r) in enumerate(zip(items, ratings))]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


@pytest.fixture
def ratings_csv(tmp_path):
    path = tmp_path / "ratings.csv"
    synthetic_ratings().to_csv(path, index=False)
    return path


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store.duckdb")


def query(path, sql, params=()):
    """Rows of a read-only query on a store file (a test may not hold its lock)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def fake_server():
    """One fake OpenAI-compatible server per test module: its address is part of the LM identity that
    keys the stored rows, so a module's template store and its tests must share it."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake(fake_server):
    """The module's server, healthy and with no requests counted, before and after each test."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture(scope="module")
def template_store(tmp_path_factory, fake_server, request):
    """A store with a synthetic dataset's candidates and profiles from the module's fake server, made once
    per module with the module's ``SECRET`` as the API key: (store, data options)."""
    from tests.fake_openai import judge_template

    return judge_template(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]), fake_server,
                          request.module.SECRET)


@pytest.fixture
def prepared(template_store, tmp_path, monkeypatch, request):
    """A fresh copy of the module's template store for one test: (store, data options)."""
    import shutil

    monkeypatch.setenv("FAKE_API_KEY", request.module.SECRET)
    template, data = template_store[:2]
    store = tmp_path / "judge.duckdb"
    shutil.copy(template, store)
    return store, data
