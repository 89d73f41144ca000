"""Reader and writer for the idx format of LeCun's MNIST files.

The format: two zero bytes, a type code, the number of dimensions ``d``, then
``d`` big-endian int32 sizes, then the values in C order, big-endian. MNIST,
Fashion-MNIST, KMNIST and EMNIST all ship in it, so nothing here is specific
to MNIST. Files may be gzip-compressed (``.gz``).
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..utils import write_atomic

# type code -> big-endian numpy dtype
_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxFormatError(ValueError):
    """A file that is not a well-formed idx file."""


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one idx file (optionally ``.gz``) into a NumPy array.

    Returns
    -------
    numpy.ndarray
        Shape given by the file's header, native byte order.

    Raises
    ------
    IdxFormatError
        If the header is malformed or the file is truncated.
    """
    path = Path(path)
    try:
        with _open(path) as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise IdxFormatError(f"{path}: cannot read it as an idx file ({exc}).") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IdxFormatError(
            f"{path}: not an idx file (it must start with two zero bytes); "
            "is it a different format, or still compressed without a .gz suffix?"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise IdxFormatError(f"{path}: unknown idx type code 0x{code:02x}.")
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise IdxFormatError(f"{path}: header announces {ndim} dimensions but is truncated.")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(shape)) * dtype.itemsize
    body = len(raw) - 4 - 4 * ndim
    if body != expected:
        raise IdxFormatError(
            f"{path}: header says shape {shape} ({expected} bytes of data) but the file "
            f"holds {body}; the file is truncated or corrupt, download it again."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an idx file (gzip-compressed if ``path`` ends in ``.gz``).

    The write is atomic: a temporary file in the same directory is renamed
    into place, so a failure never leaves a half-written file.
    """
    path = Path(path)
    array = np.asarray(array)
    if not 1 <= array.ndim <= 255 or any(n >= 2**31 for n in array.shape):
        raise IdxFormatError(f"idx stores 1 to 255 dimensions of fewer than 2^31 entries each; got shape {array.shape}.")
    for code, dtype in _IDX_TYPES.items():
        if dtype.kind == array.dtype.kind and dtype.itemsize == array.dtype.itemsize:
            break
    else:
        raise IdxFormatError(f"idx cannot store dtype {array.dtype}.")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    if path.suffix == ".gz":
        payload = gzip.compress(payload)
    write_atomic(path, payload)
    return path
