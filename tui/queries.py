"""Every DuckDB query of the audit app, and the typed rows they return.

The functions take a :class:`~recsys.store.Store` and open a short-lived connection each (the
store retries lock conflicts with a bounded backoff), so they are meant to run in thread workers,
never on the UI thread. Nothing here keeps a connection open: a trainer or judge run writing to the
same file gets the lock back within milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal, NamedTuple

from judge.injection import describe, flagged
from recsys.data.texts import compose_item_text, item_texts
from recsys.store import Store

if TYPE_CHECKING:
    import pandas as pd

Rule = Literal["both_high", "either_high", "both_at_least_mid"]
AuditValue = Literal["correct", "hallucinated", "unsure"]
ActionFilter = Literal["any", "edited", "removed", "added", "kept", "no verdict"]
KindFilter = Literal["any", "low_score_positive", "high_score_negative"]
TruthFilter = Literal["any", "injected", "clean", "liked", "disliked", "unrated"]
Sort = Literal["user", "unaudited first", "score ascending", "score descending", "views disagree first", "truth"]

# The same combinations as judge.programs.is_hard (tests check they agree). Kept in SQL here so the
# app neither imports DSPy (seconds of start-up) nor pulls 50,000 rows into Python to decide them.
RULE_SQL: dict[Rule, str] = {
    "both_high": "user_label = 'High' AND item_label = 'High'",
    "either_high": "(user_label = 'High' OR item_label = 'High')",
    "both_at_least_mid": "user_label <> 'Low' AND item_label <> 'Low'",
}

SORT_SQL: dict[Sort, str] = {
    "user": "user_idx, kind DESC, rank",
    "unaudited first": "audit IS NOT NULL, user_idx, kind DESC, rank",
    "score ascending": "score, user_idx",
    "score descending": "score DESC, user_idx",
    "views disagree first": "user_label IS NOT DISTINCT FROM item_label, user_idx, kind DESC, rank",
    "truth": "truth NULLS LAST, user_idx, kind DESC, rank",
}

# The ground truth is read only when the auditor asks for it, so that it cannot bias the audit.
TRUTH_SQL = (
    "CASE WHEN kind = 'low_score_positive' THEN "
    " CASE WHEN x.is_injected_noise THEN 'injected' WHEN x.is_injected_noise IS NULL THEN NULL ELSE 'clean' END"
    " WHEN r.rating IS NULL THEN 'unrated' ELSE 'rated ' || regexp_replace(CAST(r.rating AS VARCHAR), '\\.0$', '') END"
)
TRUTH_JOINS = (
    "LEFT JOIN interactions x ON x.split_id = p.split_id AND x.user_idx = p.user_idx "
    " AND x.item_idx = p.item_idx AND x.split = 'train' "
    "LEFT JOIN ratings r ON r.dataset_id = p.dataset_id AND r.user_idx = p.user_idx AND r.item_idx = p.item_idx "
    "LEFT JOIN datasets ds ON ds.dataset_id = p.dataset_id "
)
# The dataset's liked / disliked thresholds (recsys.data.scale); datasets stored before scales are 1-5.
LIKED_SQL = "r.rating >= coalesce(CAST(json_extract(ds.scale, '$.like') AS DOUBLE), 4)"
DISLIKED_SQL = "r.rating <= coalesce(CAST(json_extract(ds.scale, '$.dislike') AS DOUBLE), 2)"
TRUTH_WHERE: dict[TruthFilter, str] = {
    "injected": "truth = 'injected'",
    "clean": "truth = 'clean'",
    "liked": f"kind = 'high_score_negative' AND {LIKED_SQL}",
    "disliked": f"kind = 'high_score_negative' AND {DISLIKED_SQL}",
    "unrated": "truth = 'unrated'",
}


@dataclass(frozen=True)
class Filters:
    """What the list shows and in what order."""

    disagree: bool = False
    action: ActionFilter = "any"
    kind: KindFilter = "any"
    user: int | None = None
    sort: Sort = "user"
    show_truth: bool = False
    truth: TruthFilter = "any"
    candidate_set: str | None = None
    lm: str | None = None

    def with_(self, **changes) -> Filters:
        return replace(self, **changes)


@dataclass(frozen=True)
class PairKey:
    """One judged pair: a candidate pair as judged by one LM with one prompt."""

    candidate_set: str
    user_idx: int
    item_idx: int
    lm: str
    prompt_hash: str

    def as_id(self) -> str:
        return f"{self.candidate_set}|{self.user_idx}|{self.item_idx}|{self.lm}|{self.prompt_hash}"


class VerdictRow(NamedTuple):
    """One row of the verdict list; ``audit`` is the latest audit by anyone (None: unaudited).

    A tuple straight from DuckDB: 50,000 of them are built in milliseconds."""

    candidate_set: str
    user_idx: int
    item_idx: int
    lm: str
    prompt_hash: str
    split_id: str
    kind: str
    score: float
    title: str
    user_label: str | None
    item_label: str | None
    decision: str | None
    action: str
    audit: str | None
    auditor: str | None
    truth: str | None
    user_failed: bool = False  # a label of None is a failed view when set, else one not judged yet
    item_failed: bool = False
    flag: str | None = None  # which of the pair's texts look like instructions (judge.injection), if any

    @property
    def key(self) -> PairKey:
        return PairKey(self.candidate_set, self.user_idx, self.item_idx, self.lm, self.prompt_hash)


def _pairs_sql(rule: Rule, show_truth: bool) -> str:
    """Every judged pair with both views side by side, its decision, graph action and latest audit."""
    truth = TRUTH_SQL if show_truth else "NULL"
    joins = TRUTH_JOINS if show_truth else ""
    return f"""
    WITH v AS (
        SELECT candidate_set, user_idx, item_idx, lm, prompt_hash,
               any_value(label) FILTER (WHERE view = 'user' AND status = 'ok') AS user_label,
               any_value(label) FILTER (WHERE view = 'item' AND status = 'ok') AS item_label,
               coalesce(bool_or(view = 'user' AND status <> 'ok'), false) AS user_failed,
               coalesce(bool_or(view = 'item' AND status <> 'ok'), false) AS item_failed
        FROM verdicts GROUP BY ALL
    ), a AS (
        SELECT candidate_set, user_idx, item_idx, lm, prompt_hash,
               arg_max(audit, audited_at) AS audit, arg_max(auditor, audited_at) AS auditor
        FROM audits GROUP BY ALL
    ), p AS (
        SELECT v.*, c.kind, c.score, c.rank, cs.split_id, s.dataset_id,
               coalesce(it.title || coalesce(' (' || it.year || ')', ''), 'item ' || v.item_idx) AS title,
               CASE WHEN user_label IS NULL OR item_label IS NULL THEN NULL
                    WHEN {RULE_SQL[rule]} THEN 'hard' ELSE 'noise' END AS decision,
               CASE WHEN decision IS NULL THEN 'no verdict'
                    WHEN c.kind = 'low_score_positive' AND decision = 'noise' THEN 'removed'
                    WHEN c.kind = 'high_score_negative' AND decision = 'hard' THEN 'added'
                    ELSE 'kept' END AS action,
               a.audit, a.auditor
        FROM v
        JOIN candidates c ON c.candidate_set = v.candidate_set AND c.user_idx = v.user_idx
             AND c.item_idx = v.item_idx AND c.kind IN ('low_score_positive', 'high_score_negative')
        JOIN candidate_sets cs ON cs.candidate_set = v.candidate_set
        JOIN splits s ON s.split_id = cs.split_id
        LEFT JOIN items it ON it.dataset_id = s.dataset_id AND it.item_idx = v.item_idx
        LEFT JOIN a ON a.candidate_set = v.candidate_set AND a.user_idx = v.user_idx AND a.item_idx = v.item_idx
             AND a.lm = v.lm AND a.prompt_hash = v.prompt_hash
    )
    SELECT p.candidate_set, p.user_idx, p.item_idx, p.lm, p.prompt_hash, p.split_id, p.kind, p.score, p.title,
           p.user_label, p.item_label, p.decision, p.action, p.audit, p.auditor, {truth} AS truth,
           p.user_failed AND p.user_label IS NULL AS user_failed, p.item_failed AND p.item_label IS NULL AS item_failed
    FROM p {joins}
    """


def _where(filters: Filters) -> tuple[str, list]:
    conditions, params = [], []
    if filters.disagree:
        conditions.append("user_label IS DISTINCT FROM item_label")
    if filters.action == "edited":
        conditions.append("action IN ('removed', 'added')")
    elif filters.action != "any":
        conditions.append("action = ?")
        params.append(filters.action)
    if filters.kind != "any":
        conditions.append("kind = ?")
        params.append(filters.kind)
    if filters.user is not None:
        conditions.append("p.user_idx = ?")
        params.append(filters.user)
    if filters.candidate_set is not None:
        conditions.append("p.candidate_set = ?")
        params.append(filters.candidate_set)
    if filters.lm is not None:
        conditions.append("p.lm = ?")
        params.append(filters.lm)
    if filters.show_truth and filters.truth != "any":
        conditions.append(TRUTH_WHERE[filters.truth])
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", params


def list_sql(filters: Filters, rule: Rule) -> tuple[str, list]:
    """The list query for these filters: SQL and its parameters (public for the benchmark)."""
    where, params = _where(filters)
    sort = filters.sort if filters.show_truth or filters.sort != "truth" else "user"
    # The pair key ends the order so that equal rows keep one stable order between refreshes.
    order = f" ORDER BY {SORT_SQL[sort]}, p.candidate_set, p.user_idx, p.item_idx, p.lm, p.prompt_hash"
    return _pairs_sql(rule, filters.show_truth) + where + order, params


def fetch_rows(store: Store, filters: Filters, rule: Rule = "both_high", limit: int | None = None) -> list[VerdictRow]:
    """The rows matching ``filters``, sorted (the first ``limit`` of them, or all). 50,000 rows take a
    fraction of a second; the table widget then shows them a page at a time."""
    sql, params = list_sql(filters, rule)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.connect() as con:
        records = con.execute(sql, params).fetchall()
        return mark_flagged(con, [VerdictRow(*record) for record in records])


# Flagged items per (database file, split): a dataset's items never change, so a split is scanned once.
_FLAGGED_ITEMS: dict[tuple[str, str], set[int]] = {}


def flagged_entities(con, split_id: str, users: set[int]) -> tuple[set[int], set[int]]:
    """The split's items whose prompt text (:func:`recsys.data.texts.compose_item_text`) looks like
    instructions, and those of ``users`` with a stored profile (LLM-written or the dataset's own) that
    does; computed on read (judge.injection), not stored."""
    database, = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    key = (database, split_id)
    if key not in _FLAGGED_ITEMS:
        rows = con.execute(
            "SELECT i.item_idx, i.title, i.year, i.genres, i.text FROM items i "
            "JOIN splits s ON s.dataset_id = i.dataset_id WHERE s.split_id = ?", [split_id]).fetchall()
        _FLAGGED_ITEMS[key] = flagged({item: compose_item_text(*parts) for item, *parts in rows})
    profiles = con.execute(
        "SELECT entity_idx, text FROM profiles WHERE split_id = ? AND kind = 'user' AND status = 'ok' "
        "AND text IS NOT NULL UNION ALL SELECT p.entity_idx, p.text FROM dataset_profiles p "
        "JOIN splits s ON s.dataset_id = p.dataset_id WHERE s.split_id = ? AND p.kind = 'user'",
        [split_id, split_id]).fetchall()
    bad_profiles = flagged({number: text for number, (user, text) in enumerate(profiles) if user in users})
    return {profiles[number][0] for number in bad_profiles}, _FLAGGED_ITEMS[key]


def mark_flagged(con, rows: list[VerdictRow]) -> list[VerdictRow]:
    """The rows, with ``flag`` set on those whose item text or user profile looks like instructions."""
    users_by_split: dict[str, set[int]] = {}
    for row in rows:
        users_by_split.setdefault(row.split_id, set()).add(row.user_idx)
    flags = {split: flagged_entities(con, split, users) for split, users in users_by_split.items()}
    out = []
    for row in rows:
        bad_users, bad_items = flags[row.split_id]
        parts = [name for name, bad in (("item text", row.item_idx in bad_items),
                                        ("user profile", row.user_idx in bad_users)) if bad]
        out.append(row._replace(flag=", ".join(parts)) if parts else row)
    return out


def store_has_verdicts(store: Store) -> bool:
    """Whether any pair has been judged at all: an empty list then means "no judge run yet", not
    "no pair matches these filters"."""
    with store.connect() as con:
        return con.execute("SELECT EXISTS (SELECT 1 FROM verdicts)").fetchone()[0]


@dataclass
class ViewVerdict:
    view: str
    status: str
    label: str | None
    rationale: str | None
    error: str | None
    judged_at: datetime | None


@dataclass
class AuditRecord:
    audit_id: str
    audit: str
    note: str | None
    auditor: str
    audited_at: datetime
    judge_decision: str


@dataclass
class Detail:
    """Everything the auditor reads about one pair."""

    key: PairKey
    kind: str
    score: float
    rank: int
    item_title: str
    item_text: str | None
    item_genres: str | None
    user_profile: str | None
    item_profile: str | None
    history: list[tuple[str, float]] = field(default_factory=list)
    views: dict[str, ViewVerdict] = field(default_factory=dict)
    audits: list[AuditRecord] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # why the item text or user profile looks like instructions


def _profile(con, split_id: str, kind: str, entity: int, lm: str) -> str | None:
    # Prefer the profile written by the verdict's own LM; else the newest one for the entity.
    row = con.execute(
        "SELECT text FROM profiles WHERE split_id = ? AND kind = ? AND entity_idx = ? AND status = 'ok' "
        "ORDER BY lm = ? DESC, created_at DESC LIMIT 1", [split_id, kind, entity, lm]).fetchone()
    return row[0] if row else None


def fetch_detail(store: Store, key: PairKey, max_history: int = 10) -> Detail:
    """The profiles, history, item text, both views' rationales and the audit history of one pair."""
    k = [key.candidate_set, key.user_idx, key.item_idx]
    with store.connect() as con:
        kind, score, rank, split_id, dataset_id = con.execute(
            "SELECT c.kind, c.score, c.rank, cs.split_id, s.dataset_id FROM candidates c "
            "JOIN candidate_sets cs USING (candidate_set) JOIN splits s ON s.split_id = cs.split_id "
            "WHERE c.candidate_set = ? AND c.user_idx = ? AND c.item_idx = ? "
            "AND c.kind IN ('low_score_positive', 'high_score_negative')", k).fetchone()
        item = con.execute("SELECT title, year, genres, text FROM items WHERE dataset_id = ? AND item_idx = ?",
                           [dataset_id, key.item_idx]).fetchone()
        title, year, genres, text = item if item else (None, None, None, None)
        history = con.execute(
            "SELECT coalesce(i.title || coalesce(' (' || i.year || ')', ''), 'item ' || c.item_idx), c.score "
            "FROM candidates c LEFT JOIN items i ON i.dataset_id = ? AND i.item_idx = c.item_idx "
            "WHERE c.candidate_set = ? AND c.user_idx = ? AND c.kind = 'top_positive' ORDER BY c.rank LIMIT ?",
            [dataset_id, key.candidate_set, key.user_idx, max_history]).fetchall()
        views = {
            view: ViewVerdict(view, status, label, rationale, error, created_at)
            for view, status, label, rationale, error, created_at in con.execute(
                "SELECT view, status, label, rationale, error, created_at FROM verdicts "
                "WHERE candidate_set = ? AND user_idx = ? AND item_idx = ? AND lm = ? AND prompt_hash = ?",
                k + [key.lm, key.prompt_hash]).fetchall()
        }
        audits = [AuditRecord(*row) for row in con.execute(
            "SELECT audit_id, audit, note, auditor, audited_at, judge_decision FROM audits "
            "WHERE candidate_set = ? AND user_idx = ? AND item_idx = ? AND lm = ? AND prompt_hash = ? "
            "ORDER BY audited_at DESC", k + [key.lm, key.prompt_hash]).fetchall()]
        user_profile = _profile(con, split_id, "user", key.user_idx, key.lm)
        item_profile = _profile(con, split_id, "item", key.item_idx, key.lm)
    item_title = f"{title} ({year})" if title and year else (title or f"item {key.item_idx}")
    flags = [f"{name} {reason}" for name, reason in (
        ("item text", describe(item_texts(store, split_id).get(key.item_idx))),
        ("user profile", describe(user_profile))) if reason]
    return Detail(key, kind, score, rank, item_title, text, genres, user_profile, item_profile,
                  history, views, audits, flags)


@dataclass(frozen=True)
class Audit:
    """One audit as the app writes it: the pair, what the auditor saw, and the verdict on it."""

    audit_id: str
    key: PairKey
    split_id: str
    kind: str
    rule: str
    user_label: str | None
    item_label: str | None
    judge_decision: str
    audit: AuditValue
    note: str | None
    auditor: str
    audited_at: datetime


def insert_audit(store: Store, audit: Audit) -> None:
    """Write one audit; writing it twice (a retry after an unclear failure) leaves one row."""
    k = audit.key
    with store.transaction() as con:
        con.execute(
            "INSERT OR IGNORE INTO audits (audit_id, split_id, candidate_set, user_idx, item_idx, kind, lm, "
            "prompt_hash, rule, user_label, item_label, judge_decision, audit, note, auditor, audited_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [audit.audit_id, audit.split_id, k.candidate_set, k.user_idx, k.item_idx, audit.kind, k.lm,
             k.prompt_hash, audit.rule, audit.user_label, audit.item_label, audit.judge_decision, audit.audit,
             audit.note, audit.auditor, audit.audited_at])


