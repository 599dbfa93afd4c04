"""The DuckDB store: one file, one versioned schema, short-lived connections.

DuckDB allows a single read-write process per file, and a connection held open in another process
blocks every writer. So nothing here keeps a connection: every read or write batch opens one, does
its work in a transaction and closes it. Lock conflicts are retried with a bounded backoff.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

DEFAULT_STORE_PATH = Path(os.environ.get("LLMHNI_STORE", "store/llmhni.duckdb"))


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


# Append only: a released migration is never edited, a new one is added with the next version.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "datasets, users, items, ratings, splits, interactions, runs, metrics",
        """
        CREATE TABLE datasets (
            dataset_id   VARCHAR PRIMARY KEY,
            source       VARCHAR NOT NULL,
            content_hash VARCHAR NOT NULL,
            n_users      INTEGER NOT NULL,
            n_items      INTEGER NOT NULL,
            n_ratings    BIGINT  NOT NULL,
            created_at   TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE users (
            dataset_id VARCHAR NOT NULL,
            user_idx   INTEGER NOT NULL,
            raw_id     VARCHAR NOT NULL,
            attributes JSON,
            PRIMARY KEY (dataset_id, user_idx)
        );
        CREATE TABLE items (
            dataset_id VARCHAR NOT NULL,
            item_idx   INTEGER NOT NULL,
            raw_id     VARCHAR NOT NULL,
            title      VARCHAR,
            year       INTEGER,
            genres     VARCHAR,
            text       VARCHAR,
            PRIMARY KEY (dataset_id, item_idx)
        );
        -- The explicit feedback as ingested; splits and noise are derived from it.
        CREATE TABLE ratings (
            dataset_id VARCHAR NOT NULL,
            user_idx   INTEGER NOT NULL,
            item_idx   INTEGER NOT NULL,
            rating     DOUBLE  NOT NULL,
            ts         BIGINT,
            PRIMARY KEY (dataset_id, user_idx, item_idx)
        );
        CREATE TABLE splits (
            split_id        VARCHAR PRIMARY KEY,
            dataset_id      VARCHAR NOT NULL,
            seed            INTEGER NOT NULL,
            noise_kind      VARCHAR NOT NULL,
            noise_ratio     DOUBLE  NOT NULL,
            params          JSON    NOT NULL,
            n_users_kept    INTEGER NOT NULL,
            n_users_dropped INTEGER NOT NULL,
            n_train_clean   INTEGER NOT NULL,
            n_train_noise   INTEGER NOT NULL,
            n_valid         INTEGER NOT NULL,
            n_test          INTEGER NOT NULL,
            created_at      TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        -- is_injected_noise is ground truth: only evaluation code may read it.
        CREATE TABLE interactions (
            split_id          VARCHAR NOT NULL,
            user_idx          INTEGER NOT NULL,
            item_idx          INTEGER NOT NULL,
            rating            DOUBLE,
            split             VARCHAR NOT NULL CHECK (split IN ('train', 'valid', 'test')),
            is_injected_noise BOOLEAN NOT NULL,
            PRIMARY KEY (split_id, user_idx, item_idx)
        );
        CREATE TABLE runs (
            run_id       VARCHAR PRIMARY KEY,
            split_id     VARCHAR NOT NULL,
            model        VARCHAR NOT NULL,
            config       JSON    NOT NULL,
            config_hash  VARCHAR NOT NULL,
            code_version VARCHAR NOT NULL,
            status       VARCHAR NOT NULL,
            best_epoch   INTEGER,
            timings      JSON,
            started_at   TIMESTAMP NOT NULL DEFAULT current_timestamp,
            finished_at  TIMESTAMP
        );
        -- One row per (run, epoch, split, metric); test rows are written at the best validation epoch.
        CREATE TABLE metrics (
            run_id VARCHAR NOT NULL,
            epoch  INTEGER NOT NULL,
            split  VARCHAR NOT NULL,
            name   VARCHAR NOT NULL,
            value  DOUBLE  NOT NULL,
            PRIMARY KEY (run_id, epoch, split, name)
        );
        """,
    ),
    Migration(
        2,
        "judge: prompts, profiles, candidates, verdicts, judge_runs",
        """
        -- Every saved DSPy program that produced a row, by content hash.
        CREATE TABLE prompts (
            prompt_hash VARCHAR PRIMARY KEY,
            program     VARCHAR NOT NULL,
            path        VARCHAR NOT NULL,
            content     JSON    NOT NULL,
            created_at  TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        -- One row per (entity, LM, prompt): a changed prompt or model never mixes with old rows.
        CREATE TABLE profiles (
            split_id          VARCHAR NOT NULL,
            kind              VARCHAR NOT NULL CHECK (kind IN ('user', 'item')),
            entity_idx        INTEGER NOT NULL,
            lm                VARCHAR NOT NULL,
            prompt_hash       VARCHAR NOT NULL,
            status            VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
            profile           JSON,
            text              VARCHAR,
            error_kind        VARCHAR,
            error             VARCHAR,
            raw_output        VARCHAR,
            prompt_tokens     INTEGER,
            completion_tokens INTEGER,
            latency_s         DOUBLE,
            cost              DOUBLE,
            attempts          INTEGER NOT NULL,
            judge_run_id      VARCHAR NOT NULL,
            created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (split_id, kind, entity_idx, lm, prompt_hash)
        );
        -- Pairs chosen from a backbone for the judge, plus each user's top-scored positives as context.
        CREATE TABLE candidates (
            candidate_set VARCHAR NOT NULL,
            split_id      VARCHAR NOT NULL,
            user_idx      INTEGER NOT NULL,
            item_idx      INTEGER NOT NULL,
            kind          VARCHAR NOT NULL CHECK (kind IN ('low_score_positive', 'high_score_negative', 'top_positive')),
            score         DOUBLE  NOT NULL,
            rank          INTEGER NOT NULL,
            PRIMARY KEY (candidate_set, user_idx, item_idx, kind)
        );
        CREATE TABLE candidate_sets (
            candidate_set  VARCHAR PRIMARY KEY,
            split_id       VARCHAR NOT NULL,
            backbone_run   VARCHAR NOT NULL,
            params         JSON    NOT NULL,
            created_at     TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        -- One row per (pair, view, LM, prompt). The hard/noise decision is derived by a rule at read time.
        CREATE TABLE verdicts (
            candidate_set     VARCHAR NOT NULL,
            user_idx          INTEGER NOT NULL,
            item_idx          INTEGER NOT NULL,
            view              VARCHAR NOT NULL CHECK (view IN ('user', 'item')),
            lm                VARCHAR NOT NULL,
            prompt_hash       VARCHAR NOT NULL,
            status            VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
            label             VARCHAR CHECK (label IN ('High', 'Mid', 'Low')),
            rationale         VARCHAR,
            label_probs       JSON,
            error_kind        VARCHAR,
            error             VARCHAR,
            raw_output        VARCHAR,
            prompt_tokens     INTEGER,
            completion_tokens INTEGER,
            latency_s         DOUBLE,
            cost              DOUBLE,
            attempts          INTEGER NOT NULL,
            judge_run_id      VARCHAR NOT NULL,
            created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (candidate_set, user_idx, item_idx, view, lm, prompt_hash)
        );
        CREATE TABLE judge_runs (
            judge_run_id      VARCHAR PRIMARY KEY,
            command           VARCHAR NOT NULL,
            lm                VARCHAR NOT NULL,
            config            JSON    NOT NULL,
            status            VARCHAR NOT NULL,
            n_tasks           INTEGER,
            n_ok              INTEGER,
            n_failed          INTEGER,
            lm_calls          INTEGER,
            prompt_tokens     BIGINT,
            completion_tokens BIGINT,
            cost              DOUBLE,
            seconds           DOUBLE,
            started_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
            finished_at       TIMESTAMP
        );
        """,
    ),
    Migration(
        3,
        "text embeddings, content-addressed by encoder and text hash",
        """
        CREATE TABLE text_embeddings (
            encoder    VARCHAR NOT NULL,
            text_hash  VARCHAR NOT NULL,
            vector     FLOAT[] NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (encoder, text_hash)
        );
        """,
    ),
    Migration(
        4,
        "audits: human reviews of judged candidate pairs (tui)",
        """
        -- Append-only: the latest row per (pair, LM, prompt, auditor) is that auditor's current audit;
        -- undo deletes the row it made. The judge's labels and decision are copied as the auditor saw
        -- them, so an audit keeps its meaning when the rule or the verdicts change later. audited_at is UTC.
        CREATE TABLE audits (
            audit_id       VARCHAR PRIMARY KEY,
            split_id       VARCHAR NOT NULL,
            candidate_set  VARCHAR NOT NULL,
            user_idx       INTEGER NOT NULL,
            item_idx       INTEGER NOT NULL,
            kind           VARCHAR NOT NULL CHECK (kind IN ('low_score_positive', 'high_score_negative')),
            lm             VARCHAR NOT NULL,
            prompt_hash    VARCHAR NOT NULL,
            rule           VARCHAR NOT NULL,
            user_label     VARCHAR CHECK (user_label IN ('High', 'Mid', 'Low')),
            item_label     VARCHAR CHECK (item_label IN ('High', 'Mid', 'Low')),
            judge_decision VARCHAR NOT NULL CHECK (judge_decision IN ('hard', 'noise')),
            audit          VARCHAR NOT NULL CHECK (audit IN ('correct', 'hallucinated', 'unsure')),
            note           VARCHAR,
            auditor        VARCHAR NOT NULL,
            audited_at     TIMESTAMP NOT NULL
        );
        """,
    ),
    Migration(
        5,
        "judge evals: reserved label pairs, labeled hard/noise sets, judge evaluations",
        """
        -- Clean positives held out of train, valid and test (DataConfig.label_reserve): they label the
        -- judge's eval set and nothing else reads them.
        CREATE TABLE reserved_pairs (
            split_id VARCHAR NOT NULL,
            user_idx INTEGER NOT NULL,
            item_idx INTEGER NOT NULL,
            rating   DOUBLE  NOT NULL,
            PRIMARY KEY (split_id, user_idx, item_idx)
        );
        -- A labeled set is a candidate set (so verdicts on it reuse the judge's tables) plus one label
        -- per pair. origin says where the pair came from; source says who labeled it (ratings or an audit).
        CREATE TABLE label_sets (
            label_set  VARCHAR PRIMARY KEY,
            split_id   VARCHAR NOT NULL,
            params     JSON    NOT NULL,
            created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE labeled_pairs (
            label_set  VARCHAR NOT NULL,
            user_idx   INTEGER NOT NULL,
            item_idx   INTEGER NOT NULL,
            kind       VARCHAR NOT NULL CHECK (kind IN ('low_score_positive', 'high_score_negative')),
            origin     VARCHAR NOT NULL CHECK (origin IN ('train_clean', 'train_injected', 'reserved', 'rated_low', 'audit')),
            rating     DOUBLE,
            part       VARCHAR NOT NULL CHECK (part IN ('train', 'dev', 'test')),
            label      VARCHAR NOT NULL CHECK (label IN ('hard', 'noise')),
            source     VARCHAR NOT NULL CHECK (source IN ('rating', 'audit')),
            labeler    VARCHAR,
            labeled_at TIMESTAMP,
            note       VARCHAR,
            PRIMARY KEY (label_set, user_idx, item_idx)
        );
        -- One row per evaluation of a judge (or a trivial baseline) on one part of a labeled set.
        CREATE TABLE judge_evals (
            eval_id            VARCHAR PRIMARY KEY,
            label_set          VARCHAR NOT NULL,
            part               VARCHAR NOT NULL,
            judge              VARCHAR NOT NULL,
            lm                 VARCHAR,
            prompt_hash        VARCHAR,
            prompt_path        VARCHAR,
            rule               VARCHAR,
            n_pairs            INTEGER NOT NULL,
            accuracy           DOUBLE,
            balanced_accuracy  DOUBLE,
            macro_f1           DOUBLE,
            kappa              DOUBLE,
            parse_failure_rate DOUBLE,
            lm_calls           INTEGER,
            prompt_tokens      BIGINT,
            completion_tokens  BIGINT,
            cost               DOUBLE,
            seconds            DOUBLE,
            details            JSON,
            created_at         TIMESTAMP NOT NULL DEFAULT current_timestamp
        );
        """,
    ),
    Migration(
        6,
        "method outputs: what the LLM baselines' programs wrote (LLMHD scores and summaries, HNLMRec negatives)",
        """
        -- One row per (task, scope, user, item, round, LM, prompt), written and resumed like a verdict.
        -- scope is the candidate set (LLMHD) or the split (HNLMRec); item_idx is -1 for per-user rows.
        CREATE TABLE method_outputs (
            task              VARCHAR NOT NULL CHECK (task IN ('llmhd_score', 'llmhd_update', 'hnlmrec_negative')),
            scope             VARCHAR NOT NULL,
            user_idx          INTEGER NOT NULL,
            item_idx          INTEGER NOT NULL,
            round             INTEGER NOT NULL,
            lm                VARCHAR NOT NULL,
            prompt_hash       VARCHAR NOT NULL,
            status            VARCHAR NOT NULL CHECK (status IN ('ok', 'failed')),
            output            JSON,
            text              VARCHAR,
            score             DOUBLE,
            error_kind        VARCHAR,
            error             VARCHAR,
            raw_output        VARCHAR,
            prompt_tokens     INTEGER,
            completion_tokens INTEGER,
            latency_s         DOUBLE,
            cost              DOUBLE,
            attempts          INTEGER NOT NULL,
            judge_run_id      VARCHAR NOT NULL,
            created_at        TIMESTAMP NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (task, scope, user_idx, item_idx, round, lm, prompt_hash)
        );
        """,
    ),
    Migration(
        7,
        "datasets as users bring them: rating scales, given splits, imported profiles and embeddings",
        """
        -- The rating scale (recsys.data.scale.RatingScale as JSON); NULL for datasets ingested before it (1-5).
        ALTER TABLE datasets ADD COLUMN scale JSON;
        -- The split a pre-split dataset came in (train/valid/test); NULL when the toolkit cuts the split.
        ALTER TABLE ratings ADD COLUMN given_split VARCHAR;
        -- Profiles and text embeddings shipped with a dataset (RLMRec's usr_prf.pkl, itm_emb_np.pkl, ...).
        CREATE TABLE dataset_profiles (
            dataset_id VARCHAR NOT NULL,
            kind       VARCHAR NOT NULL CHECK (kind IN ('user', 'item')),
            entity_idx INTEGER NOT NULL,
            text       VARCHAR NOT NULL,
            profile    JSON,
            PRIMARY KEY (dataset_id, kind, entity_idx)
        );
        CREATE TABLE dataset_embeddings (
            dataset_id VARCHAR NOT NULL,
            kind       VARCHAR NOT NULL CHECK (kind IN ('user', 'item')),
            entity_idx INTEGER NOT NULL,
            vector     FLOAT[] NOT NULL,
            PRIMARY KEY (dataset_id, kind, entity_idx)
        );
        """,
    ),
    Migration(
        8,
        "judge faults: finish reasons of LM answers; run heartbeats, owners and skipped tasks",
        """
        -- Why the LM stopped ('stop', 'length', ...); NULL where unknown or for rows written before.
        ALTER TABLE verdicts ADD COLUMN finish_reason VARCHAR;
        ALTER TABLE profiles ADD COLUMN finish_reason VARCHAR;
        ALTER TABLE method_outputs ADD COLUMN finish_reason VARCHAR;
        -- A running run refreshes heartbeat_at; one whose heartbeat stopped (or whose process on this
        -- host is gone) reads as abandoned. n_skipped: tasks a judge run could not even start.
        ALTER TABLE judge_runs ADD COLUMN n_skipped INTEGER;
        ALTER TABLE judge_runs ADD COLUMN heartbeat_at TIMESTAMP;
        ALTER TABLE judge_runs ADD COLUMN pid INTEGER;
        ALTER TABLE judge_runs ADD COLUMN host VARCHAR;
        ALTER TABLE runs ADD COLUMN heartbeat_at TIMESTAMP;
        ALTER TABLE runs ADD COLUMN pid INTEGER;
        ALTER TABLE runs ADD COLUMN host VARCHAR;
        """,
    ),
    Migration(
        9,
        "judge batches: OpenAI-compatible batch jobs a judge stage submitted (--batch-api)",
        """
        -- One row per submitted batch, written before it is polled: a killed run polls the same batch
        -- again instead of submitting it twice. custom_ids name the tasks it holds (judge.batch.custom_id);
        -- ingested_at is set once each of their answers (or failures) is in table_name.
        CREATE TABLE judge_batches (
            batch_id      VARCHAR PRIMARY KEY,
            command       VARCHAR NOT NULL,
            table_name    VARCHAR NOT NULL,
            lm            VARCHAR NOT NULL,
            input_file_id VARCHAR NOT NULL,
            custom_ids    VARCHAR[] NOT NULL,
            n_requests    INTEGER NOT NULL,
            status        VARCHAR NOT NULL,
            judge_run_id  VARCHAR NOT NULL,
            created_at    TIMESTAMP NOT NULL DEFAULT current_timestamp,
            ingested_at   TIMESTAMP
        );
        """,
    ),
)


class StoreError(RuntimeError):
    """The store cannot be used as given (a folder, not a DuckDB file, locked); the message says how to fix it."""


class StoreLockedError(StoreError):
    """Another process kept the write lock for longer than the retry budget."""


_LOCK_MESSAGES = ("could not set lock", "conflicting lock")


def _is_lock_error(error: duckdb.Error) -> bool:
    # Match DuckDB's wording, not the bare word: the file path in the message may contain "lock".
    message = str(error).lower()
    return any(phrase in message for phrase in _LOCK_MESSAGES)


class StoreOpenError(StoreError, duckdb.IOException):
    """DuckDB would not open the file (a folder, not a database, unreadable). It is also a
    ``duckdb.Error``, as the error it replaces was, so code that caught that still catches it."""


def _folder_error(path: Path) -> StoreOpenError:
    return StoreOpenError(f"--store {path} is a folder; give a .duckdb file path (e.g. {path / 'llmhni.duckdb'}).")


def _open_error(path: Path, error: duckdb.Error) -> StoreOpenError:
    """The one-line error for a file DuckDB would not open, naming the path and the fix."""
    if path.is_dir():
        return _folder_error(path)
    reason = (str(error).splitlines() or [type(error).__name__])[0]
    if "not a valid duckdb database" in reason.lower():
        return StoreOpenError(f"--store {path} is not a DuckDB database ({reason}); "
                              "point --store at a store file or a new path.")
    return StoreOpenError(f"--store {path} cannot be opened as a DuckDB store ({reason}); "
                          "point --store at a store file or a new path.")


class Store:
    """A DuckDB file with a migrated schema.

    Args:
        path: The database file; its parent folder is created (with ``create``).
        migrations: The schema history to apply (the project's own by default).
        lock_retries: How many times to retry opening while another process holds the lock.
        lock_backoff_s: First backoff between retries; it doubles, with jitter, up to 2 s.
        create: Make the file if it is missing (the default). With False (:meth:`open_existing`, for
            read-only commands) a missing file, or a DuckDB file that is not a store, raises StoreError.

    Raises:
        StoreError: ``path`` is a folder, or a file DuckDB cannot open, or (``create=False``) missing;
            the one-line message names the path and the fix.
    """

    def __init__(
        self,
        path: str | os.PathLike = DEFAULT_STORE_PATH,
        migrations: Sequence[Migration] = MIGRATIONS,
        lock_retries: int = 20,
        lock_backoff_s: float = 0.05,
        create: bool = True,
    ) -> None:
        self.path = Path(path)
        self.migrations = tuple(sorted(migrations, key=lambda m: m.version))
        self.lock_retries = lock_retries
        self.lock_backoff_s = lock_backoff_s
        if self.path.is_dir():
            raise _folder_error(self.path)
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                blocker = next((p for p in self.path.parents if p.exists() and not p.is_dir()), None)
                reason = f"{blocker} is a file, not a folder" if blocker else (error.strerror or str(error))
                raise StoreError(f"--store {self.path}: cannot make its folder ({reason}); "
                                 "give a path under a folder you can write.") from error
        elif not self.path.exists():
            raise StoreError(f"no store at {self.path}; run `python -m recsys.train` or "
                             "`python -m judge candidates` first (or point --store at an existing store).")
        self.migrate(create=create)

    @classmethod
    def open_existing(cls, path: str | os.PathLike = DEFAULT_STORE_PATH, **kwargs) -> Store:
        """The store at ``path`` for a read-only command: never creates one (a missing file, or a DuckDB
        file without the store's schema, raises StoreError). An existing store is still migrated."""
        return cls(path, create=False, **kwargs)

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; hold it only around one batch of work."""
        delay = self.lock_backoff_s
        for attempt in range(self.lock_retries + 1):
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.Error as error:
                if not _is_lock_error(error):
                    raise _open_error(self.path, error) from error
                if attempt == self.lock_retries:
                    raise StoreLockedError(
                        f"{self.path} is locked by another process ({error}). "
                        "Wait for the other run to finish, or use a different --store."
                    ) from error
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 2.0)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection inside one transaction: all of its writes land, or none do."""
        with self.connect() as con:
            con.begin()
            try:
                yield con
            except BaseException:
                con.rollback()
                raise
            con.commit()

    def schema_version(self) -> int:
        with self.connect() as con:
            return _current_version(con)

    def migrate(self, create: bool = True) -> int:
        """Apply the migrations the file has not seen yet, each in its own transaction.
        With ``create=False`` a database that is not a store yet (no schema_version table) is left
        untouched and raises StoreError."""
        with self.connect() as con:
            if not create and not con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
            ).fetchone()[0]:
                raise StoreError(f"--store {self.path} is a DuckDB database but not a store (no schema_version "
                                 "table); point --store at a store file made by `python -m recsys.train` or "
                                 "`python -m judge candidates`.")
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                " version INTEGER PRIMARY KEY, description VARCHAR NOT NULL,"
                " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
            )
            current = _current_version(con)
            newest = self.migrations[-1].version if self.migrations else 0
            if current > newest:
                raise StoreError(
                    f"{self.path} has schema version {current}, newer than this code knows "
                    f"({newest}). Upgrade the toolkit, or point --store at another file."
                )
            for migration in self.migrations:
                if migration.version <= current:
                    continue
                con.begin()
                try:
                    con.execute(migration.sql)
                    con.execute(
                        "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                        [migration.version, migration.description],
                    )
                except BaseException:
                    con.rollback()
                    raise
                con.commit()
            return _current_version(con)

    def tables(self) -> list[str]:
        with self.connect() as con:
            return [row[0] for row in con.execute("SHOW TABLES").fetchall()]

    def export_parquet(self, folder: str | os.PathLike) -> list[Path]:
        """Write every table to FOLDER/<table>.parquet, for other engines."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        with self.connect() as con:
            for table in [row[0] for row in con.execute("SHOW TABLES").fetchall()]:
                target = folder / f"{table}.parquet"
                con.execute(f"COPY {table} TO '{target}' (FORMAT parquet)")
                written.append(target)
        return written


def _current_version(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]


def discard_if_empty(path: str | os.PathLike) -> bool:
    """Delete a store file that holds no dataset (made by a command that then failed on its input).

    Returns whether it was removed. A store with any dataset in it is never touched."""
    path = Path(path)
    if not path.exists():
        return False
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return False
    try:
        tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
        if "datasets" in tables and con.execute("SELECT count(*) FROM datasets").fetchone()[0]:
            return False
    finally:
        con.close()
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    return True
