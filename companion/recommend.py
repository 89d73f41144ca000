"""Scoring recommenders: RMSE, MAE, like/dislike accuracy, top-N lists and precision@k.

Predictions are dense (n_users, n_items) tensors aligned with a
:class:`~companion.data.RatingMatrix`; the metrics read them only at the
entries that the test matrix rates.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch

from .checks import require_finite
from .data.ratings import RatingMatrix, check_aligned, fold_matrices


def _pair(pred, test: RatingMatrix, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(test, RatingMatrix):
        raise TypeError(f"{name}: test must be a RatingMatrix, got {type(test).__name__}.")
    pred = torch.as_tensor(pred).detach().cpu().float()
    if tuple(pred.shape) != tuple(test.shape):
        raise ValueError(
            f"{name}: predictions have shape {tuple(pred.shape)} but the test matrix {tuple(test.shape)}; "
            "predict for the users and items of the test matrix (same users= and items=)."
        )
    mask = test.mask.cpu()
    if not mask.any():
        raise ValueError(f"{name}: the test matrix has no ratings to score.")
    require_finite(pred[mask], f"{name}: the predictions contain", " at rated entries")
    return pred[mask].double(), test.values.cpu()[mask].double()


def rmse(pred, test: RatingMatrix) -> float:
    """Root mean squared error over the rated entries of ``test``: :math:`\\sqrt{\\frac1{|T|}\\sum_{(u,i)\\in T}(\\hat r_{ui} - r_{ui})^2}`."""
    p, r = _pair(pred, test, "rmse")
    return float(((p - r) ** 2).mean().sqrt())


def mae(pred, test: RatingMatrix) -> float:
    """Mean absolute error over the rated entries of ``test``."""
    p, r = _pair(pred, test, "mae")
    return float((p - r).abs().mean())


def like_accuracy(pred, test: RatingMatrix, threshold: float = 3, cut: float | None = None) -> float:
    """Fraction of test ratings whose like/dislike (rating >= ``threshold``) the prediction gets right.

    A predicted rating counts as "like" when it is at least ``cut`` (default
    ``threshold - 0.5``, i.e. it rounds to a like); pass ``cut=0.5`` for
    predictions that are like probabilities.
    """
    p, r = _pair(pred, test, "like_accuracy")
    cut = threshold - 0.5 if cut is None else cut
    return float(((p >= cut) == (r >= threshold)).double().mean())


def top_n(scores, seen: RatingMatrix | torch.Tensor, n: int = 10, candidates=None, seed: int = 0) -> torch.Tensor:
    """The ``n`` highest-scoring items per user among those not in ``seen``; (n_users, n) column indices.

    ``candidates`` (bool, shape (n_items,)) restricts the lists to some items,
    e.g. those with enough ratings for their predicted score to mean something.
    Equal scores are ordered by a random permutation of the items (fixed by
    ``seed``), not by item id: otherwise a constant predictor would recommend
    the lowest ids, which in MovieLens are popular films. A user with fewer
    than ``n`` eligible items gets their list padded with -1.
    """
    scores = torch.as_tensor(scores).detach().cpu().float().clone()
    seen_mask = seen.mask if isinstance(seen, RatingMatrix) else torch.as_tensor(seen) > 0
    if tuple(seen_mask.shape) != tuple(scores.shape):
        raise ValueError(f"top_n: scores {tuple(scores.shape)} and seen {tuple(seen_mask.shape)} differ in shape.")
    if not 1 <= n <= scores.shape[1]:
        raise ValueError(f"top_n: n must be in 1..{scores.shape[1]}, got {n}.")
    scores[seen_mask.cpu()] = -torch.inf
    if candidates is not None:
        candidates = torch.as_tensor(candidates, dtype=torch.bool).cpu()
        if candidates.shape != (scores.shape[1],):
            raise ValueError(f"top_n: candidates must be a bool mask of shape ({scores.shape[1]},).")
        if candidates.sum() < n:
            raise ValueError(f"top_n: only {int(candidates.sum())} candidate items for lists of {n}.")
        scores[:, ~candidates] = -torch.inf
    order = torch.randperm(scores.shape[1], generator=torch.Generator().manual_seed(seed))
    top = scores[:, order].topk(n, dim=1)
    return torch.where(torch.isfinite(top.values), order[top.indices], -1)


def precision_at_k(scores, train: RatingMatrix, test: RatingMatrix, k: int = 10, relevant: float = 4,
                   candidates=None) -> float:
    """Mean precision of each user's top-k list.

    The candidates are the items the user did not rate in ``train``; an item
    is relevant when the user rated it ``>= relevant`` in ``test``. Users with
    no relevant test item are left out. Unrated items count as not relevant,
    so this is a lower bound on the precision a user would perceive.
    ``candidates`` restricts the lists as in :func:`top_n`.
    """
    check_aligned(train, test, "precision_at_k")
    top = top_n(scores, train, k, candidates)
    hits = (test.values.cpu() >= relevant)
    users = hits.any(1)
    if not users.any():
        raise ValueError(f"precision_at_k: no test rating is >= {relevant}.")
    # a padded slot (-1, no eligible item left) counts as a miss
    precision = (hits.gather(1, top.clamp(min=0)) & (top >= 0)).double().mean(1)
    return float(precision[users].mean())


def score(pred, train: RatingMatrix, test: RatingMatrix, *, k: int = 10, ratings: bool = True,
          min_item_ratings: int = 0) -> dict[str, float]:
    """All metrics of one fold: rmse, mae (when ``ratings``), like accuracy and precision@k.

    With ``ratings=False`` the predictions are like probabilities (the binary
    RBM), which have no RMSE on the rating scale. The top-k lists consider
    only items with at least ``min_item_ratings`` ratings in ``train``.
    """
    out = {}  # precision_at_k below checks that train and test line up

    if ratings:
        out["rmse"], out["mae"] = rmse(pred, test), mae(pred, test)
        out["like_acc"] = like_accuracy(pred, test)
    else:
        out["like_acc"] = like_accuracy(pred, test, cut=0.5)
    candidates = train.mask.sum(0).cpu() >= min_item_ratings
    out[f"p@{k}"] = precision_at_k(pred, train, test, k=k, candidates=candidates)
    return out


def cross_validate(make_and_fit: Callable[[RatingMatrix, RatingMatrix], Callable[[RatingMatrix], torch.Tensor]],
                   folds: Sequence, *, users=None, items=None, k: int = 10, ratings: bool = True,
                   min_item_ratings: int = 0, first_fold: int = 1, device=None, verbose: bool = False):
    """Score one recommender on every fold; returns a DataFrame with one row per fold.

    Parameters
    ----------
    make_and_fit : callable
        ``make_and_fit(R_train, R_test) -> predict`` builds and trains a model on
        ``R_train`` (``R_test`` may be used for monitoring only) and returns a
        function mapping the training matrix to predictions.
    folds : sequence of (train_frame, test_frame)
        As from :func:`companion.data.movielens_folds`.
    users, items : ids of all rows and columns (by default those of each fold)
    min_item_ratings : int
        Passed to :func:`score`.
    first_fold : int
        The number of the first fold in ``folds`` (to score a subset of them).
    """
    import pandas as pd

    rows = []
    for i, (train, test) in enumerate(folds, start=first_fold):
        R_train, R_test = fold_matrices(train, test, users, items, device=device)
        start = time.perf_counter()
        predict = make_and_fit(R_train, R_test)
        pred = predict(R_train)
        row = {"fold": i, **score(pred, R_train, R_test, k=k, ratings=ratings, min_item_ratings=min_item_ratings),
               "seconds": time.perf_counter() - start}
        rows.append(row)
        if verbose:
            print(", ".join(f"{key} {value:.4g}" for key, value in row.items()))
    return pd.DataFrame(rows)


def summarize(tables: dict, columns=("rmse", "mae", "like_acc", "p@10")):
    """One row per model: the mean ± standard deviation over folds of each metric, as strings."""
    import pandas as pd

    out = {}
    for name, table in tables.items():
        cells = {}
        for column in columns:
            if column in table:
                values = np.asarray(table[column], dtype=float)
                cells[column] = f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.4f}"
            else:
                cells[column] = "—"
        out[name] = cells
    return pd.DataFrame(out).T