def delete_audit(store: Store, audit_id: str) -> None:
    with store.transaction() as con:
        con.execute("DELETE FROM audits WHERE audit_id = ?", [audit_id])


# The audits that count: each auditor's latest audit of a pair, unless it is "unsure".
LATEST_AUDITS_SQL = """
    SELECT * FROM audits
    QUALIFY row_number() OVER (
        PARTITION BY candidate_set, user_idx, item_idx, lm, prompt_hash, auditor ORDER BY audited_at DESC) = 1
"""
DECIDED_SQL = f"SELECT * FROM ({LATEST_AUDITS_SQL}) WHERE audit <> 'unsure'"


@dataclass
class Agreement:
    """Judge against audit on the decided audits: accuracy and Cohen's kappa of hard/noise."""

    scope: str
    n: int
    agree: int
    kappa: float | None

    @property
    def rate(self) -> float | None:
        return self.agree / self.n if self.n else None


@dataclass
class Stats:
    audited: int
    unsure: int
    auditors: list[tuple[str, int]]
    agreement: list[Agreement]
    by_kind: list[tuple[str, int, int]]  # kind, decided audits, hallucinated
    by_action: list[tuple[str, int, int]]  # graph action, decided audits, hallucinated


def _kappa(pairs: list[tuple[str, str, int]]) -> tuple[int, int, float | None]:
    """n, agreements and Cohen's kappa from (judge, truth, count) cells of a 2x2 table."""
    n = sum(c for _, _, c in pairs)
    if not n:
        return 0, 0, None
    agree = sum(c for j, t, c in pairs if j == t)
    p_o = agree / n
    p_e = sum((sum(c for j, _, c in pairs if j == label) / n) * (sum(c for _, t, c in pairs if t == label) / n)
              for label in ("hard", "noise"))
    kappa = None if p_e == 1 else (p_o - p_e) / (1 - p_e)
    return n, agree, kappa


