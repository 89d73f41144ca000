"""Restricted Boltzmann machines with binary hidden units, trained by CD-k or PCD.

The Bernoulli RBM has the energy

.. math:: E(v, h) = -b^\\top v - c^\\top h - v^\\top W h,
          \\qquad v \\in \\{0,1\\}^{n_v},\\ h \\in \\{0,1\\}^{n_h},

with ``W`` of shape (n_visible, n_hidden), visible biases ``b`` and hidden
biases ``c``. Summing out the hidden units gives the free energy

.. math:: F(v) = -b^\\top v - \\sum_j \\operatorname{softplus}(c_j + v^\\top W_{:j}),
          \\qquad p(v) = e^{-F(v)} / Z .

Training goes through :func:`companion.fit`. :meth:`BernoulliRBM.loss` returns
the contrastive-divergence surrogate ``mean F(v_data) - mean F(v_model)`` with
the negative sample held fixed, so autograd gives exactly the CD/PCD update
(data statistics minus model statistics); a plain SGD step with momentum is
Hinton's (2012) recipe. The chain, the penalties and the monitoring are the
core's (:mod:`companion.models.rbm_base`), which :class:`GaussianBernoulliRBM`
(:mod:`companion.models.rbm_real`) and :class:`SpikeSlabRBM`
(:mod:`companion.models.spike_slab`) share with this class.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from ..checks import check_unit_batch, converts_input
from ..likelihood import rbm_log_partition
from ..utils import given_gradients
from .rbm_base import RBM, bernoulli  # noqa: F401  (bernoulli: imported from here by dbm, updown, benchmarks)


class BernoulliRBM(RBM):
    """Binary-binary restricted Boltzmann machine; the parameters are :class:`~companion.models.rbm_base.RBM`'s.

    Parameters
    ----------
    n_visible, n_hidden : int
    k, persistent, n_chains, weight_cost, sparsity_target, sparsity_cost, sparsity_decay, init_std
        As :class:`~companion.models.rbm_base.RBM` (CD-k or PCD, penalties, initial weights).
    """

    visible_type = "bernoulli"  # the estimators of companion.estimate rely on these two
    hidden_type = "bernoulli"

    # ------------------------------------------------------------------ equations
    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`E(v,h) = -b^\\top v - c^\\top h - v^\\top W h`, one value per row: (N,)."""
        return -(v @ self.b) - (h @ self.c) - ((v @ self.W) * h).sum(1)

    def _free_energy(self, v: torch.Tensor, hidden_input: torch.Tensor) -> torch.Tensor:
        """:math:`F(v) = -b^\\top v - \\sum_j \\operatorname{softplus}(c_j + (v^\\top W)_j)` given the hidden input."""
        # the hidden input is shared with the Gibbs step in loss(), saving a matmul
        return -(v @ self.b) - self._hidden_log_partition(hidden_input).sum(1)

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """:math:`p(v_i = 1 \\mid h) = \\sigma(b_i + (W h)_i)`, shape (N, n_visible)."""
        return torch.sigmoid(self.visible_input(h))

    def sample_v(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A sample of v given h, shape (N, n_visible)."""
        return self._visible_sample(self.p_v_given_h(h), generator)

    def _visible_sample(self, p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        # a hook: the labelled top RBM of a DBN draws its label group as one softmax
        return bernoulli(p, generator)

    # ------------------------------------------------------------------ checks
    def check_batch(self, v: torch.Tensor, values: bool | None = None) -> None:
        """Shape (N, n_visible), finite, and in [0, 1] (probabilities or binary values)."""
        check_unit_batch(v, self.n_visible, type(self).__name__, values,
                         hint=", or use GaussianBernoulliRBM for real-valued data")

    @torch.no_grad()
    def init_visible_bias(self, X: torch.Tensor, eps: float = 1e-3) -> "BernoulliRBM":
        """Set ``b_i = log(p_i / (1 - p_i))`` from the pixel means (Hinton 2012, section 8)."""
        self.check_batch(X, values=True)
        p = X.to(self.b).mean(0).clamp(eps, 1 - eps)
        self.b.copy_(torch.log(p) - torch.log1p(-p))
        return self

    def _chain_start(self, n: int, like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """PCD's first fantasy particles: uniform random bits, (n, n_visible), in ``like``'s dtype and device."""
        return bernoulli(like.new_full((n, self.n_visible), 0.5), generator)

    # ------------------------------------------------------------------ training
    @converts_input
    def loss(self, batch, generator: torch.Generator | None = None, monitor: bool = True
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The CD/PCD surrogate whose gradient is the likelihood-gradient estimate.

        The chain draws its random numbers from ``generator`` (the one :func:`companion.fit`
        seeds with its ``seed``), or from torch's global generator when it is None.

        .. math:: \\mathcal L = \\frac1N \\sum_n F(v_n) - \\frac1M \\sum_m F(\\tilde v_m),
                  \\qquad -\\frac{\\partial \\mathcal L}{\\partial W} =
                  \\langle v h^\\top \\rangle_{\\text{data}} - \\langle v h^\\top \\rangle_{\\text{model}},

        with the negative samples :math:`\\tilde v` treated as constants. In
        eval mode (``evaluate``, validation) no chain is advanced and the loss
        is the mean-field reconstruction error instead.

        Metrics: ``recon`` (squared error per example, summed over pixels,
        between the batch and its first reconstruction's probabilities: with
        CD in training from a *sampled* hidden state, which the update needs
        anyway; in eval mode, and with PCD, whose chains are no reconstructions
        of the batch, from the hidden probabilities, which is deterministic and
        somewhat lower, so compare ``val_recon`` with itself over epochs; with
        PCD it costs half a Gibbs step more, so it is a callable that ``fit``
        evaluates on the batches it monitors only) and ``free_energy`` (mean F
        of the batch; compare train and held-out to see overfitting).

        ``monitor=False`` skips what only measures: the free energies, whose
        difference is the value, and the metrics. The loss then has the same
        gradient but a NaN value, and the metrics are empty; :func:`companion.fit`
        asks for that on the batches it does not record (nine in ten), which
        saves two softplus passes per update.
        """
        v0 = batch[0] if isinstance(batch, tuple) else batch
        self.check_batch(v0, values=False)  # fit checked the values of the whole set once
        if not self.training:
            with torch.no_grad():
                pre0 = self.hidden_input(v0)
                recon = ((v0 - self.p_v_given_h(self._hidden_mean(pre0))) ** 2).sum(1).mean()
                return recon, {"recon": recon, "free_energy": self._free_energy(v0, pre0).mean()}
        with torch.no_grad():
            pre0 = self.hidden_input(v0)
            p_h0 = self._hidden_mean(pre0)
            persistent = self.persistent  # PCD's chains do not start at the data: no h0 to draw
            v_neg, first = self.negative_chain(v0, None if persistent else self._hidden_sample(p_h0, generator),
                                               generator)
            pre_neg = self.hidden_input(v_neg)
            p_h_neg = self._hidden_mean(pre_neg)
            self._negative_hidden(p_h_neg)
            # dF(v)/dW = -v p(h|v)^T, so the surrogate's gradient is -(data - model) statistics
            # (out of place: under autocast, which casts addmm's inputs, an in-place addmm_ would mix dtypes)
            n, m = len(v0), len(v_neg)
            grad_W = torch.addmm(v_neg.t() @ p_h_neg, v0.t(), p_h0, beta=1 / m, alpha=-1 / n)
            grad_b = v_neg.mean(0) - v0.mean(0)
            grad_c = p_h_neg.mean(0) - p_h0.mean(0)
            if monitor:
                f0 = self._free_energy(v0, pre0).mean()
                value = f0 - self._free_energy(v_neg, pre_neg).mean()
                recon = self._recon_later(v0, p_h0) if first is None else F.mse_loss(first, v0, reduction="sum") / n
                metrics = {"recon": recon, "free_energy": f0}
            else:
                value, metrics = None, {}
        # mean F(v0) - mean F(v_neg) as a value, with exactly the statistics above as its gradient:
        # no backward pass through the chain
        loss = given_gradients(value, (self.W, self.b, self.c), (grad_W, grad_b, grad_c))
        return self._with_penalties(loss, v0), metrics

    # ------------------------------------------------------------------ monitoring
    @torch.no_grad()
    @converts_input
    def pseudo_log_likelihood(self, v: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """Pseudo-log-likelihood :math:`\\sum_i \\log p(v_i \\mid v_{-i})` per row, in nats: (N,).

        Every visible unit is flipped in turn, so the value is exact and
        deterministic (cost: n_visible free energies per row). Convention:
        summed over all units. scikit-learn's ``score_samples`` flips one
        random unit per row and multiplies by n_visible, an unbiased but random
        estimate of the same sum. Needs binary ``v``.
        """
        self.check_batch(v)
        out = []
        for start in range(0, len(v), chunk):
            x = v[start : start + chunk]
            pre = self.hidden_input(x)  # (n, h)
            f = self._free_energy(x, pre)  # (n,)
            sign = 1 - 2 * x  # +1 where a 0 becomes 1
            # F(x with unit i flipped) for every i at once: (n, v)
            pre_flip = pre[:, None, :] + sign[:, :, None] * self.W[None]
            f_flip = -(x @ self.b)[:, None] - sign * self.b - self._hidden_log_partition(pre_flip).sum(2)
            out.append(F.logsigmoid(f_flip - f[:, None]).sum(1))
        return torch.cat(out)

    def log_partition(self, chunk: int = 2**14) -> float:
        """Exact :math:`\\log Z` in float64, enumerating the smaller layer (small models only;
        :func:`companion.likelihood.rbm_log_partition`). For large models use
        :func:`companion.estimate.ais_log_partition`. Binary units only."""
        if not self.visible_type == self.hidden_type == "bernoulli":
            raise TypeError(f"{type(self).__name__} has {self.visible_type} visible and {self.hidden_type} hidden "
                            "units; log_partition enumerates binary units only. Use ais_log_partition on a "
                            "BernoulliRBM, or a model with its own exact log_partition (GaussianBernoulliRBM).")
        return rbm_log_partition(self.W, self.b, self.c, chunk)

    @torch.no_grad()
    def log_prob(self, v: torch.Tensor, log_z: float | None = None) -> torch.Tensor:
        """:math:`\\log p(v) = -F(v) - \\log Z` in nats, float64, shape (N,); ``log_z`` defaults to
        :meth:`log_partition` (pass an AIS estimate for a large model)."""
        log_z = self.log_partition() if log_z is None else float(log_z)
        model = self if self.W.dtype == torch.float64 else copy.deepcopy(self).double()
        return -model.free_energy(torch.as_tensor(v).double()) - log_z


    @torch.no_grad()
    def sample(self, n: int, steps: int = 1000, start: torch.Tensor | None = None,
               generator: torch.Generator | None = None, mean_field: bool = True) -> torch.Tensor:
        """Samples from long Gibbs chains, shape (n, n_visible).

        Chains start at ``start`` (e.g. data) or at random bits; the returned
        images are the last step's probabilities ``p(v|h)`` when ``mean_field``
        (smoother to look at), else binary samples.
        """
        if start is None:
            p = torch.full((n, self.n_visible), 0.5, device=self.W.device, dtype=self.W.dtype)
            v = bernoulli(p, generator)
        else:
            v = start.to(self.W)
            self.check_batch(v)
        for _ in range(steps - 1):
            v = self.sample_v(self.sample_h(v, generator), generator)
        h = self.sample_h(v, generator)
        return self.p_v_given_h(h) if mean_field else self.sample_v(h, generator)



class GaussianHiddenRBM(BernoulliRBM):
    """Binary visible units, linear hidden units with unit-variance Gaussian noise.

    The top RBM of Hinton & Salakhutdinov's (2006) deep autoencoder, whose 30
    code units are linear. The energy adds a quadratic term that keeps the
    hidden units finite,

    .. math:: E(v, h) = -b^\\top v - c^\\top h - v^\\top W h + \\tfrac12 \\lVert h \\rVert^2,
              \\qquad h \\in \\mathbb R^{n_h},

    so :math:`p(h \\mid v) = \\mathcal N(c + W^\\top v, I)`, :math:`p(v_i = 1 \\mid h)
    = \\sigma(b_i + (W h)_i)` and

    .. math:: F(v) = -b^\\top v - \\sum_j \\Big(\\tfrac12 (c_j + (v^\\top W)_j)^2
              + \\tfrac12 \\log 2\\pi\\Big).

    :meth:`p_h_given_v` returns the conditional *mean* of h. Everything else
    (CD-k, PCD, :func:`companion.fit`) is inherited; the linear units make the
    updates larger, which is why the paper used a learning rate 100 times
    smaller (0.001) for this layer. The exact and AIS estimators of
    :mod:`companion.estimate` are for binary hidden units and refuse it.
    """

    hidden_type = "gaussian"

    def __init__(self, n_visible: int, n_hidden: int, **kwargs):
        if kwargs.get("sparsity_target") is not None:
            raise ValueError("GaussianHiddenRBM: a sparsity target is for binary hidden units; leave it None.")
        super().__init__(n_visible, n_hidden, **kwargs)

    def _hidden_log_partition(self, hidden_input: torch.Tensor) -> torch.Tensor:
        # log of the Gaussian integral over h_j of exp(h_j x_j - h_j^2 / 2)
        return 0.5 * hidden_input**2 + 0.5 * math.log(2 * math.pi)

    def _hidden_mean(self, hidden_input: torch.Tensor) -> torch.Tensor:
        return hidden_input

    def _hidden_sample(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return mean + torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`E(v,h)` of the class docstring, one value per row: (N,)."""
        return super().energy(v, h) + 0.5 * (h**2).sum(1)
