"""Pre-split datasets, used as given: the RLMRec/SSLRec pickles, or train/valid/test rating files.

Two folder layouts:

* ``trn_mat.pkl``, ``val_mat.pkl``, ``tst_mat.pkl``: scipy sparse user x item matrices (any sparse
  format, binary or weighted; a nonzero entry is an interaction, its value the rating), as shipped
  by RLMRec, SSLRec and IRLLRec for Amazon-book, Yelp and Steam. Optional ``usr_prf.pkl`` /
  ``itm_prf.pkl`` (LLM profiles: {index: text or {"profile": text, ...}}) and ``usr_emb_np.pkl`` /
  ``itm_emb_np.pkl`` (one row of text embedding per user / item) are imported as given, and an
  optional ``items.*`` file (item_id = column index, plus title, year, genres, text) gives item text.
* ``train.*``, ``valid.*`` (or ``val.*``), ``test.*``: rating files in any format the loader reads
  (the rating column may be left out for implicit data).

Every interaction keeps the split it came in (``given_split``). Pickles can run code when loaded, so
only sparse matrices, arrays and plain containers are unpickled; anything else is refused.
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recsys.data.datasets import (
    LOADER_BY_SUFFIX,
    DataValidationError,
    RawDataset,
    ReadOptions,
    _listed,
    _load_table,
    bare_items,
    finish_user_dataset,
    validate_items,
    validate_ratings,
)
from recsys.store.datasets import dataset_size, items_frame
from recsys.store.splits import interactions_frame, split_dataset_id

MATRIX_FILES = {"train": "trn_mat.pkl", "valid": "val_mat.pkl", "test": "tst_mat.pkl"}
PROFILE_FILES = {"user": "usr_prf.pkl", "item": "itm_prf.pkl"}
EMBEDDING_FILES = {"user": "usr_emb_np.pkl", "item": "itm_emb_np.pkl"}
SPLIT_FILE_STEMS = {"train": ("train", "trn"), "valid": ("valid", "val", "validation"), "test": ("test", "tst")}

# What a data pickle may contain: sparse matrices, arrays, plain containers. Nothing that runs code: numpy
# and scipy hold functions that do (numpy.testing's runstring execs its argument), so only the few globals
# that arrays and sparse matrices pickle to are allowed, plus numpy scalar/dtype types and sparse classes.
_NUMPY_GLOBALS = {(module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
                  for name in ("_reconstruct", "scalar")}
_NUMPY_GLOBALS |= {(module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")}
_NUMPY_GLOBALS |= {("numpy", "ndarray"), ("numpy", "dtype")}
_SAFE_GLOBALS = {("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "str", "bytes",
                                                  "bytearray", "int", "float", "complex", "bool", "slice", "range")}
_SAFE_GLOBALS |= {("collections", "OrderedDict"), ("collections", "defaultdict"), ("copyreg", "_reconstructor"),
                  ("_codecs", "encode"), ("builtins", "object")}


class _DataUnpickler(pickle.Unpickler):
    def __init__(self, file, name: str):
        super().__init__(file)
        self.name = name

    def find_class(self, module: str, name: str):
        if "." not in name:  # a dotted name reaches any attribute of the module (protocol 4)
            if (module, name) in _SAFE_GLOBALS or (module, name) in _NUMPY_GLOBALS:
                return super().find_class(module, name)
            if module == "numpy" or module == "scipy.sparse" or module.startswith("scipy.sparse."):
                value = super().find_class(module, name)
                if isinstance(value, type) and (issubclass(value, (np.generic, np.dtype))
                                                or issubclass(value, (sp.spmatrix, sp.sparray))):
                    return value
        raise DataValidationError(
            f"{self.name} holds a {module}.{name} object; only scipy sparse matrices, numpy arrays and plain "
            "dicts/lists of text are read (a pickle can run code, so anything else is refused).")


def read_pickle(path: Path):
    """Unpickle a data file, refusing any class that is not data."""
    try:
        with open(path, "rb") as handle:
            return _DataUnpickler(io.BufferedReader(handle), path.name).load()
    except DataValidationError:
        raise
    except ModuleNotFoundError as error:
        raise DataValidationError(f"{path.name} needs module {error.name!r} to load; save it with scipy/numpy "
                                  "objects only.") from error
    except Exception as error:  # truncated or foreign files raise many types
        raise DataValidationError(f"{path.name} is not a readable pickle ({type(error).__name__}: "
                                  f"{str(error)[:120]}); copy or write it again (pickle.dump).") from error


def _as_coo(value, path: Path):
    if sp.issparse(value) or (isinstance(value, np.ndarray) and value.ndim == 2):
        matrix = value
    else:
        raise DataValidationError(f"{path.name} holds a {type(value).__name__}, not a user x item sparse matrix; "
                                  "pickle a scipy.sparse matrix (e.g. coo_matrix) there.")
    if matrix.dtype == bool:  # e.g. saved as (mat != 0)
        matrix = matrix.astype(np.float32)
    if not (np.issubdtype(matrix.dtype, np.integer) or np.issubdtype(matrix.dtype, np.floating)):
        raise DataValidationError(f"{path.name} has {matrix.dtype} entries; interactions must be real numbers: save "
                                  "the matrix with an int or float dtype.")
    matrix = sp.coo_matrix(sp.csr_matrix(matrix))  # sums duplicate entries
    matrix.eliminate_zeros()
    if matrix.nnz == 0:
        raise DataValidationError(f"{path.name} has no interactions (every entry is zero); a given split needs "
                                  "edges in train, valid and test: check that the right matrix was saved.")
    values = matrix.data.astype(float)
    if not np.isfinite(values).all():
        raise DataValidationError(f"{path.name} has infinite or NaN entries; interactions must be finite numbers.")
    return matrix


def has_matrix_layout(folder: Path) -> bool:
    return any((folder / name).is_file() for name in MATRIX_FILES.values())


def load_matrix_layout(folder: Path, items_file: Path | None, options: ReadOptions) -> RawDataset:
    missing = [name for name in MATRIX_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise DataValidationError(f"{folder} lacks {', '.join(missing)}: the pickle layout needs trn_mat.pkl, "
                                  "val_mat.pkl and tst_mat.pkl.")
    matrices = {split: _as_coo(read_pickle(folder / name), folder / name) for split, name in MATRIX_FILES.items()}
    shapes = {matrix.shape for matrix in matrices.values()}
    n_users = max(shape[0] for shape in shapes)
    n_items = max(shape[1] for shape in shapes)
    warnings = []
    if len(shapes) > 1:
        warnings.append(f"the split matrices have different shapes ({', '.join(f'{a}x{b}' for a, b in sorted(shapes))});"
                        f" read as {n_users} users x {n_items} items.")
    frames = [pd.DataFrame({"user": m.row.astype(np.int64), "item": m.col.astype(np.int64),
                            "rating": m.data.astype(float), "given_split": split}) for split, m in matrices.items()]
    edges = pd.concat(frames, ignore_index=True)
    ratings = pd.DataFrame({"user_id": edges.user.astype(str), "item_id": edges.item.astype(str),
                            "rating": edges.rating, "given_split": edges.given_split})
    _reject_overlap(ratings, MATRIX_FILES)
    negative = ratings.rating < 0
    if negative.any():
        warnings.append(f"{int(negative.sum())} negative matrix entries (e.g. user "
                        f"{ratings.user_id[negative].iloc[0]}, "
                        f"item {ratings.item_id[negative].iloc[0]}); accepted as the low end of the scale — check "
                        "that this is what they mean.")
    all_items = pd.DataFrame({"item_id": [str(i) for i in range(n_items)]})
    items_path = items_file or _find_stem(folder, ("items",))
    if items_path is not None:
        items, item_warnings = validate_items(_load_table(items_path, "items", options, ("item_id",)), ratings,
                                              Path(items_path).name)
        warnings += item_warnings
        extra = all_items[~all_items.item_id.isin(items.item_id)]
        items = pd.concat([items, bare_items(extra)], ignore_index=True) if len(extra) else items
    else:
        items = bare_items(all_items)
    unrated = n_items - ratings.item_id.nunique()
    if unrated and items_path is None:
        warnings.append(f"{unrated} of {n_items} item columns have no interaction; they are kept as items to rank.")
    profiles = _profiles(folder, n_users, n_items)
    embeddings = _embeddings(folder, n_users, n_items)
    raw = RawDataset(name=folder.resolve().name, source=str(folder.resolve()), ratings=ratings, items=items,
                     warnings=warnings, profiles=profiles, embeddings=embeddings)
    return finish_user_dataset(raw, options, default_positive=float(ratings.rating.min()))


def _reject_overlap(ratings: pd.DataFrame, names: dict[str, str]) -> None:
    """A pair in two splits would leak evaluation labels into training."""
    repeated = ratings.duplicated(["user_id", "item_id"], keep=False)
    if repeated.any():
        first = ratings[repeated].iloc[0]
        same = repeated & (ratings.user_id == first.user_id) & (ratings.item_id == first.item_id)
        splits = sorted(set(ratings[same].given_split), key=list(names).index)
        raise DataValidationError(
            f"{int(ratings[repeated].duplicated(['user_id', 'item_id']).sum())} (user, item) pairs appear in more "
            f"than one split, e.g. user {first.user_id}, item {first.item_id} in "
            f"{' and '.join(names[s] for s in splits)}; a given split must be disjoint.")


def _profile_text(value, path: Path, key) -> tuple[str, str | None]:
    if isinstance(value, str):
        return value, None
    if isinstance(value, dict):
        text = value.get("profile") or value.get("summarization") or value.get("text")
        if isinstance(text, str):
            return text, json.dumps({k: v for k, v in value.items() if isinstance(v, (str, int, float))},
                                    ensure_ascii=False)
    raise DataValidationError(f"{path.name}: the profile of {key!r} is a {type(value).__name__}; expected text or "
                              "a dict with a 'profile' text.")


def _profiles(folder: Path, n_users: int, n_items: int) -> pd.DataFrame | None:
    rows = []
    for kind, name in PROFILE_FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        value = read_pickle(path)
        entries = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
        if entries is None:
            raise DataValidationError(f"{name} holds a {type(value).__name__}; expected a dict {{index: profile}} "
                                      "or a list of profiles.")
        limit = n_users if kind == "user" else n_items
        seen: set[int] = set()
        for key, profile in entries:
            try:
                if isinstance(key, (bool, np.bool_)) or (isinstance(key, (float, np.floating))
                                                          and not float(key).is_integer()):
                    raise TypeError(key)
                index = int(key)
            except (TypeError, ValueError) as error:
                raise DataValidationError(f"{name}: key {str(key)[:40]!r} is not a {kind} index; key the profiles "
                                          f"by the matrices' {kind} index (0..{limit - 1}).") from error
            if not 0 <= index < limit:
                raise DataValidationError(f"{name}: {kind} {index} is outside the matrices' {limit} {kind}s; key the "
                                          f"profiles by the matrices' {kind} index (0..{limit - 1}).")
            if index in seen:
                raise DataValidationError(f"{name}: {kind} {index} has two profiles (keys {key!r} and another); "
                                          "keep one per index.")
            seen.add(index)
            text, extra = _profile_text(profile, path, key)
            rows.append((kind, str(index), text, extra))
    return pd.DataFrame(rows, columns=["kind", "raw_id", "text", "profile"]) if rows else None


def _embeddings(folder: Path, n_users: int, n_items: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for kind, name in EMBEDDING_FILES.items():
        path = folder / name
        if not path.is_file():
            continue
        vectors = read_pickle(path)
        if hasattr(vectors, "toarray"):
            vectors = vectors.toarray()
        expected = n_users if kind == "user" else n_items
        if not isinstance(vectors, (np.ndarray, list, tuple)):
            raise DataValidationError(f"{name} holds a {type(vectors).__name__}; expected an array with one row per "
                                      f"{kind} ({expected} x d), e.g. a numpy array.")
        try:
            vectors = np.asarray(vectors)
        except ValueError as error:
            raise DataValidationError(f"{name} has rows of different lengths; every {kind} needs a vector of the "
                                      "same size.") from error
        if vectors.ndim != 2 or vectors.shape[0] != expected or vectors.shape[1] == 0:
            raise DataValidationError(f"{name} has shape {vectors.shape}; expected one row per {kind} "
                                      f"({expected} x d).")
        if not np.issubdtype(vectors.dtype, np.number) or not np.isfinite(vectors).all():
            raise DataValidationError(f"{name} must hold finite numbers.")
        out[kind] = (np.array([str(i) for i in range(expected)], dtype=object), vectors.astype(np.float32))
    return out


def _find_stem(folder: Path, stems: tuple[str, ...]) -> Path | None:
    found = [path for path in sorted(folder.iterdir())
             if path.is_file() and path.stem.lower() in stems and path.suffix.lower() in LOADER_BY_SUFFIX]
    if len(found) > 1:
        raise DataValidationError(f"{folder} has {len(found)} files for one part ({_listed(p.name for p in found)}); "
                                  "keep one.")
    return found[0] if found else None


def has_split_files(folder: Path) -> bool:
    return all(_find_stem(folder, stems) is not None for stems in SPLIT_FILE_STEMS.values())


def load_split_files(folder: Path, items_file: Path | None, options: ReadOptions) -> RawDataset:
    frames, warnings, with_rating = [], [], []
    for split, stems in SPLIT_FILE_STEMS.items():
        path = _find_stem(folder, stems)
        table = _load_table(path, split, options)
        with_rating.append("rating" in table.columns)
        ratings, file_warnings = validate_ratings(table, path.name, require_rating=False)
        frames.append(ratings.assign(given_split=split))
        warnings += file_warnings
    if len(set(with_rating)) > 1:
        raise DataValidationError("some split files have a rating column and some do not; give all three one, "
                                  "or none (implicit data).")
    ratings = pd.concat(frames, ignore_index=True)
    _reject_overlap(ratings, {split: f"the {split} file" for split in SPLIT_FILE_STEMS})
    items_path = items_file or _find_stem(folder, ("items",))
    if items_path is not None:
        items, item_warnings = validate_items(_load_table(items_path, "items", options, ("item_id",)), ratings,
                                              Path(items_path).name)
        warnings += item_warnings
    else:
        items = bare_items(ratings)
    raw = RawDataset(name=folder.resolve().name, source=str(folder.resolve()), ratings=ratings, items=items,
                     warnings=warnings)
    default = None if any(with_rating) else 1.0
    return finish_user_dataset(raw, options, default_positive=default)


def load_presplit_folder(folder: Path, items_file: Path | None = None, options: ReadOptions | None = None
                         ) -> RawDataset:
    """A pre-split folder in either layout."""
    options = options or ReadOptions()
    folder = Path(folder)
    if has_matrix_layout(folder):
        return load_matrix_layout(folder, items_file, options)
    if has_split_files(folder):
        return load_split_files(folder, items_file, options)
    found = {split: _find_stem(folder, stems) for split, stems in SPLIT_FILE_STEMS.items()}
    if any(found.values()):
        missing = [split for split, path in found.items() if path is None]
        examples = ", ".join(f"{stem}.csv" for split in missing for stem in SPLIT_FILE_STEMS[split][:2])
        raise DataValidationError(
            f"{folder} has {' and '.join(path.name for path in found.values() if path)} but no "
            f"{' or '.join(missing)} file ({examples} or another supported type); add it.")
    present = sorted(path.name for path in folder.iterdir())
    raise DataValidationError(
        f"{folder} is neither the pickle layout (trn_mat.pkl, val_mat.pkl, tst_mat.pkl) nor train/valid/test "
        f"rating files (train.csv, valid.csv, test.csv or other supported types); it holds: "
        f"{_listed(present) if present else 'nothing'}; add or rename the files to one of these layouts.")


def write_matrix_layout(store, split_id: str, folder: Path) -> dict[str, int]:
    """Write a stored split in the RLMRec/SSLRec layout (binary trn/val/tst_mat.pkl as coo_matrix, plus
    items.csv with the item text), so that peer trainers can run on the very same split. Rows and
    columns are the store's user and item indices. Returns the edge count per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with store.connect() as con:
        dataset_id = split_dataset_id(con, split_id)
        n_users, n_items = dataset_size(con, dataset_id)
        edges = interactions_frame(con, split_id)
        items = items_frame(con, dataset_id)
    counts = {}
    for split, name in MATRIX_FILES.items():
        part = edges[edges.split == split]
        matrix = sp.coo_matrix((np.ones(len(part), np.float32), (part.user_idx.to_numpy(), part.item_idx.to_numpy())),
                               shape=(n_users, n_items))
        with open(folder / name, "wb") as handle:
            pickle.dump(matrix, handle)
        counts[name] = len(part)
    items.to_csv(folder / "items.csv", index=False)
    return counts
