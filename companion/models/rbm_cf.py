"""RBMs for collaborative filtering: each user is one training case with missing visibles.

Salakhutdinov, Mnih & Hinton (2007) give every user an RBM of their own whose
visible units are only the items that user rated; all these RBMs share one
set of weights. In tensor form that is one RBM over all items in which the
unrated visibles are *absent*: they are zero in the data, never sampled,
and so they add nothing to the hidden input or to either phase's statistics.

Each item i has K visible states (one-hot, ``V[k, i] = 1`` for rating k+1)
and a weight ``W[k, i, j]`` to hidden unit j (state-major, so that the
softmax over K runs over a non-innermost dimension, 3x faster on a CPU). With the rated-item mask m,

.. math:: E(V, h) = -\\sum_{k,i} m_i V_{ki} b_{ki} - \\sum_j c_j h_j
                    - \\sum_{k,i,j} m_i V_{ki} W_{kij} h_j ,

.. math:: p(h_j = 1 \\mid V) = \\sigma\\Big(c_j + \\sum_{k,i} m_i V_{ki} W_{kij}\\Big),
          \\qquad
          p(V_{ki} = 1 \\mid h) = \\frac{\\exp(b_{ki} + \\sum_j W_{kij} h_j)}
                                        {\\sum_l \\exp(b_{li} + \\sum_j W_{lij} h_j)} .

:class:`SoftmaxRBM` is this model with K = 5 rating states;
:class:`BinaryRatingRBM` is the like/dislike version of the course's source
material (one logistic unit per item, like = rating >= 3), done with the mask
instead of the source's -1 entries. Both are short subclasses of the RBM core
(:class:`~companion.models.rbm_base.RBM`) and train through :func:`companion.fit`
with its CD-k chain: the loss is the free-energy surrogate whose gradient is
exactly data statistics minus model statistics (:func:`given_gradients`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch, positive_int
from ..data.ratings import RatingMatrix, as_tensor, check_aligned, check_ratings, evidence_and_targets, rated_entries
from ..utils import batched_apply, given_gradients
from .rbm_base import RBM, bernoulli


class _RatingRBM(RBM):
    """What the binary and the softmax rating RBMs share; ``n_states`` visible states per item.

    The chain, the Gibbs step and the weight cost are the RBM core's
    (:class:`~companion.models.rbm_base.RBM`), with the user's unrated items as
    absent visibles (``negative_chain``'s ``mask``); the weights are the core's
    (n_states * n_items, n_hidden) matrix laid out as (n_states, n_items, n_hidden).
    """

    n_states = 1
    batch_weight = staticmethod(rated_entries)  # val_mse: a mean over ratings, not over users

    def __init__(self, n_items: int, n_hidden: int = 100, *, k: int = 1, weight_cost: float = 0.001,
                 init_std: float = 0.01, n_levels: int = 5, per_item: bool = False):
        n_items, n_levels = positive_int(n_items, "n_items"), positive_int(n_levels, "n_levels")
        super().__init__(self.n_states * n_items, n_hidden, k=k, weight_cost=weight_cost, init_std=init_std)
        self.n_items, self.n_levels, self.per_item = n_items, n_levels, per_item
        # the core's (K * n_items, n_hidden) weights, state-major, drawn in the same order as before
        self.W = nn.Parameter(self.W.detach().reshape(self.n_states, n_items, self.n_hidden))
        self.b = nn.Parameter(self.b.detach().reshape(self.n_states, n_items))

    # ------------------------------------------------------------------ encoding
    def encode(self, ratings: torch.Tensor) -> torch.Tensor:
        """Visible states from ratings: (N, n_items) -> (N, n_states, n_items), zero where unrated."""
        raise NotImplementedError

    def visible_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """State probabilities from the visible inputs, (N, n_states, n_items)."""
        raise NotImplementedError

    def sample_states(self, probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of the visible states from their probabilities, same shape (from ``generator``, if given)."""
        raise NotImplementedError

    def _visible_sample(self, probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.sample_states(probs, generator)  # the core's Gibbs step draws the visibles through this

    def check_batch(self, V: torch.Tensor, values: bool | None = None) -> None:
        """Visible states (N, n_states, n_items), finite (what ``encode`` makes of ratings)."""
        check_batch(V, (self.n_states, self.n_items), f"{type(self).__name__} visible states (use encode(ratings))",
                    values=values)

    # ------------------------------------------------------------------ equations
    def hidden_input(self, V: torch.Tensor) -> torch.Tensor:
        """``c_j + sum_{k,i} V_ki W_kij``: (N, n_states, n_items) -> (N, n_hidden).

        Absent (unrated) items are zero in V, so they contribute nothing.
        """
        return torch.addmm(self.c, V.reshape(len(V), -1), self.W.reshape(-1, self.n_hidden))

    def visible_input(self, h: torch.Tensor) -> torch.Tensor:
        """``b_ki + sum_j W_kij h_j`` for every state and item: (N, n_hidden) -> (N, n_states, n_items)."""
        flat = torch.addmm(self.b.reshape(-1), h, self.W.reshape(-1, self.n_hidden).t())
        return flat.reshape(len(h), self.n_states, self.n_items)

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """Visible state probabilities for *every* item (rated or not), (N, n_states, n_items)."""
        return self.visible_probs(self.visible_input(h))

    def energy(self, V: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`E(V, h)` of the present visibles (absent ones are zero in V), shape (N,)."""
        flat = V.reshape(len(V), -1)
        return -(flat @ self.b.reshape(-1)) - h @ self.c - ((flat @ self.W.reshape(-1, self.n_hidden)) * h).sum(1)

    def _free_energy(self, V: torch.Tensor, hidden_input: torch.Tensor) -> torch.Tensor:
        """:math:`F(V) = -\\sum_{ki} V_{ki} b_{ki} - \\sum_j \\operatorname{softplus}(c_j + \\sum_{ki} V_{ki} W_{kij})`."""
        return -(V.reshape(len(V), -1) @ self.b.reshape(-1)) - F.softplus(hidden_input).sum(1)

    # ------------------------------------------------------------------ learning
    def init_visible_bias(self, R, prior: float = 5.0) -> "_RatingRBM":
        """Start ``b`` at each item's smoothed log state frequencies (Hinton 2012, section 8).

        :math:`b_{ki} = \\log \\frac{n_{ki} + \\alpha \\bar p_k}{n_i + \\alpha}`, where
        :math:`n_{ki}` counts the users whose state of item i is k, :math:`\\bar p_k`
        is state k's frequency over all items and ``prior`` is α. An item
        nobody rated starts at the overall frequencies.
        """
        return self._init_bias_from_cases(self._cases(R), prior)

    @torch.no_grad()
    def _init_bias_from_cases(self, R: torch.Tensor, prior: float) -> "_RatingRBM":
        V = self.encode(R.to(self.W.device)).double()
        counts = V.sum(0)  # (K, items)
        rated = (R > 0).to(counts).sum(0).to(counts.device)
        overall = counts.sum(1, keepdim=True) / rated.sum()
        p = (counts + prior * overall) / (rated + prior).clamp_min(1e-12)
        p = torch.where(rated > 0, p, overall)  # an item nobody rated, whatever the prior
        # a state no one ever used would get b = -inf; 1e-4 keeps it merely unlikely
        p = p.clamp(1e-4, 1 - 1e-4)
        if self.n_states == 1:  # a logistic unit: log-odds instead of log-probability
            self.b.copy_((torch.log(p) - torch.log1p(-p)).to(self.b))
        else:
            self.b.copy_(torch.log(p).to(self.b))
        return self

    def check_data(self, R) -> torch.Tensor:
        """Validate a whole ratings matrix once (used by :func:`companion.fit`); returns it as a tensor."""
        R = as_tensor(R)
        check_ratings(R, self.n_items, self.n_levels, type(self).__name__)
        return R

    def _cases(self, R) -> torch.Tensor:
        """The training cases of a (n_users, n_items) ratings matrix: one row per user here."""
        return self.check_data(R)

    def _as_ratings(self, per_case: torch.Tensor) -> torch.Tensor:
        """Per-case results (cases, ..., visibles) laid out as (n_users, ..., n_items)."""
        return per_case

    def cd_gradients(self, V0: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
                     ) -> tuple[tuple[torch.Tensor, ...], dict]:
        """CD-k gradient of the mean negative log-likelihood over a batch of users.

        Parameters
        ----------
        V0 : (N, n_states, n_items) visible data; entries where ``mask`` is False are ignored
        mask : (N, n_items) bool, the items each user rated
        generator : torch.Generator, optional
            Where the chain's random numbers come from (``fit`` passes its own); torch's global one if None

        Returns
        -------
        grads : (dW, db, dc), minus (data statistics - model statistics), each averaged over the N users
        info : dict with ``value`` (mean F(V0) - mean F(V_k)), ``p_first`` (the first
            reconstruction's probabilities), ``negative`` (V_k) and the hidden
            probabilities ``p_h0``, ``p_h`` of both phases
        """
        m = mask.unsqueeze(1).to(V0.dtype)
        V0 = V0 * m  # whatever sits at an unrated entry is removed here, before any statistic
        pre0 = self.hidden_input(V0)
        p_h0 = torch.sigmoid(pre0)
        # the core's CD-k chain; only the rated items exist in a user's RBM, so the others stay zero
        V, p_first = self.negative_chain(V0, bernoulli(p_h0, generator), generator, mask=m)
        pre = self.hidden_input(V)
        p_h = torch.sigmoid(pre)
        n = len(V0)
        flat0, flat = V0.reshape(n, -1), V.reshape(n, -1)
        grad_W = torch.addmm(flat.t() @ p_h, flat0.t(), p_h0, beta=1 / n, alpha=-1 / n)
        grad_W, grad_b = grad_W.reshape(self.W.shape), (V - V0).mean(0)
        if self.per_item:
            # average each item's statistics over the users who rated it, not over the batch
            scale = n / mask.sum(0).clamp_min(1).to(grad_b)  # (n_items,)
            grad_W, grad_b = grad_W * scale[:, None], grad_b * scale
        grads = (grad_W, grad_b, (p_h - p_h0).mean(0))
        value = self._free_energy(V0, pre0).mean() - self._free_energy(V, pre).mean()
        return grads, {"value": value, "p_first": p_first, "negative": V, "p_h0": p_h0, "p_h": p_h}

    #: in eval mode (validation) the loss is the squared error of the predicted ratings, not the CD surrogate:
    #: fit records it as val_mse, not as a val_loss that would read like the training loss
    eval_loss_name = "mse"

    def loss(self, batch, generator: torch.Generator | None = None):
        """The CD-k surrogate on a batch of users' ratings, for :func:`companion.fit` (which passes ``generator``).

        ``batch`` is (N, n_items) ratings with 0 for unrated. In eval mode a
        batch ``(evidence, targets)`` scores predictions from ``evidence`` on
        the rated entries of ``targets`` (pass ``validation_data=(R_train,
        R_test)`` to fit), and a single matrix scores its own mean-field
        reconstruction.

        Metrics: ``mse``, the squared error of the predicted rating (or like
        probability), averaged over the rated entries of the batch.
        """
        if not self.training:
            with torch.no_grad():
                evidence, targets = evidence_and_targets(batch)
                mse = self._prediction_mse(evidence, targets)
            return mse, {"mse": mse}
        R = batch[0] if isinstance(batch, tuple) else batch
        check_ratings(R, self.n_items, self.n_levels, type(self).__name__, values=False)
        with torch.no_grad():
            mask = R > 0
            V0 = self.encode(R)
            grads, info = self.cd_gradients(V0, mask, generator)
            mse = self._error(self._point(info["p_first"]), R, mask)
        loss = given_gradients(info["value"], (self.W, self.b, self.c), grads)
        return self._with_penalties(loss, V0), {"mse": mse}

    # ------------------------------------------------------------------ prediction
    def _point(self, probs: torch.Tensor) -> torch.Tensor:
        """The point prediction from state probabilities, (N, n_items)."""
        raise NotImplementedError

    def _target(self, R: torch.Tensor) -> torch.Tensor:
        """What a point prediction is compared with: the rating itself, or like (1) / dislike (0)."""
        return R

    def _error(self, prediction: torch.Tensor, R: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        sq = ((prediction - self._target(R)) ** 2 * mask).sum()
        return sq / mask.sum().clamp_min(1)

    def _prediction_mse(self, evidence: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        prediction = self._point(self.p_v_given_h(self.p_h_given_v(self.encode(evidence))))
        return self._error(prediction, targets, targets > 0)

    @torch.no_grad()
    def _load_from_state_dict(self, *args, **kwargs):
        self._fitted = True  # weights from a checkpoint are fitted weights
        return super()._load_from_state_dict(*args, **kwargs)

    def _check_fitted(self) -> None:
        if not getattr(self, "_fitted", False):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(R_train) first (or "
                                 "companion.load a fitted one); its weights are still random.")

    def predict_proba(self, R, batch_size: int = 1024) -> torch.Tensor:
        """State probabilities of every item for every user given their ratings ``R``.

        The mean-field prediction of the paper: :math:`\\hat p = p(h = 1 \\mid V)`,
        then :math:`p(V_{kq} = 1 \\mid \\hat p)`. Shape (n_users, n_states, n_items), on the CPU.
        """
        return self._as_ratings(self._case_probs(self._cases(R), batch_size))

    def _case_probs(self, cases: torch.Tensor, batch_size: int) -> torch.Tensor:
        return batched_apply(self, lambda chunk: self.p_v_given_h(self.p_h_given_v(self.encode(chunk))), cases,
                             batch_size)

    @torch.no_grad()
    def predict(self, R, batch_size: int = 1024) -> torch.Tensor:
        """Point predictions for every (user, item), shape (n_users, n_items), on the CPU."""
        R = self._cases(R)  # a bad input is named before the missing fit
        self._check_fitted()
        return self._as_ratings(self._point(self._case_probs(R, batch_size)))

    @torch.no_grad()
    def transform(self, R, batch_size: int = 1024) -> torch.Tensor:
        """Hidden features :math:`p(h = 1 \\mid V)` of each training case (user; item for the item-based RBM),
        shape (n_cases, n_hidden)."""
        return batched_apply(self, lambda chunk: self.p_h_given_v(self.encode(chunk)), self._cases(R), batch_size)

    def fit(self, R, *, epochs: int = 30, lr: float = 0.05, momentum: float = 0.9, batch_size: int = 100,
            validation=None, k_schedule: dict[int, int] | None = None, init_bias: bool = False, **fit_kwargs):
        """Train by CD-k through :func:`companion.fit` (SGD with momentum); returns its History.

        Parameters
        ----------
        R : RatingMatrix or (n_users, n_items) tensor of ratings, 0 = unrated
        validation : RatingMatrix or tensor, optional
            Held-out ratings of the same users; reported each epoch as ``val_mse``
            (predicted from ``R``).
        k_schedule : dict {epoch: k}, optional
            Raise the number of Gibbs steps as training proceeds, as the paper
            does (e.g. ``{0: 1, 20: 3, 40: 5}``).
        init_bias : bool
            Start the visible biases from the items' rating frequencies
            (:meth:`init_visible_bias`) rather than zero. On MovieLens 100k this
            made the test RMSE worse after 20 epochs (0.993 against 0.969 from
            zero): the hidden units then have less to explain early on.
        """
        from ..train import fit as _fit

        if isinstance(R, RatingMatrix) and isinstance(validation, RatingMatrix):
            check_aligned(R, validation, f"{type(self).__name__}.fit(validation=)")
        shapes = [tuple(M.shape) for M in map(as_tensor, (validation, R)) if isinstance(M, torch.Tensor)]
        if len(shapes) == 2 and shapes[0] != shapes[1]:
            raise ValueError(
                f"validation has shape {shapes[0]} but the training ratings {shapes[1]}; build both with "
                "companion.data.fold_matrices so the rows and columns align."
            )
        R = self._cases(R)
        if validation is not None:
            validation = (R, self._cases(validation))
        schedule = dict(sorted((k_schedule or {}).items()))
        for start, k in schedule.items():
            if isinstance(k, bool) or not isinstance(k, int) or k < 1 or not isinstance(start, int) or start < 0:
                raise ValueError(
                    f"k_schedule={k_schedule!r}: use {{epoch: k}} with epochs >= 0 and k a positive integer, "
                    "e.g. {0: 1, 20: 3, 40: 5}."
                )
        user_callback = fit_kwargs.pop("callback", None)

        def set_k(k: int) -> None:
            self.k = k  # config reads it, so a checkpoint rebuilds the current model

        def callback(epoch, model, history):
            for start, k in schedule.items():
                if epoch + 1 >= start:
                    set_k(k)
            return user_callback(epoch, model, history) if user_callback else False

        if 0 in schedule:
            set_k(schedule[0])
        if init_bias:
            self._init_bias_from_cases(R, 5.0)
        self._fitted = True  # from the first update on, the weights are the user's
        return _fit(self, R, epochs=epochs, lr=lr, optimizer="sgd", optimizer_kwargs=dict(momentum=momentum),
                    batch_size=batch_size, validation_data=validation, callback=callback, **fit_kwargs)

    def extra_repr(self) -> str:
        return f"n_items={self.n_items}, n_states={self.n_states}, n_hidden={self.n_hidden}, k={self.k}"


class SoftmaxRBM(_RatingRBM):
    """The K-way softmax RBM of Salakhutdinov, Mnih & Hinton (2007) for ratings 1..K.

    Parameters
    ----------
    n_items : int
        Number of items (columns of the rating matrix).
    n_hidden : int
        Binary hidden units (the paper uses 100).
    k : int
        Gibbs steps of CD-k; raise it during training with ``fit(k_schedule=...)``.
    weight_cost : float
        L2 penalty ``weight_cost/2 ||W||^2`` on the weights (the paper's 0.001).
    n_levels : int
        K, the number of rating values (5 for MovieLens).
    per_item : bool
        Average each item's weight and bias statistics over the users in the
        batch who rated it, instead of over the whole batch (an adaptive step
        per item; off by default, since on MovieLens it drove the hidden
        units off).

    Attributes
    ----------
    W : (n_levels, n_items, n_hidden);  b : (n_levels, n_items);  c : (n_hidden,)
    """

    def __init__(self, n_items: int, n_hidden: int = 100, *, n_levels: int = 5, **kwargs):
        self.n_states = n_levels
        super().__init__(n_items, n_hidden, n_levels=n_levels, **kwargs)

    def encode(self, ratings: torch.Tensor) -> torch.Tensor:
        """One-hot states: ``V[n, k, i] = 1`` iff user n gave item i rating k + 1; all zero if unrated."""
        levels = torch.arange(1, self.n_states + 1, device=ratings.device, dtype=ratings.dtype)
        return (ratings.unsqueeze(1) == levels[:, None]).to(self.W.dtype)

    def visible_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over the K rating states of each item; each item's K probabilities sum to 1."""
        return torch.softmax(logits, dim=1)

    def sample_states(self, probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # inverse-CDF draw: one uniform per item instead of torch.multinomial's per-row overhead
        u = torch.rand(len(probs), 1, probs.shape[2], generator=generator, device=probs.device, dtype=probs.dtype)
        index = (probs.cumsum(1) < u).sum(1, keepdim=True).clamp_max(self.n_states - 1)
        return torch.zeros_like(probs).scatter_(1, index, 1.0)

    def _point(self, probs: torch.Tensor) -> torch.Tensor:
        """The expected rating :math:`\\sum_k k\\, p(V_{kq} = 1 \\mid \\hat p)`, shape (N, n_items)."""
        levels = torch.arange(1, self.n_states + 1, device=probs.device, dtype=probs.dtype)
        return (probs * levels[:, None]).sum(1)

    @torch.no_grad()
    def predict_exact(self, R, batch_size: int = 16) -> torch.Tensor:
        """Expected ratings from the exact conditional, summing the hidden units out (the paper's eq. 5).

        .. math:: p(V_{kq} = 1 \\mid V) \\propto \\exp(b_{kq})
                  \\prod_j \\big(1 + \\exp(c_j + \\textstyle\\sum_{li} V_{li} W_{lij} + W_{kqj})\\big)

        for an item q the user did not rate. For an item the user did rate, its
        own rating is left out of the evidence first, so the prediction is
        :math:`p(V_{kq} = 1 \\mid V_{-q})`. Costs n_items x K x n_hidden per
        user, about 20 times the mean-field :meth:`predict`. Shape (n_users, n_items), on the CPU.
        """
        def exact(chunk):
            V = self.encode(chunk)
            x = self.hidden_input(V)  # (B, F)
            own = torch.einsum("bki,kij->bij", V, self.W)  # (B, items, F): each rated item's own input
            scores = self.b + F.softplus((x[:, None, :] - own)[:, None] + self.W).sum(-1)  # (B, K, items)
            return self._point(torch.softmax(scores, 1))

        return self._as_ratings(batched_apply(self, exact, self._cases(R), batch_size))


class BinaryRatingRBM(_RatingRBM):
    """Like/dislike RBM of the source material: one logistic visible unit per item.

    A rating ``>= threshold`` is "like" (1), a lower one "dislike" (0), and
    an unrated item is absent from the user's RBM, which the source emulated
    by writing -1 into the data (and then, wrongly, let into the statistics).
    ``predict`` returns p(like) for every item.
    """

    def __init__(self, n_items: int, n_hidden: int = 100, *, threshold: int = 3, **kwargs):
        super().__init__(n_items, n_hidden, **kwargs)
        if not 1 < threshold <= self.n_levels:
            raise ValueError(f"threshold must be in 2..{self.n_levels}, got {threshold}.")
        self.threshold = threshold

    def encode(self, ratings: torch.Tensor) -> torch.Tensor:
        """``v_i = 1`` for a like (rating >= threshold), 0 for a dislike or no rating; shape (N, 1, n_items)."""
        return (ratings >= self.threshold).to(self.W.dtype).unsqueeze(1)

    def visible_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """:math:`p(v_i = 1 \\mid h) = \\sigma(b_i + \\sum_j W_{ij} h_j)`."""
        return torch.sigmoid(logits)

    def sample_states(self, probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return bernoulli(probs, generator)

    def _point(self, probs: torch.Tensor) -> torch.Tensor:
        """p(like), shape (N, n_items)."""
        return probs[:, 0]

    def _target(self, R: torch.Tensor) -> torch.Tensor:
        return (R >= self.threshold).to(self.W.dtype)
