"""MovieLens 100k and 1M ratings, with an offline default for 100k.

Where the ratings come from, in order:

1. ``root=`` if given: a directory holding the version's official files
   (``u.data``, ``u.item`` for ml-100k; ``ratings.dat``, ``movies.dat`` for
   ml-1m) or its ``ml-100k`` / ``ml-1m`` subfolder.
2. The data root (``$COMPANION_DATA``): ``<root>/movielens/ml-100k`` or
   ``<root>/ml-100k`` (likewise ``ml-1m``).
3. A GroupLens download into ``<data root>/movielens/`` when ``download=True``
   or the full profile asks for it (the zip verified by MD5, extracted through
   a temporary folder; :mod:`companion.data._fetch`).
4. For ml-100k only: the complete ratings that the recbole 1.2.1 wheel ships
   (100,000 rows in ``u.data``'s order), read with :mod:`zipfile`, recbole never
   imported; the wheel is cached in ``<data root>/pip``, verified by SHA-256.

Every loader prints one line naming the source it used (``verbose=False`` silences it).
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import data_root
from ._fetch import DataNotFoundError, Source, cached_wheel, download_verified, make_dir, wants_download
from .movielens_parse import (  # noqa: F401  (COLUMNS, GENRES and the error are re-exported)
    _INTER_HEADER,
    COLUMNS,
    GENRES,
    MovieLensFormatError,
    _decode,
    _parse_items,
    _parse_ratings,
)

if TYPE_CHECKING:  # pandas is imported on first parse: `import companion` stays as fast as before
    import pandas as pd

VERSIONS = ("100k", "1m")
# per version: (ratings file, items file, field separator, the ratings layout in words)
_FILES = {
    "100k": ("u.data", "u.item", "\t", "user item rating timestamp"),
    "1m": ("ratings.dat", "movies.dat", "::", "UserID::MovieID::Rating::Timestamp"),
}
_OFFICIAL_FOLDS = 5
OFFICIAL_FOLD_FILES = tuple(f"u{i}.{part}" for i in range(1, _OFFICIAL_FOLDS + 1) for part in ("base", "test"))
_URL = "https://files.grouplens.org/datasets/movielens/ml-{}.zip"
_ZIP_MD5 = {"100k": "0e33842e24a9c977be4e0107933c0723", "1m": "c4d9eecfca2ab87c1945afe126590906"}

RECBOLE_WHEEL = "recbole-1.2.1-py3-none-any.whl"
_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
_WHEEL_RATINGS = "recbole/dataset_example/ml-100k/ml-100k.inter"
_WHEEL_ITEMS = "recbole/dataset_example/ml-100k/ml-100k.item"
FOLD_SEED = 0


@dataclass(frozen=True)
class _MovieLensSource(Source):
    """A :class:`Source` whose kind is 'files', 'download' or 'recbole-wheel'."""

    version: str = "100k"

    def describe(self, name: str | None = None, what: str = "ratings") -> str:
        name = name or f"MovieLens {self.version}"
        if self.kind == "recbole-wheel":
            return f"{name}: {what} from the recbole 1.2.1 wheel ({self.shown_location}){self.detail}"
        if self.kind == "download":
            url = _URL.format(self.version)
            return f"{name}: a GroupLens download of {url} into {self.shown_location}{self.detail}"
        return f"{name}: {what} from {self.shown_location}{self.detail}"


def _check_version(version) -> None:
    if version not in VERSIONS:
        raise ValueError(f"version={version!r} is not a MovieLens version; use one of {str(VERSIONS)[1:-1]}.")


def _find_dir(candidates, version: str) -> Path | None:
    for candidate in candidates:
        if (candidate / _FILES[version][0]).is_file():
            return candidate
    return None


def _data_root_candidates(version: str) -> tuple[Path, Path]:
    return Path(data_root()) / "movielens" / f"ml-{version}", Path(data_root()) / f"ml-{version}"


def _local_dir(version: str, root) -> Path | None:
    """Steps 1 and 2: the folder ``root=`` names, else one in the data root."""
    if root is not None:
        base = Path(root).expanduser()
        found = _find_dir((base, base / f"ml-{version}"), version)
        if found is None:
            ratings, items = _FILES[version][:2]
            folds = " (and optionally u1.base, u1.test ... u5.test)" if version == "100k" else ""
            raise DataNotFoundError(
                f"root={str(root)!r} holds no MovieLens {version} ratings: expected {ratings} and "
                f"{items}{folds} in it or in its ml-{version} subfolder."
            )
        return found
    return _find_dir(_data_root_candidates(version), version)


def movielens_source(version: str = "100k", root: str | os.PathLike | None = None) -> Source:
    """Where :func:`movielens` would read from, without reading or downloading.

    Parameters
    ----------
    version : {"100k", "1m"}
    root : path, optional
        As in :func:`movielens`.

    Returns
    -------
    Source
        ``kind`` is 'files' (a folder of official files), 'download' (the full
        profile would fetch the GroupLens zip) or 'recbole-wheel' (the offline
        default for ml-100k; ``detail`` says when the wheel still has to be
        fetched with pip).

    Raises
    ------
    DataNotFoundError
        If ``root`` holds no ratings, or for ml-1m when nothing is on disk and
        the quick profile forbids the download.
    """
    _check_version(version)
    found = _local_dir(version, root)
    if found is not None:
        return _MovieLensSource("files", str(found), version=version)
    if wants_download(None):
        target = _data_root_candidates(version)[0]
        fallback = "; if that fails, the recbole 1.2.1 wheel" if version == "100k" else ""
        return _MovieLensSource("download", str(target), f" (not yet fetched{fallback})", version)
    if version != "100k":
        raise DataNotFoundError(_no_offline_default(version, "not attempted (quick profile)"))
    wheel = _wheel_path()
    detail = "" if wheel.is_file() else " (not yet fetched: pip will download it from PyPI on first use)"
    return _MovieLensSource("recbole-wheel", str(wheel), detail, version)


def _no_offline_default(version: str, download_note: str) -> str:
    first, second = _data_root_candidates(version)
    return (
        f"MovieLens {version} was not found and has no offline default. Tried: {first} and {second} "
        f"(no {_FILES[version][0]}); the GroupLens download: {download_note}. Put the ml-{version} "
        f"files in {first}, pass root= a folder holding them, or pass download=True "
        "(or COMPANION_PROFILE=full) on a machine that can reach files.grouplens.org."
    )


# --- fetching: the GroupLens zip and the recbole wheel ---------------------------------------


def _download_grouplens(version: str, timeout: float = 60.0) -> Path:
    """Fetch and extract ``ml-<version>.zip`` into ``<data root>/movielens``.

    The zip is kept only once its MD5 matched; the extraction goes to a
    temporary folder renamed into place, so a failure leaves no half folder.
    """
    base = Path(data_root()) / "movielens"
    make_dir(base, "the download")
    target = base / f"ml-{version}"
    if target.exists():
        # a folder without the ratings file (else step 2 had found it): never overwrite it
        raise DataNotFoundError(f"{target} exists but holds no {_FILES[version][0]}; remove it and try again")
    archive = download_verified([_URL.format(version)], _ZIP_MD5[version], base / f"ml-{version}.zip", timeout)
    try:
        staging = Path(tempfile.mkdtemp(dir=base, prefix=f".ml-{version}-"))
    except OSError as exc:
        raise DataNotFoundError(f"cannot write in {base} ({exc.strerror or exc})") from None
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DataNotFoundError(f"{archive} could not be extracted: {exc}") from exc
        found = _find_dir((staging, staging / f"ml-{version}"), version)
        if found is None:
            raise DataNotFoundError(f"{archive} holds no {_FILES[version][0]}")
        try:
            os.replace(found, target)
        except OSError as exc:  # another process created the folder meanwhile
            raise DataNotFoundError(f"could not move the extracted files to {target}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _wheel_path() -> Path:
    return Path(data_root()) / "pip" / RECBOLE_WHEEL


def _wheel_failed(wheel: Path, tried: list[str], why: str) -> str:
    first = _data_root_candidates("100k")[0]
    return (
        "MovieLens 100k was not found. Tried: " + "; ".join(tried + [f"the recbole 1.2.1 wheel at {wheel}: {why}"])
        + f". To fix: put the ml-100k files (u.data, u.item, ...) in {first}, pass root= a folder "
        "holding them, or let pip reach PyPI once (the wheel is cached for later, offline runs)."
    )


def _obtain(version: str, root, download: bool | None) -> _MovieLensSource:
    """Resolve the source as :func:`movielens_source` does, fetching what is needed."""
    found = _local_dir(version, root)
    if found is not None:
        return _MovieLensSource("files", str(found), version=version)
    wants = wants_download(download)
    reason, download_note = "", "not attempted (quick profile or download=False)"
    if wants:
        try:
            target = _download_grouplens(version)
            return _MovieLensSource("files", str(target), " (downloaded from GroupLens)", version)
        except DataNotFoundError as exc:
            if download:
                raise DataNotFoundError(
                    f"MovieLens {version}: the GroupLens download failed and download=True was asked for: "
                    f"{exc}. Put the ml-{version} files in {_data_root_candidates(version)[0]} or pass root=."
                ) from exc
            reason, download_note = f"; the GroupLens download failed ({exc})", f"failed ({exc})"
    if version != "100k":
        raise DataNotFoundError(_no_offline_default(version, download_note))
    first, second = _data_root_candidates(version)
    tried = [f"{first} and {second}: no u.data", f"the GroupLens download: {download_note}"]
    wheel, note = cached_wheel("recbole==1.2.1", _wheel_path(), _WHEEL_SHA256, download is not False,
                               lambda why: _wheel_failed(_wheel_path(), tried, why))
    return _MovieLensSource("recbole-wheel", str(wheel), note + reason, version)


@functools.lru_cache(maxsize=16)  # u.data, u.item and the ten official fold files
def _parse_cached(kind: str, path: str, version: str, what: str, mtime_ns: int, size: int) -> pd.DataFrame:
    """Parse one file (or wheel member); the file's stamp in the key retires entries of changed files."""
    if kind == "recbole-wheel":
        member = _WHEEL_RATINGS if what == "ratings" else _WHEEL_ITEMS
        name = f"{path}!{member}"
        try:
            with zipfile.ZipFile(path) as zf:
                text = _decode(zf.read(member), "utf-8")
        except (KeyError, zipfile.BadZipFile) as exc:
            raise MovieLensFormatError(
                f"{path} is not the recbole 1.2.1 wheel ({exc}); delete it to fetch it again."
            ) from exc
        if what == "ratings":
            return _parse_ratings(text, name, "\t", "user_id item_id rating timestamp", header=_INTER_HEADER)
        return _parse_items(text, name, "recbole")
    text = _decode(Path(path).read_bytes(), "latin-1")
    if what == "items":
        return _parse_items(text, path, _FILES[version][1])
    _, _, sep, layout = _FILES[version]
    return _parse_ratings(text, path, sep, layout)


