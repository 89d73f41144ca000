"""One conversion for the data users actually pass: numpy arrays of any real dtype, tensors, lists of
lists and pandas DataFrames become a tensor of the model's floating dtype, once, at the public entry.

It also holds the checks every model shares: :func:`check_batch` (a batch of examples of a given shape,
finite, optionally in [0, 1]) and :func:`require_finite`. What only one model needs (binary units, ±1
spins, rating levels) stays with that model and calls these.
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


def require_finite(x: torch.Tensor, subject: str, after: str = "") -> None:
    """Raise ``ValueError("<subject> NaN or infinite values<after>.")`` unless every element of ``x`` is finite.

    ``subject`` names what holds the values and ends with its verb, e.g. ``"RBM.loss: the batch contains"``;
    ``after`` adds where or what to do, e.g. ``"; impute or drop those rows"``. Integer and boolean tensors
    are always finite.
    """
    if (x.is_floating_point() or x.is_complex()) and not torch.isfinite(x).all():
        raise ValueError(f"{subject} NaN or infinite values{after}.")


def check_batch(x, shape, name: str, unit_interval: bool = False, values: bool | None = None) -> None:
    """Raise a clear error unless ``x`` is a finite batch of examples of ``shape``.

    ``shape`` is the per-example shape (an int for flat vectors); with
    ``unit_interval`` the values must also lie in [0, 1]. The value checks
    (finite, range) run when ``values`` is True; by default only for CPU
    tensors, because on a GPU they would force a device sync on every batch:
    :func:`companion.fit` checks the whole data set once instead (``check_data``).
    """
    if values is None:
        values = isinstance(x, torch.Tensor) and x.device.type == "cpu"
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}.")
    if tuple(x.shape[1:]) != shape or x.ndim != len(shape) + 1:
        want = "(n, " + ", ".join(map(str, shape)) + ")"
        hint = (
            "flatten images first, e.g. x.reshape(len(x), -1)"
            if len(shape) == 1
            else f"reshape flat images first, e.g. x.reshape(len(x), {', '.join(map(str, shape))})"
        )
        raise ValueError(f"{name} expects a batch of shape {want}, got {tuple(x.shape)}; {hint}.")
    if not values:
        return
    require_finite(x, f"{name}: the batch contains")
    if unit_interval and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name}: values must lie in [0, 1] for a Bernoulli (BCE) output, found "
            f"[{x.min().item():.3g}, {x.max().item():.3g}]; rescale the data (uint8 pixels: divide by 255) or use "
            "loss='mse'."
        )


def check_unit_batch(v: torch.Tensor, n: int, name: str, values: bool | None = None, hint: str = "") -> None:
    """Shape (N, n); with ``values`` (by default on the CPU only) also finite and in [0, 1].

    The value checks would force a device sync on a GPU, so callers run them
    once per data set there (``check_data``) rather than per batch.
    """
    check_batch(v, n, name, values=False)
    if not (v.device.type == "cpu" if values is None else values):
        return
    require_finite(v, f"{name}: the batch contains")
    if v.min() < 0 or v.max() > 1:
        raise ValueError(
            f"{name}: visible values must lie in [0, 1] (binary pixels or their probabilities), found "
            f"[{v.min().item():.3g}, {v.max().item():.3g}]; rescale the data (e.g. divide by 255){hint}."
        )
