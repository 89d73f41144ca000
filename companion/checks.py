"""One conversion for the data users actually pass: numpy arrays of any real dtype, tensors, lists of
lists and pandas DataFrames become a tensor of the model's floating dtype, once, at the public entry.

What a model then checks (shape, finite values, the [0, 1] range of Bernoulli units) stays with the
model; this module only turns an input into a tensor it can check, or says why it cannot.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import torch
from torch import nn


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of ``model``'s first floating parameter or buffer (float32 when it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def as_data(X: Any, dtype: torch.dtype = torch.float32, name: str = "X") -> torch.Tensor:
    """``X`` as a tensor of floating ``dtype``, on the device it was on.

    Accepts tensors and numpy arrays of any real dtype (bool, integers, float16 to float64), lists of
    lists and pandas DataFrames (their values). Refuses, with what to do instead: complex numbers,
    strings and other objects, ragged lists.
    """
    if isinstance(X, torch.Tensor):
        if X.dtype == dtype:
            return X
        if X.is_complex():
            raise TypeError(f"{name} holds complex numbers ({X.dtype}); pass real values (e.g. X.real or X.abs()).")
        return X.to(dtype).contiguous()
    if hasattr(X, "to_numpy") and hasattr(X, "columns"):  # a pandas DataFrame
        X = X.to_numpy()
    try:
        array = np.asarray(X)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name} could not be read as an array ({exc}); every row must have the same length.") from None
    if array.dtype == object or array.dtype.kind in "USV":
        raise TypeError(f"{name} holds {array.dtype} values (e.g. strings or mixed objects), not numbers; convert the "
                        "columns to numbers first, e.g. df.astype(float).")
    if array.dtype.kind == "c":
        raise TypeError(f"{name} holds complex numbers ({array.dtype}); pass real values.")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {array.dtype}, which is not a number type; convert it to float.")
    # row-major and writable: a DataFrame's values are column-major (another BLAS path, other
    # rounding) and often read-only
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:
        array = array.copy()
    return torch.as_tensor(array).to(dtype)


def _integer(X) -> bool:
    dtype = getattr(X, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool
    return isinstance(dtype, np.dtype) and dtype.kind in "iu"


def converts_input(method: Callable) -> Callable:
    """Decorate a model method whose first argument is data: it reaches the method as a tensor of the model's dtype.

    A tuple or list batch ``(X, y, ...)`` (what :func:`companion.fit` passes) has only its first
    element converted; labels stay integers.
    """

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        name = f"{type(self).__name__}.{method.__name__}"
        dtype = model_dtype(self)
        batch = isinstance(X, tuple) or (isinstance(X, list) and X and getattr(X[0], "ndim", 0) >= 2)
        raw = X[0] if batch else X
        data = as_data(raw, dtype, name)
        if _integer(raw) and hasattr(self, "check_data"):
            # integer input (e.g. uint8 pixels 0..255) is rare: check its values now, since the per-batch
            # checks inside training skip them
            self.check_data(data)
        return method(self, (data, *X[1:]) if batch else data, *args, **kwargs)

    return wrapper


def positive_int(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int when it is an integer >= ``minimum`` (numpy integers too); bools and floats refused.

    ``dims=2.7`` would otherwise be truncated to 2 and ``epochs=True`` read as 1.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__}).")
    return int(value)


def widths(dims, need: str) -> list[int]:
    """``dims`` as a list of at least two positive ints (layer widths), or a ValueError saying ``need``."""
    if isinstance(dims, (str, bytes)) or not hasattr(dims, "__iter__") or len(list(dims)) < 2:
        raise ValueError(f"dims={dims!r}: need {need}.")
    return [positive_int(d, f"every width in dims={list(dims)} (all positive integers)") for d in dims]


def number(value, name: str, low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> float:
    """``value`` as a finite float within [low, high] (open ends where asked); bools refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not np.isfinite(value) or too_low or too_high:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        span = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must be a finite number in {span}, got {value!r}.")
    return value
