"""The item-based softmax RBM (I-RBM of Sedhain et al. 2015): the rating RBM of
:mod:`companion.models.rbm_cf` with movies as its training cases."""

from __future__ import annotations

import torch

from ..data.ratings import check_users
from .rbm_cf import SoftmaxRBM


class ItemSoftmaxRBM(SoftmaxRBM):
    """The item-based softmax RBM: each *movie* is a training case, its visibles the users who rated it.

    The same model as :class:`SoftmaxRBM` on the transposed matrix (Sedhain et
    al. 2015 call it I-RBM): a movie's RBM has one K-way softmax unit per user
    who rated it, and every movie's RBM shares the weights ``W[k, u, j]``. On
    MovieLens 1M a movie has more ratings than a user on average (270 against
    165), which is one reason the item-based view wins there.

    ``fit``, ``predict`` and ``predict_exact`` take and return matrices laid
    out as everywhere else, (n_users, n_items); ``transform`` gives each
    movie's hidden features, (n_items, n_hidden).

    Parameters
    ----------
    n_users : int
        Number of users (rows of the rating matrix): the RBM's visible units.
    n_hidden, k, weight_cost, init_std, n_levels, per_item
        As in :class:`SoftmaxRBM` (``per_item`` then averages per *user*).

    Attributes
    ----------
    W : (n_levels, n_users, n_hidden);  b : (n_levels, n_users);  c : (n_hidden,)
    """

    def __init__(self, n_users: int, n_hidden: int = 100, **kwargs):
        super().__init__(n_users, n_hidden, **kwargs)
        self.n_users = self.n_items

    def _cases(self, R) -> torch.Tensor:
        """The item vectors of a (n_users, n_items) ratings matrix: its transpose, (n_items, n_users)."""
        R = check_users(R, self.n_users, type(self).__name__, f"({self.n_users}, n_items)")
        return self.check_data(R.t().contiguous() if isinstance(R, torch.Tensor) else R)

    def _as_ratings(self, per_case: torch.Tensor) -> torch.Tensor:
        return per_case.transpose(0, -1)

    def extra_repr(self) -> str:
        return f"n_users={self.n_users}, n_states={self.n_states}, n_hidden={self.n_hidden}, k={self.k}"
