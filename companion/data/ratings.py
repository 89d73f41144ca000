"""A user x item rating matrix, the one input every recommender of the course takes.

Ratings are positive integers (1..5 for MovieLens); **0 means "not rated"**.
The matrix is dense: ml-100k is 943 x 1,682 (6 MB as float32) and ml-1m
6,040 x 3,706 (90 MB), small enough that masked dense tensor code beats
sparse indexing on both the CPU and a GPU. The row and column order is fixed
by explicit id lists, so the training and test matrices of a fold line up
entry for entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..checks import require_finite

_COLUMNS = ("user_id", "item_id", "rating")


@dataclass
class RatingMatrix:
    """Ratings of ``n_users`` users on ``n_items`` items, 0 where unrated.

    Attributes
    ----------
    values : torch.Tensor, shape (n_users, n_items), float32
        ``values[u, i]`` is user ``user_ids[u]``'s rating of item ``item_ids[i]``, or 0.
    user_ids, item_ids : numpy.ndarray of int64
        The id of each row and each column.
    """

    values: torch.Tensor
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def mask(self) -> torch.Tensor:
        """Boolean (n_users, n_items): True where a rating exists."""
        return self.values > 0

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.values.shape)

    @property
    def n_ratings(self) -> int:
        return int(self.mask.sum())

    @property
    def density(self) -> float:
        """Fraction of the matrix that is rated."""
        return self.n_ratings / self.values.numel()

    def entries(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The rated entries as ``(rows, cols, ratings)``, each of shape (n_ratings,), row-major."""
        rows, cols = self.mask.nonzero(as_tuple=True)
        return rows, cols, self.values[rows, cols]

    def to(self, device) -> "RatingMatrix":
        return RatingMatrix(self.values.to(device), self.user_ids, self.item_ids)

    def to_frame(self):
        """The rated entries as a DataFrame with columns user_id, item_id, rating."""
        import pandas as pd

        rows, cols, ratings = (t.cpu().numpy() for t in self.entries())
        return pd.DataFrame(
            {"user_id": self.user_ids[rows], "item_id": self.item_ids[cols], "rating": ratings.astype(np.int64)}
        )

    def __repr__(self) -> str:
        n_users, n_items = self.shape
        return (
            f"RatingMatrix({n_users:,} users x {n_items:,} items, {self.n_ratings:,} ratings, "
            f"density {self.density:.2%}, device={self.values.device})"
        )


def check_aligned(a: RatingMatrix, b: RatingMatrix, what: str) -> None:
    """Raise unless two rating matrices have the same users and items in the same order."""
    if not (np.array_equal(a.user_ids, b.user_ids) and np.array_equal(a.item_ids, b.item_ids)):
        raise ValueError(
            f"{what}: the two rating matrices have different user or item ids (or orders), so their entries do "
            "not line up; build both with companion.data.fold_matrices, or pass the same users= and items=."
        )


def _ids(values, name: str) -> np.ndarray:
    ids = np.asarray(values)
    if ids.ndim != 1 or len(ids) == 0:
        raise ValueError(f"{name} must be a non-empty 1-d list of ids, got shape {ids.shape}.")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name} must be integers, got dtype {ids.dtype}.")
    if len(np.unique(ids)) != len(ids):
        raise ValueError(f"{name} contains repeated ids; each row/column needs one id.")
    return ids.astype(np.int64)


def _positions(universe: np.ndarray, ids: np.ndarray, what: str, keyword: str) -> np.ndarray:
    order = np.argsort(universe, kind="stable")
    pos = np.searchsorted(universe, ids, sorter=order)
    pos = np.clip(pos, 0, len(universe) - 1)
    found = universe[order[pos]] == ids
    if not found.all():
        missing = np.unique(ids[~found])
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        raise ValueError(
            f"{len(missing)} {what} id(s) are not among the {len(universe):,} {what}s of this matrix "
            f"(e.g. {shown}); pass {keyword}= covering every id, e.g. the ids of the whole data set."
        )
    return order[pos]