def fetch_stats(store: Store) -> Stats:
    """Judge-vs-audit agreement (overall and per view) and hallucination rates, from the stored audits.

    The audited truth is the judge's decision where the auditor said correct, and the other one where
    the auditor said hallucinated. A view on its own votes hard exactly when it says High.
    """
    truth = "CASE WHEN audit = 'correct' THEN judge_decision WHEN judge_decision = 'hard' THEN 'noise' ELSE 'hard' END"
    with store.connect() as con:
        audited, unsure = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE audit = 'unsure') FROM ({LATEST_AUDITS_SQL})").fetchone()
        auditors = con.execute(
            f"SELECT auditor, count(*) FROM ({LATEST_AUDITS_SQL}) GROUP BY auditor ORDER BY 2 DESC, 1").fetchall()
        cells = {}
        for scope, judged in (("decision", "judge_decision"),
                              ("user view", "CASE WHEN user_label = 'High' THEN 'hard' ELSE 'noise' END"),
                              ("item view", "CASE WHEN item_label = 'High' THEN 'hard' ELSE 'noise' END")):
            cells[scope] = con.execute(
                f"SELECT {judged}, {truth}, count(*) FROM ({DECIDED_SQL}) GROUP BY ALL").fetchall()
        by_kind = con.execute(
            f"SELECT kind, count(*), count(*) FILTER (WHERE audit = 'hallucinated') FROM ({DECIDED_SQL}) "
            "GROUP BY kind").fetchall()
        by_action = con.execute(
            "SELECT CASE WHEN kind = 'low_score_positive' AND judge_decision = 'noise' THEN 'removed' "
            " WHEN kind = 'high_score_negative' AND judge_decision = 'hard' THEN 'added' ELSE 'kept' END AS action, "
            f"count(*), count(*) FILTER (WHERE audit = 'hallucinated') FROM ({DECIDED_SQL}) "
            "GROUP BY action").fetchall()
    agreement = [Agreement(scope, *_kappa(c)) for scope, c in cells.items()]

    def every(rows: list[tuple[str, int, int]], names: tuple[str, ...]) -> list[tuple[str, int, int]]:
        counts = {name: (n, bad) for name, n, bad in rows}  # a row per kind or action, audited or not
        return [(name, *counts.get(name, (0, 0))) for name in names]

    return Stats(audited, unsure, auditors, agreement, every(by_kind, ("low_score_positive", "high_score_negative")),
                 every(by_action, ("removed", "added", "kept")))