def _read(source: _MovieLensSource, what: str) -> pd.DataFrame:
    """The cached frame for 'ratings', 'items' or a fold file name such as 'u1.base'; do not mutate it."""
    path = Path(source.location)
    if source.kind != "recbole-wheel":
        filename = {"ratings": _FILES[source.version][0], "items": _FILES[source.version][1]}.get(what, what)
        path = path / filename
        if not path.is_file():
            raise DataNotFoundError(f"{path} is missing; the ml-{source.version} folder {source.location} needs it.")
    stat = path.stat()
    return _parse_cached(source.kind, str(path), source.version, what, stat.st_mtime_ns, stat.st_size)


# --- public loaders --------------------------------------------------------------------------


def movielens(
    version: str = "100k",
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    verbose: bool = True,
) -> pd.DataFrame:
    """Load the MovieLens ratings, one row per rating, in the file's order.

    Parameters
    ----------
    version : {"100k", "1m"}
    root : path, optional
        Folder with the official files (``u.data`` ... or ``ratings.dat`` ...)
        or with an ``ml-100k`` / ``ml-1m`` subfolder holding them.
    download : bool, optional
        None downloads from GroupLens only under the full profile; True
        insists (an error if it fails); False never touches the network, not
        even to fetch the recbole wheel that the ml-100k default reads.
    verbose : bool
        Print one line naming the source.

    Returns
    -------
    pandas.DataFrame
        Columns ``user_id``, ``item_id``, ``rating`` (1 to 5) and
        ``timestamp`` (seconds since 1970), all int64; a fresh copy.

    Raises
    ------
    DataNotFoundError
        If the ratings are nowhere to be had; the message says what was tried.
    MovieLensFormatError
        If a file is malformed; the message names the file and the line.
    """
    _check_version(version)
    source = _obtain(version, root, download)
    ratings = _read(source, "ratings")
    if verbose:
        print(
            f"{source.describe()} -> {len(ratings):,} ratings, {ratings['user_id'].nunique():,} users, "
            f"{ratings['item_id'].nunique():,} items"
        )
    return ratings.copy()


