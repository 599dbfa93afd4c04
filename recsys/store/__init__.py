"""The DuckDB store: the schema and its migrations (:mod:`recsys.store.database`) and the typed query
modules beside it, one per group of tables. Code above the store calls these functions, not SQL."""

from recsys.store.database import (
    DEFAULT_STORE_PATH,
    MIGRATIONS,
    Migration,
    Store,
    StoreError,
    StoreLockedError,
    discard_if_empty,
)

__all__ = ["DEFAULT_STORE_PATH", "MIGRATIONS", "Migration", "Store", "StoreError", "StoreLockedError", "discard_if_empty"]