def fetch_export(store: Store, auditor: str | None = None) -> list[dict]:
    """Each auditor's latest decided audit of each pair, as labeled-set rows (see tui/README.md)."""
    where, params = ("WHERE auditor = ?", [auditor]) if auditor else ("", [])
    with store.connect() as con:
        cursor = con.execute(
            "SELECT split_id, candidate_set, user_idx, item_idx, kind, "
            " CASE WHEN audit = 'correct' THEN judge_decision WHEN judge_decision = 'hard' THEN 'noise' "
            "  ELSE 'hard' END AS label, "
            " 'audit' AS source, auditor AS labeler, audited_at AS labeled_at, note, judge_decision, audit "
            f"FROM ({DECIDED_SQL}) {where} ORDER BY candidate_set, user_idx, item_idx, lm, prompt_hash, auditor",
            params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


# ---- the benchmark's synthetic store (tui.synthetic, tui.bench) ------------------------------------


def count_pairs_and_verdicts(store: Store) -> tuple[int, int]:
    """Judged pairs (distinct candidate set, user and item) and verdict rows in the store."""
    with store.connect() as con:
        pairs, verdicts = con.execute("SELECT count(DISTINCT (candidate_set, user_idx, item_idx)), count(*) "
                                      "FROM verdicts").fetchone()
    return pairs, verdicts


@dataclass
class SyntheticFrames:
    """The rows of a synthetic store, one frame per table (columns as :func:`insert_synthetic` reads them)."""

    candidates: pd.DataFrame
    verdicts: pd.DataFrame
    items: pd.DataFrame
    train: pd.DataFrame
    ratings: pd.DataFrame
    user_profiles: pd.DataFrame
    item_profiles: pd.DataFrame


def insert_synthetic(store: Store, frames: SyntheticFrames, split_id: str, candidate_set: str, lm: str,
                     profile_hash: str, n_users: int, n_items: int, n_clean: int, n_injected: int) -> None:
    """Write a synthetic dataset ``demo`` with its split, judged candidate set and profiles, in one transaction."""
    with store.transaction() as con:
        for name, frame in (("candidates_df", frames.candidates), ("verdicts_df", frames.verdicts),
                            ("items_df", frames.items), ("train_df", frames.train), ("ratings_df", frames.ratings),
                            ("user_profiles_df", frames.user_profiles), ("item_profiles_df", frames.item_profiles)):
            con.register(name, frame)
        con.execute("INSERT INTO datasets (dataset_id, source, content_hash, n_users, n_items, n_ratings, created_at) "
                    "VALUES ('demo', 'synthetic', 'demo', ?, ?, ?, current_timestamp)",
                    [n_users, n_items, len(frames.ratings)])
        con.execute("INSERT INTO items SELECT 'demo', item_idx, CAST(item_idx AS VARCHAR), title, year, genres, text "
                    "FROM items_df")
        con.execute("INSERT INTO ratings (dataset_id, user_idx, item_idx, rating, ts) "
                    "SELECT 'demo', user_idx, item_idx, rating, NULL FROM ratings_df")
        con.execute("INSERT INTO splits VALUES (?, 'demo', 7, 'realistic', 0.1, '{}', ?, 0, ?, ?, 0, 0, "
                    "current_timestamp)", [split_id, n_users, n_clean, n_injected])
        con.execute("INSERT INTO interactions SELECT ?, user_idx, item_idx, rating, 'train', is_injected_noise "
                    "FROM train_df", [split_id])
        con.execute("INSERT INTO candidate_sets VALUES (?, ?, 'demo-backbone', '{}', current_timestamp)",
                    [candidate_set, split_id])
        con.execute("INSERT INTO candidates SELECT * FROM candidates_df")
        con.execute("INSERT INTO verdicts (candidate_set, user_idx, item_idx, view, lm, prompt_hash, status, label, "
                    "rationale, error, attempts, judge_run_id) SELECT * FROM verdicts_df")
        for kind, frame in (("user", "user_profiles_df"), ("item", "item_profiles_df")):
            con.execute(f"INSERT INTO profiles (split_id, kind, entity_idx, lm, prompt_hash, status, text, attempts, "
                        f"judge_run_id) SELECT ?, ?, entity_idx, ?, ?, 'ok', text, 1, 'demo-run' FROM {frame}",
                        [split_id, kind, lm, profile_hash])