def movielens_items(
    version: str = "100k",
    root: str | os.PathLike | None = None,
    download: bool | None = None,
    verbose: bool = False,
) -> pd.DataFrame:
    """Load the movies: id, title, year and one 0/1 column per genre.

    Parameters
    ----------
    version, root, download
        As in :func:`movielens`.
    verbose : bool
        Print one line naming the source (off by default: the items usually
        come with the ratings, whose loader already said where from).

    Returns
    -------
    pandas.DataFrame
        ``item_id`` (int64), ``title`` (str, without its trailing
        ``" (YYYY)"``), ``year`` (``Int64``, ``<NA>`` when unknown; from the
        title, else from u.item's release date), then one uint8 column per
        genre in ``GENRES[version]`` order; a fresh copy.
    """
    _check_version(version)
    source = _obtain(version, root, download)
    items = _read(source, "items")
    if verbose:
        print(f"{source.describe(what='items')} -> {len(items):,} items")
    return items.copy()


def has_official_folds(source: _MovieLensSource) -> bool:
    """Whether ``source`` is a folder holding all ten official ml-100k fold files (u1.base ... u5.test)."""
    return source.kind == "files" and all((Path(source.location) / f).is_file() for f in OFFICIAL_FOLD_FILES)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    # mku.sh sorts every fold file by user, then item; mergesort keeps ties in file order
    return frame.sort_values(["user_id", "item_id"], kind="mergesort").reset_index(drop=True)


