"""Collaborative-filtering baselines: the global mean, user + item biases, matrix factorization.

Every recommender of the course (these and the rating RBMs of
:mod:`companion.models.rbm_cf`) has the same two calls: ``fit(R)`` on a
:class:`~companion.data.RatingMatrix` of training ratings and ``predict(R)``,
which returns a prediction for every (user, item) of the same matrix, shape
(n_users, n_items), clipped to the rating scale.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.ratings import RatingMatrix, check_aligned
from ..utils import ConstructorConfig


def _ratings(R, name: str) -> RatingMatrix:
    if not isinstance(R, RatingMatrix):
        raise TypeError(f"{name} expects a RatingMatrix (companion.data.rating_matrix), got {type(R).__name__}.")
    if R.n_ratings == 0:
        raise ValueError(f"{name}: the rating matrix has no ratings.")
    return R


class _Fitted:
    """``predict`` before ``fit`` is a clear error, not an AttributeError."""

    def _check_fitted(self, R: RatingMatrix | None = None) -> None:
        if getattr(self, "mean_", None) is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet; call fit(R_train) first.")
        if R is not None and tuple(R.shape) != tuple(self.shape_):
            raise ValueError(
                f"{type(self).__name__} was fitted on a {self.shape_[0]} x {self.shape_[1]} matrix but predict got "
                f"{R.shape[0]} x {R.shape[1]}; build both with the same users= and items=."
            )


class GlobalMean(_Fitted):
    """Predict the training mean rating :math:`\\mu` everywhere."""

    def __init__(self):
        self.mean_ = None

    def fit(self, R: RatingMatrix) -> "GlobalMean":
        R = _ratings(R, "GlobalMean.fit")
        self.mean_ = float(R.values[R.mask].double().mean())
        self.shape_ = R.shape
        return self

    def predict(self, R: RatingMatrix) -> torch.Tensor:
        self._check_fitted(R)
        return torch.full(R.shape, self.mean_)


class BiasBaseline(_Fitted):
    """:math:`\\hat r_{ui} = \\mu + b_u + b_i`, regularized least squares by alternating updates.

    Each sweep solves for the user biases with the item biases fixed, then
    the other way round (Koren 2010, section 2.1):

    .. math:: b_u = \\frac{\\sum_{i \\in R(u)} (r_{ui} - \\mu - b_i)}{\\lambda_u + |R(u)|},
              \\qquad
              b_i = \\frac{\\sum_{u \\in R(i)} (r_{ui} - \\mu - b_u)}{\\lambda_i + |R(i)|}.

    The defaults (λ_u = 15, λ_i = 10, 10 sweeps) are those of Surprise's
    ``BaselineOnly``, whose published ml-100k RMSE the chapter quotes.
    """

    def __init__(self, reg_user: float = 15.0, reg_item: float = 10.0, n_sweeps: int = 10, clip=(1.0, 5.0)):
        if reg_user < 0 or reg_item < 0 or n_sweeps < 1:
            raise ValueError("reg_user and reg_item must be >= 0 and n_sweeps >= 1.")
        self.reg_user, self.reg_item, self.n_sweeps, self.clip = reg_user, reg_item, n_sweeps, clip
        self.mean_ = None

    def fit(self, R: RatingMatrix) -> "BiasBaseline":
        R = _ratings(R, "BiasBaseline.fit")
        mask = R.mask.double()
        values = R.values.double()
        mu = float(values[R.mask].mean())
        resid = (values - mu) * mask
        b_u = torch.zeros(R.shape[0], dtype=torch.float64, device=values.device)
        b_i = torch.zeros(R.shape[1], dtype=torch.float64, device=values.device)
        # an empty row or column has no evidence: its bias is 0, also when the regularization is 0
        per_user = (self.reg_user + mask.sum(1)).clamp_min(1e-12)
        per_item = (self.reg_item + mask.sum(0)).clamp_min(1e-12)
        for _ in range(self.n_sweeps):
            b_u = (resid - mask * b_i).sum(1) / per_user
            b_i = (resid - mask * b_u[:, None]).sum(0) / per_item
        # kept on the CPU, like every prediction of the course's recommenders
        self.mean_, self.user_bias_, self.item_bias_ = mu, b_u.float().cpu(), b_i.float().cpu()
        self.shape_ = R.shape
        return self

    def predict(self, R: RatingMatrix) -> torch.Tensor:
        self._check_fitted(R)
        out = self.mean_ + self.user_bias_[:, None] + self.item_bias_[None, :]
        return out.clamp(*self.clip) if self.clip else out


class MatrixFactorization(ConstructorConfig, nn.Module, _Fitted):
    """Biased matrix factorization :math:`\\hat r_{ui} = \\mu + b_u + b_i + p_u^\\top q_i`, trained with torch.

    The loss per rating is that of Funk's SVD as in Surprise's ``SVD``,

    .. math:: \\tfrac12 (r_{ui} - \\hat r_{ui})^2
              + \\tfrac{\\lambda}{2} (b_u^2 + b_i^2 + \\|p_u\\|^2 + \\|q_i\\|^2),

    averaged over a mini-batch of ratings, so a user or item is regularized in
    proportion to how often it is rated. ``fit`` runs :func:`companion.fit`
    on the (row, column, rating) triples of the training matrix.

    Parameters
    ----------
    n_users, n_items : int
    n_factors : int
    reg : float
        λ above.
    init_std : float
        Factors start as N(0, init_std^2); biases at zero.
    """

    supports_amp = False
    index_input = True  # fit's batches are (user, item, rating) triples: the indices stay integers

    def __init__(self, n_users: int, n_items: int, n_factors: int = 100, *, reg: float = 0.02,
                 init_std: float = 0.1, clip=(1.0, 5.0)):
        super().__init__()
        for name, value in (("n_users", n_users), ("n_items", n_items), ("n_factors", n_factors)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        # the constructor's arguments as attributes: `config` reads them back (ConstructorConfig)
        self.n_users, self.n_items, self.n_factors, self.reg, self.init_std, self.clip = (
            n_users, n_items, n_factors, reg, init_std, clip)
        self.P = nn.Parameter(torch.randn(n_users, n_factors) * init_std)
        self.Q = nn.Parameter(torch.randn(n_items, n_factors) * init_std)
        self.user_bias = nn.Parameter(torch.zeros(n_users))
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        self.register_buffer("mu", torch.zeros(()))
        # a buffer, so that a model loaded from a checkpoint knows it was fitted
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.shape_ = (n_users, n_items)

    @property
    def mean_(self) -> float | None:
        return float(self.mu) if bool(self.fitted) else None

    def forward(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Predicted ratings of the pairs (rows[n], cols[n]), shape (N,), unclipped."""
        return self.mu + self.user_bias[rows] + self.item_bias[cols] + (self.P[rows] * self.Q[cols]).sum(1)

    #: in eval mode (validation) the loss is the squared error alone, without the penalty:
    #: fit records it as val_mse, not as a val_loss that would read like the training loss
    eval_loss_name = "mse"

    def loss(self, batch):
        """Half the squared error plus the penalty, averaged over a batch of triples; in eval mode the mean
        squared error alone, so that validation (and early stopping) watches what a test would measure."""
        rows, cols, r = batch
        err = r - self(rows.long(), cols.long())
        if not self.training:
            mse = (err.detach() ** 2).mean()
            return mse, {"mse": mse}
        penalty = (self.user_bias[rows] ** 2 + self.item_bias[cols] ** 2
                   + (self.P[rows] ** 2).sum(1) + (self.Q[cols] ** 2).sum(1))
        loss = 0.5 * (err**2).mean() + 0.5 * self.reg * penalty.mean()
        return loss, {"mse": (err.detach() ** 2).mean()}

    def fit(self, R: RatingMatrix, *, epochs: int = 20, lr: float = 5e-3, batch_size: int = 128,
            optimizer="adam", validation: RatingMatrix | None = None, **fit_kwargs):
        """Train on the rated entries of ``R``; ``validation`` (same users and items) gives ``val_mse``."""
        from ..train import fit as _fit

        R = _ratings(R, "MatrixFactorization.fit")
        if tuple(R.shape) != self.shape_:
            raise ValueError(f"the model is {self.shape_[0]} x {self.shape_[1]} but R is {R.shape[0]} x {R.shape[1]}.")
        with torch.no_grad():
            self.mu.fill_(float(R.values[R.mask].mean()))
        val = None
        if validation is not None:
            validation = _ratings(validation, "MatrixFactorization.fit(validation=)")
            check_aligned(R, validation, "MatrixFactorization.fit(validation=)")
            val = validation.entries()
        history = _fit(self, R.entries(), epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                       validation_data=val, **fit_kwargs)
        self.fitted.fill_(True)
        return history

    @torch.no_grad()
    def predict(self, R: RatingMatrix) -> torch.Tensor:
        self._check_fitted(R)
        out = (self.mu + self.user_bias[:, None] + self.item_bias[None, :] + self.P @ self.Q.t()).cpu()
        return out.clamp(*self.clip) if self.clip else out
