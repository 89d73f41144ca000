"""AutoRec (Sedhain, Menon, Sanner & Xie 2015): the autoencoder of chapter 02, fed ratings with holes.

I-AutoRec reads each item i as the vector :math:`r_i \\in \\mathbb R^{n_{users}}`
of the ratings users gave it (0 where a user did not rate it) and
reconstructs it through one hidden layer,

.. math:: h(r; \\theta) = f\\big(W\\, g(V r + \\mu) + b\\big), \\qquad g = \\text{sigmoid}, \\quad f = \\text{identity},

trained on the *observed* entries only (:math:`\\odot M` keeps them),

.. math:: \\min_\\theta \\sum_i \\big\\| (r_i - h(r_i; \\theta)) \\odot M_i \\big\\|^2
          + \\frac{\\lambda}{2} \\big(\\|W\\|_F^2 + \\|V\\|_F^2\\big).

An unrated entry is an input of 0 and no target at all: nothing pulls its
reconstruction anywhere, so after training the reconstruction there is the
prediction, :math:`\\hat r_{ui} = h(r_i)_u`. U-AutoRec (``item_based=False``)
swaps the roles: each user's vector over items is a case.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import number, positive_int
from ..data.ratings import RatingMatrix, check_aligned, check_ratings, check_users, evidence_and_targets, rated_entries
from ..utils import ConstructorConfig, batched_apply


def masked_squared_error(prediction: torch.Tensor, ratings: torch.Tensor) -> torch.Tensor:
    """:math:`((r - \\hat r) \\odot M)^2` elementwise, with M the rated entries (``ratings > 0``); same shape."""
    return ((ratings - prediction) * (ratings > 0)) ** 2


class AutoRec(ConstructorConfig, nn.Module):
    """An autoencoder recommender: I-AutoRec (each item a case) or U-AutoRec (each user a case).

    Parameters
    ----------
    n_users, n_items : int
        Shape of the rating matrices it is fitted on and predicts for.
    n_hidden : int
        Hidden units (the paper's 500).
    item_based : bool
        True for I-AutoRec (input: an item's ratings over users), False for U-AutoRec.
    reg : float
        λ of the objective; the mini-batch loss is the objective divided by
        the number of cases, so λ keeps the paper's meaning.
    n_levels : int
        Ratings are 1..n_levels (0 = unrated); predictions are clipped to that range.

    Attributes
    ----------
    encoder : Linear, weight V (n_hidden, n_in), bias μ;  decoder : Linear, weight W (n_in, n_hidden), bias b
        with n_in = n_users for I-AutoRec, n_items for U-AutoRec.
    """

    supports_amp = False
    batch_weight = staticmethod(rated_entries)  # val_mse: a mean over ratings, not over cases

    def __init__(self, n_users: int, n_items: int, n_hidden: int = 500, *, item_based: bool = True,
                 reg: float = 1.0, n_levels: int = 5):
        super().__init__()
        n_users, n_items, n_hidden, n_levels = (positive_int(v, name) for v, name in (
            (n_users, "n_users"), (n_items, "n_items"), (n_hidden, "n_hidden"), (n_levels, "n_levels")))
        self.reg = number(reg, "reg", 0)
        self.item_based, self.n_levels = bool(item_based), n_levels
        self.n_users, self.n_items, self.n_hidden = n_users, n_items, n_hidden  # config reads them back
        n_in = n_users if item_based else n_items
        self.n_cases = n_items if item_based else n_users
        self.encoder = nn.Linear(n_in, n_hidden)
        self.decoder = nn.Linear(n_hidden, n_in)
        # a buffer, so that a model loaded from a checkpoint knows it was fitted
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def forward(self, r: torch.Tensor) -> torch.Tensor:
        """:math:`h(r) = W \\sigma(V r + \\mu) + b`: (N, n_in) cases -> (N, n_in) reconstructions, unclipped."""
        return self.decoder(torch.sigmoid(self.encoder(r)))

    def _cases(self, R) -> torch.Tensor:
        """Validate a (n_users, n_items) ratings matrix; its cases are its columns (I-AutoRec) or rows."""
        R = check_users(R, self.n_users, "AutoRec", f"({self.n_users}, {self.n_items})")
        check_ratings(R, self.n_items, self.n_levels, "AutoRec")
        return R.t().contiguous() if self.item_based else R

    def check_data(self, cases: torch.Tensor) -> torch.Tensor:
        """What :func:`companion.fit` validates: cases of width n_in, ratings 0..n_levels."""
        n_in = self.n_users if self.item_based else self.n_items
        check_ratings(cases, n_in, self.n_levels, type(self).__name__)
        return cases

    #: in eval mode (validation) the loss is the squared error of the clipped predictions, without the penalty:
    #: fit records it as val_mse, not as a val_loss that would read like the training loss
    eval_loss_name = "mse"

    def loss(self, batch):
        """The masked objective on a batch of cases, for :func:`companion.fit`.

        Training: :math:`\\frac1B \\sum_{i \\in B} \\|(r_i - h(r_i)) \\odot M_i\\|^2
        + \\frac{\\lambda}{2 n_{cases}} (\\|W\\|_F^2 + \\|V\\|_F^2)`. In eval mode a
        batch ``(evidence, targets)`` scores the reconstruction of ``evidence``
        on the rated entries of ``targets`` (``fit(validation=)``).

        Metrics: ``mse``, the squared error per rated entry of the batch.
        """
        evidence, targets = evidence_and_targets(batch)
        prediction = self(evidence)
        if not self.training:
            prediction = prediction.clamp(1, self.n_levels)
        sq = masked_squared_error(prediction, targets)
        mse = sq.detach().sum() / (targets > 0).sum().clamp_min(1)
        if not self.training:
            return mse, {"mse": mse}
        penalty = (self.encoder.weight**2).sum() + (self.decoder.weight**2).sum()
        return sq.sum() / len(evidence) + self.reg / (2 * self.n_cases) * penalty, {"mse": mse}

    def fit(self, R, *, epochs: int = 100, lr: float = 1e-3, batch_size: int = 64, optimizer="adam",
            validation=None, **fit_kwargs):
        """Train on the rated entries of ``R`` (n_users, n_items) through :func:`companion.fit`; returns its History.

        ``validation`` (same users and items) is predicted from ``R`` and
        reported each epoch as ``val_mse``, on the clipped predictions.
        """
        from ..train import fit as _fit

        if isinstance(R, RatingMatrix) and isinstance(validation, RatingMatrix):
            check_aligned(R, validation, "AutoRec.fit(validation=)")
        cases = self._cases(R)
        val = None
        if validation is not None:
            val = (cases, self._cases(validation))
        history = _fit(self, cases, epochs=epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
                       validation_data=val, **fit_kwargs)
        self.fitted.fill_(True)
        return history

    @torch.no_grad()
    def predict(self, R, batch_size: int = 1024) -> torch.Tensor:
        """Predicted ratings for every (user, item), clipped to 1..n_levels: (n_users, n_items), on the CPU."""
        cases = self._cases(R)
        if not bool(self.fitted):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this AutoRec is not fitted yet: call fit(R_train) first (or companion.load a "
                                 "fitted one); its weights are still random.")
        out = batched_apply(self, lambda chunk: self(chunk).clamp(1, self.n_levels), cases, batch_size)
        return out.t() if self.item_based else out

    def extra_repr(self) -> str:
        kind = "I-AutoRec" if self.item_based else "U-AutoRec"
        return f"{kind}, n_users={self.n_users}, n_items={self.n_items}, reg={self.reg}"