def _official_folds(source: _MovieLensSource, n_ratings: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    folds = []
    for i in range(1, _OFFICIAL_FOLDS + 1):
        train, test = _read(source, f"u{i}.base"), _read(source, f"u{i}.test")
        if len(train) + len(test) != n_ratings:
            raise MovieLensFormatError(
                f"{source.location}: u{i}.base and u{i}.test hold {len(train):,} + {len(test):,} ratings but "
                f"u.data holds {n_ratings:,}; the fold files do not belong to this u.data. Remove them "
                "to derive the folds from u.data."
            )
        folds.append((train.copy(), test.copy()))  # copies: the parsed frames stay in the cache
    return folds


def _block_folds(ratings: pd.DataFrame, order: np.ndarray, n_folds: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Cut ``order`` (row positions) into ``n_folds`` contiguous, nearly equal test blocks."""
    n = len(order)
    bounds = [i * n // n_folds for i in range(n_folds + 1)]
    folds = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        test_rows = order[start:stop]
        train_rows = np.concatenate([order[:start], order[stop:]])
        folds.append((_sorted(ratings.iloc[train_rows]), _sorted(ratings.iloc[test_rows])))
    return folds


def movielens_folds(
    version: str = "100k",
    root: str | os.PathLike | None = None,
    n_folds: int = 5,
    download: bool | None = None,
    verbose: bool = True,
) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Cross-validation folds: ``n_folds`` (train, test) pairs of rating frames.

    The test sets are disjoint and together hold every rating once; each
    train set is all the other ratings. For ml-100k the official
    ``u1.base/u1.test`` ... ``u5.base/u5.test`` files are read when present
    (and ``n_folds == 5``); otherwise the folds follow GroupLens' ``mku.sh``:
    fold i tests rows ``[(i-1) n/k, i n/k)`` of ``u.data``'s order, which
    reproduces the official folds. ml-1m has no official folds: a permutation
    with ``numpy.random.default_rng(0)`` is cut into ``n_folds`` blocks.
    Derived frames are sorted by (user_id, item_id), as mku.sh sorts its
    files; every frame has a fresh 0..n-1 index.

    Parameters
    ----------
    version, root, download, verbose
        As in :func:`movielens`.
    n_folds : int
        At least 2.
    """
    _check_version(version)
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValueError(f"n_folds={n_folds!r}: use an integer >= 2 (5 gives the official ml-100k folds).")
    n_folds = int(n_folds)
    source = _obtain(version, root, download)
    ratings = _read(source, "ratings")
    n = len(ratings)
    if n_folds > n:
        raise ValueError(f"n_folds={n_folds} exceeds the {n:,} ratings; every test fold needs one.")
    has_official = has_official_folds(source)
    if version == "100k" and has_official and n_folds == _OFFICIAL_FOLDS:
        folds = _official_folds(source, n)
        how = f"the official u1.base/u1.test ... u5.base/u5.test in {source.location}"
    elif version == "100k":
        folds = _block_folds(ratings, np.arange(n), n_folds)
        if n % n_folds == 0:
            rows = f"[(i-1)*{n // n_folds:,}, i*{n // n_folds:,})"
        else:
            rows = f"[floor((i-1)*{n:,}/{n_folds}), floor(i*{n:,}/{n_folds}))"
        how = (
            f"derived by the rule of GroupLens' mku.sh: fold i tests rows {rows} of the ratings in "
            "u.data's order and trains on the rest; sorted by (user_id, item_id)"
        )
    else:
        order = np.random.default_rng(FOLD_SEED).permutation(n)
        folds = _block_folds(ratings, order, n_folds)
        how = (
            f"ml-1m has no official folds: a permutation (numpy default_rng({FOLD_SEED})) of the {n:,} ratings "
            f"cut into {n_folds} nearly equal test blocks; sorted by (user_id, item_id)"
        )
    if verbose:
        print(f"{source.describe()} -> {n:,} ratings")
        print(f"MovieLens {version} folds: {n_folds}, {how}")
    return folds