def rating_matrix(
    frame,
    users: Sequence[int] | None = None,
    items: Sequence[int] | None = None,
    *,
    device: str | torch.device | None = None,
) -> RatingMatrix:
    """Build a dense user x item :class:`RatingMatrix` from a table of ratings.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns ``user_id``, ``item_id``, ``rating`` (as from
        :func:`companion.data.movielens`); one row per rating.
    users, items : sequence of int, optional
        The ids of the rows and columns, in order. By default the sorted ids
        present in ``frame``. Pass the ids of the whole data set when building
        the training and the test matrix of a fold, so that they align.
    device : torch device, optional

    Returns
    -------
    RatingMatrix

    Raises
    ------
    ValueError
        A missing column, a rating that is not a positive finite number (0 is
        reserved for "unrated"), a user or item id outside ``users``/``items``,
        or the same (user, item) pair rated twice.
    """
    missing = [c for c in _COLUMNS if c not in getattr(frame, "columns", ())]
    if missing:
        raise ValueError(
            f"the ratings table lacks column(s) {missing}; it needs {list(_COLUMNS)} "
            "(rename yours, e.g. frame.rename(columns={'userId': 'user_id'}))."
        )
    user_col = frame["user_id"].to_numpy()
    item_col = frame["item_id"].to_numpy()
    for name, column in (("user_id", user_col), ("item_id", item_col)):
        if len(column) and not np.issubdtype(column.dtype, np.integer):
            raise ValueError(f"the {name} column must hold integers, got dtype {column.dtype}; ids are labels, "
                             "not numbers to round.")
    ratings = frame["rating"].to_numpy(dtype=np.float64)
    if len(ratings) and (not np.isfinite(ratings).all() or ratings.min() <= 0):
        bad = ratings[~np.isfinite(ratings) | (ratings <= 0)][0]
        raise ValueError(
            f"rating {bad} is not a positive number; ratings must be > 0 because 0 marks an unrated entry."
        )
    users = _ids(np.unique(user_col) if users is None else users, "users")
    items = _ids(np.unique(item_col) if items is None else items, "items")
    rows = _positions(users, user_col.astype(np.int64), "user", "users")
    cols = _positions(items, item_col.astype(np.int64), "item", "items")
    flat = rows * len(items) + cols
    if len(np.unique(flat)) != len(flat):
        raise ValueError("some (user_id, item_id) pair is rated more than once; keep one rating per pair.")
    values = torch.zeros(len(users), len(items), dtype=torch.float32)
    values.view(-1)[torch.from_numpy(flat)] = torch.from_numpy(ratings.astype(np.float32))
    if device is not None:
        values = values.to(device)
    return RatingMatrix(values, users, items)


def fold_matrices(train, test, users: Sequence[int] | None = None, items: Sequence[int] | None = None,
                  *, device=None) -> tuple[RatingMatrix, RatingMatrix]:
    """The aligned training and test matrices of one fold.

    Rows and columns cover the ids of both frames (or ``users``/``items``),
    so an item rated only in the test set still has a column.
    """
    if users is None:
        users = np.union1d(train["user_id"].to_numpy(), test["user_id"].to_numpy())
    if items is None:
        items = np.union1d(train["item_id"].to_numpy(), test["item_id"].to_numpy())
    return (rating_matrix(train, users, items, device=device),
            rating_matrix(test, users, items, device=device))


def check_ratings(R: torch.Tensor, n_items: int, n_levels: int, name: str, values: bool = True) -> None:
    """Refuse a ratings tensor unless it is (n_users, n_items) with integers 0..n_levels (0 = unrated).

    ``values=False`` checks the shape only (the values cost a pass over the data, done once per set).
    """
    if not isinstance(R, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor of ratings (or a RatingMatrix), got {type(R).__name__}.")
    if R.ndim != 2 or R.shape[1] != n_items:
        raise ValueError(
            f"{name} expects ratings of shape (n_users, {n_items}), one column per item, got {tuple(R.shape)}; "
            "build them with companion.data.rating_matrix over the same item ids."
        )
    if values:
        if R.numel() == 0:
            raise ValueError(f"{name}: the ratings matrix has no users (shape {tuple(R.shape)}).")
        require_finite(R, f"{name}: the ratings contain", "; use 0 for 'unrated'")
        if (R != R.round()).any() or R.min() < 0 or R.max() > n_levels:
            raise ValueError(
                f"{name}: ratings must be integers 0..{n_levels} (0 = unrated), found values in "
                f"[{R.min().item():g}, {R.max().item():g}]."
            )


def as_tensor(R) -> torch.Tensor:
    """The ratings tensor of a :class:`RatingMatrix`; anything else unchanged."""
    return R.values if isinstance(R, RatingMatrix) else R


def check_users(R, n_users: int, name: str, shape: str):
    """``R`` as a tensor, refused unless it has one row per user (``shape`` says what was expected)."""
    R = as_tensor(R)
    if isinstance(R, torch.Tensor) and (R.ndim != 2 or R.shape[0] != n_users):
        raise ValueError(f"{name} expects ratings of shape {shape}, one row per user, got {tuple(R.shape)}; build "
                         "them with companion.data.fold_matrices over the same users and items.")
    return R


def evidence_and_targets(batch) -> tuple[torch.Tensor, torch.Tensor]:
    """``(evidence, targets)`` of a validation batch: a pair as given; one tensor, ``(R,)`` or ``R``, is its own target."""
    parts = batch if isinstance(batch, (tuple, list)) else (batch,)
    return parts[0], parts[-1]


def rated_entries(batch) -> torch.Tensor:
    """The ratings a validation batch ``(evidence, targets)`` scores: how much it weighs in ``evaluate``."""
    targets = batch[-1] if isinstance(batch, tuple) else batch
    return (targets > 0).sum()
