"""Boltzmann machines for real-valued data: the shared base and the Gaussian-Bernoulli RBM.

Both real-valued RBMs (:class:`GaussianBernoulliRBM` here, Cho, Ilin & Raiko
(2011)'s parameterization with per-pixel variances learned in log space, and
:class:`~companion.models.spike_slab.SpikeSlabRBM`) keep binary hidden units and
make the visible units Gaussian given the hidden ones, so block Gibbs sampling
stays exact and cheap. They train through :func:`companion.fit` with the
contrastive-divergence surrogate ``mean F(v_data) - mean F(v_model)`` (negative
samples held fixed). Unlike :class:`~companion.models.rbm.BernoulliRBM`, whose
statistics are written out by hand for speed, these models let autograd
differentiate the free energy: every parameter, the variances included, then
gets exactly ``<dF/dθ>_data - <dF/dθ>_model``.

Both are exactly solvable when the hidden layer is small: given h the visible
units are Gaussian, so :meth:`log_partition` sums ``2^n_hidden`` Gaussian
integrals and :meth:`log_prob` gives the exact log-density in nats.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch, converts_input, require_finite
from ..likelihood import binary_states, check_enumerable, indexed_states, state_terms
from .rbm_base import RBM

_LOG_2PI = math.log(2 * math.pi)


def _softplus(x: torch.Tensor) -> torch.Tensor:
    # torch's softplus returns x itself above x = 20, an error of up to 2e-9 that float64 likelihoods would see
    return F.softplus(x, threshold=40.0)


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


class _RealValuedRBM(RBM):
    """What the two real-valued RBMs share: checks, the autograd CD loss, sampling, exact likelihood.

    Subclasses define ``_free_energy``, ``hidden_input``, ``_gibbs_step``,
    ``_chain_start`` and ``_log_partition_terms``.
    """

    visible_type = "gaussian"

    # ------------------------------------------------------------------ checks
    def check_batch(self, v: torch.Tensor, values: bool | None = None) -> None:
        """Shape (N, n_visible), floating point, finite (any real value is in the support)."""
        name = type(self).__name__
        check_batch(v, self.n_visible, name, values=False)
        if not v.is_floating_point():
            raise TypeError(f"{name} expects floating-point values, got {v.dtype}; convert with .float().")
        if values is None:
            values = v.device.type == "cpu"
        if values:
            require_finite(v, f"{name}: the batch contains",
                           "; impute or drop those rows (real-valued visible units accept any finite number)")

    @torch.no_grad()
    def init_visible_bias(self, X: torch.Tensor, eps: float = 1e-3) -> "_RealValuedRBM":
        """Set the visible biases ``b`` to the data's per-feature means (``eps`` is unused)."""
        self.check_batch(X, values=True)
        self.b.copy_(X.to(self.b).mean(0))
        return self

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, n: int, steps: int = 1000, start: torch.Tensor | None = None,
               generator: torch.Generator | None = None, mean_field: bool = True) -> torch.Tensor:
        """Samples from ``n`` Gibbs chains after ``steps`` sweeps, shape (n, n_visible).

        Chains start at ``start`` (e.g. data) or at a draw around the visible
        biases. With ``mean_field`` the last sweep returns the mean of the
        Gaussian the final v would be drawn from (noise-free, easier to look
        at); otherwise the sample itself.
        """
        if start is None:
            v = self._chain_start(n, self.W.detach(), generator)
        else:
            v = start.to(self.W)
            self.check_batch(v)
        for _ in range(steps - 1):
            v, _ = self._gibbs_step(v, generator)
        v, mean = self._gibbs_step(v, generator)
        return mean if mean_field else v

    # ------------------------------------------------------------------ training
    #: in eval mode (validation) the loss is the reconstruction error, not the CD/PCD surrogate:
    #: fit records it as val_recon, not as a val_loss that would read like the training loss
    eval_loss_name = "recon"

    @converts_input
    def loss(self, batch, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The CD/PCD surrogate ``mean F(v_data) - mean F(v_neg)``, differentiated by autograd.

        The negative samples come from :meth:`negative_chain` without
        gradient, so the gradient of the surrogate for any parameter θ is

        .. math:: \\Big\\langle \\frac{\\partial F}{\\partial\\theta}\\Big\\rangle_{\\text{data}}
                  - \\Big\\langle \\frac{\\partial F}{\\partial\\theta}\\Big\\rangle_{\\text{model}},

        the usual estimate of the negative log-likelihood gradient, for the
        variance parameters as much as for the weights. In eval mode the loss
        is the deterministic reconstruction error instead.

        Metrics: ``recon`` (squared error per example, summed over features,
        between the batch and the mean of the first Gibbs sweep's visible
        conditional; in eval mode :meth:`reconstruct`), ``free_energy``
        (mean F of the batch) and ``sigma`` (the mean visible standard
        deviation of the model, :meth:`visible_std`).
        """
        v0 = batch[0] if isinstance(batch, tuple) else batch
        self.check_batch(v0, values=False)  # fit checked the values of the whole set once
        if not self.training:
            with torch.no_grad():
                recon = ((v0 - self.reconstruct(v0)) ** 2).sum(1).mean()
                return recon, {"recon": recon, "free_energy": self.free_energy(v0).mean(),
                               "sigma": self.visible_std().mean()}
        with torch.no_grad():
            v_neg, first = self.negative_chain(v0, generator=generator)
            # PCD: the chains are no reconstructions of the batch; measured on the monitored batches only
            recon = ((v0 - first) ** 2).sum(1).mean() if first is not None else self._recon_later(v0)
        pre0 = self.hidden_input(v0)
        f0 = self._free_energy(v0, pre0).mean()
        loss = self._with_penalties(f0 - self.free_energy(v_neg).mean(), v0, pre0)
        return loss, {"recon": recon, "free_energy": f0.detach(), "sigma": self.visible_std().detach().mean()}

    # ------------------------------------------------------------------ exact likelihood
    def _log_partition_terms(self, h: torch.Tensor) -> torch.Tensor:
        """``log`` of the integral of ``exp(-E)`` over v (and the slabs, if any), for each row of ``h``: (M,).

        Up to a constant these are ``log p(h)``; their log-sum-exp over all h is ``log Z``.
        """
        raise NotImplementedError

    @torch.no_grad()
    def log_partition(self, chunk: int = 2**12) -> float:
        """Exact :math:`\\log Z` in float64, summing a closed-form Gaussian integral over all 2^n_hidden h.

        Refused above :data:`companion.likelihood.MAX_EXACT_UNITS` hidden units.
        """
        check_enumerable(self.n_hidden, "exact log Z", "Use a smaller hidden layer for exact likelihoods")
        return torch.logsumexp(self.double_view()._all_log_partition_terms(chunk), 0).item()

    def _all_log_partition_terms(self, chunk: int) -> torch.Tensor:
        """:meth:`_log_partition_terms` of all 2^n_hidden states, in order, computed ``chunk`` at a time."""
        return state_terms(self.n_hidden, self._log_partition_terms, chunk, device=self.W.device, dtype=self.W.dtype)

    @torch.no_grad()
    def sample_exact(self, n: int, generator: torch.Generator | None = None, mean_field: bool = False,
                     chunk: int = 2**12) -> tuple[torch.Tensor, torch.Tensor]:
        """Independent exact samples by ancestral sampling: h from p(h), then v from p(v | h).

        Possible because :meth:`log_partition`'s terms are the unnormalized
        log p(h) of every hidden state; refused above :data:`companion.likelihood.MAX_EXACT_UNITS`.
        With ``mean_field`` the returned v is the mean of p(v | h) instead of
        a draw. The generator, if given, must be a CPU generator.

        Returns
        -------
        v : (n, n_visible), h : (n, n_hidden), in the model's dtype
        """
        check_enumerable(self.n_hidden, "exact sampling", "Use gibbs() or sample() instead")
        model = self.double_view(torch.device("cpu"))
        terms = model._all_log_partition_terms(chunk)
        index = torch.multinomial(torch.softmax(terms, 0), n, replacement=True, generator=generator)
        h = indexed_states(index, self.n_hidden, torch.float64)
        v, mean = model._sample_v_given_h(h, generator)
        out = mean if mean_field else v
        return out.to(self.W), h.to(self.W)

    def _sample_v_given_h(self, h: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """A draw from p(v | h) (hidden slabs, if any, integrated out) and its mean."""
        raise NotImplementedError

    def double_view(self, device: torch.device | None = None) -> "_RealValuedRBM":
        """This model if it is float64 (and on ``device``), else a float64 copy there; for exact computations."""
        if self.W.dtype == torch.float64 and (device is None or self.W.device == device):
            return self
        return copy.deepcopy(self).to(device=device or self.W.device, dtype=torch.float64)

    @torch.no_grad()
    def log_prob(self, v: torch.Tensor, log_z: float | None = None) -> torch.Tensor:
        """Exact log-density :math:`\\log p(v) = -F(v) - \\log Z` in nats, float64, shape (N,).

        ``log_z`` may be passed to reuse one :meth:`log_partition` for several batches.
        """
        self.check_batch(v)
        model = self.double_view()
        log_z = model.log_partition() if log_z is None else log_z
        return (-model.free_energy(v.to(model.W.device, torch.float64)) - log_z).to(v.device)


class GaussianBernoulliRBM(_RealValuedRBM):
    """Gaussian visible units, binary hidden units: Cho, Ilin & Raiko's (2011) parameterization.

    Energy, with :math:`\\sigma_i^2 = e^{z_i}`,

    .. math:: E(v, h) = \\sum_i \\frac{(v_i - b_i)^2}{2\\sigma_i^2} - \\sum_j c_j h_j
              - \\sum_{i,j} \\frac{v_i}{\\sigma_i^2} W_{ij} h_j ,
              \\qquad v \\in \\mathbb R^{n_v},\\ h \\in \\{0,1\\}^{n_h},

    whose conditionals are

    .. math:: p(h_j = 1 \\mid v) = \\operatorname{sigmoid}\\Big(c_j + \\sum_i \\frac{v_i}{\\sigma_i^2} W_{ij}\\Big),
              \\qquad p(v_i \\mid h) = \\mathcal N\\Big(b_i + \\sum_j W_{ij} h_j,\\ \\sigma_i^2\\Big),

    and free energy

    .. math:: F(v) = -\\log \\sum_h e^{-E(v,h)} = \\sum_i \\frac{(v_i - b_i)^2}{2\\sigma_i^2}
              - \\sum_j \\operatorname{softplus}\\Big(c_j + \\sum_i \\frac{v_i}{\\sigma_i^2} W_{ij}\\Big).

    Marginally, :math:`p(v)` is a mixture of :math:`2^{n_h}` Gaussians with the
    same diagonal covariance :math:`\\operatorname{diag}(\\sigma^2)` and means
    :math:`b + W h`: hidden units move the mean, never the shape.

    Parameters
    ----------
    n_visible, n_hidden : int
    learn_sigma : bool
        Learn the per-feature variances (through ``log_var`` = z) or keep
        them fixed at ``sigma**2``.
    sigma : float
        Initial (or fixed) standard deviation of every visible unit.
    k, persistent, n_chains, weight_cost, sparsity_target, sparsity_cost, sparsity_decay, init_std
        As in :class:`~companion.models.rbm.BernoulliRBM`.

    Attributes
    ----------
    W : (n_visible, n_hidden); b : (n_visible,); c : (n_hidden,)
    log_var : (n_visible,)
        :math:`z = \\log\\sigma^2`; a parameter when ``learn_sigma``, else a buffer.

    Notes
    -----
    **Why a fixed σ = 1 on unstandardized data is fragile.** The energy
    measures every feature in units of σ. If the data vary on a scale much
    larger than 1, the hidden inputs :math:`v W/\\sigma^2` are huge, the hidden
    units saturate, and the gradients grow with the scale, so a learning rate
    that is fine for standardized data makes training diverge.
    If the data vary on a scale much smaller than 1, every Gaussian of the
    mixture is wider than the data themselves: the model cannot represent
    structure finer than σ, and its samples are dominated by noise. Hence the
    usual advice (Hinton 2012, section 13.2): standardize every feature, then
    fix σ = 1, or learn it.

    **Why learn z = log σ² rather than σ.** The derivative of F with respect to
    σ contains :math:`(v_i - b_i)^2/\\sigma_i^3`, so a small σ gives an enormous
    gradient and a single step can push σ to zero or below, where the energy
    is undefined (NaN) or unbounded below. In log space every real z is a
    valid variance, steps change σ by a factor rather than by an amount, and

    .. math:: \\frac{\\partial F}{\\partial z_i} = -\\frac{(v_i - b_i)^2}{2\\sigma_i^2}
              + \\frac{v_i}{\\sigma_i^2} \\sum_j W_{ij}\\, p(h_j = 1 \\mid v)

    is measured in units of σ, i.e. scale-free. Writing the interaction as
    :math:`v_i/\\sigma_i^2` (Cho et al.) rather than the older
    :math:`v_i/\\sigma_i` also keeps the mean of :math:`p(v \\mid h)`,
    :math:`b + W h`, independent of σ, so learning σ does not move the
    reconstructions.
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        learn_sigma: bool = True,
        sigma: float = 1.0,
        **kwargs,
    ):
        super().__init__(n_visible, n_hidden, **kwargs)
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
        self.learn_sigma, self.sigma = bool(learn_sigma), float(sigma)
        log_var = torch.full((n_visible,), 2.0 * math.log(sigma))
        if learn_sigma:
            self.log_var = nn.Parameter(log_var)
        else:
            self.register_buffer("log_var", log_var)

    # ------------------------------------------------------------------ equations
    def visible_std(self) -> torch.Tensor:
        """:math:`\\sigma = e^{z/2}`, shape (n_visible,)."""
        return torch.exp(0.5 * self.log_var)

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """``c + (v / σ²) W``: (N, n_visible) -> (N, n_hidden)."""
        return torch.addmm(self.c, v * torch.exp(-self.log_var), self.W)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`E(v,h) = \\sum_i (v_i-b_i)^2/2\\sigma_i^2 - c^\\top h - \\sum_{ij} (v_i/\\sigma_i^2) W_{ij} h_j`: (N,)."""
        precision = torch.exp(-self.log_var)
        return 0.5 * (((v - self.b) ** 2) * precision).sum(1) - h @ self.c \
            - (((v * precision) @ self.W) * h).sum(1)

    def _free_energy(self, v: torch.Tensor, hidden_input: torch.Tensor) -> torch.Tensor:
        return 0.5 * (((v - self.b) ** 2) * torch.exp(-self.log_var)).sum(1) - _softplus(hidden_input).sum(1)

    @converts_input
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`F(v) = \\sum_i (v_i-b_i)^2/2\\sigma_i^2 - \\sum_j \\operatorname{softplus}(c_j + \\sum_i v_i W_{ij}/\\sigma_i^2)`: (N,)."""
        return self._free_energy(v, self.hidden_input(v))

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """Mean of :math:`p(v \\mid h) = \\mathcal N(b + W h, \\operatorname{diag}\\sigma^2)`: (N, n_visible).

        The standard deviation is :meth:`visible_std`, the same for every h.
        """
        return self.visible_input(h)

    def sample_v(self, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw from :math:`\\mathcal N(b + W h, \\operatorname{diag}\\sigma^2)`: (N, n_visible)."""
        mean = self.p_v_given_h(h)
        return mean + self.visible_std() * _randn_like(mean, generator)

    # ------------------------------------------------------------------ sampling
    def _chain_start(self, n, like, generator=None):
        mean = self.b.detach().to(like).expand(n, -1)
        return mean + self.visible_std().detach().to(like) * _randn_like(mean, generator)

    def _gibbs_step(self, v, generator=None, h=None):
        if h is None:
            h = self.sample_h(v, generator)
        mean = self.p_v_given_h(h)
        return mean + self.visible_std() * _randn_like(mean, generator), mean

    def _sample_v_given_h(self, h, generator=None):
        mean = self.p_v_given_h(h)
        return mean + self.visible_std() * _randn_like(mean, generator), mean

    # ------------------------------------------------------------------ exact likelihood
    def _log_partition_terms(self, h: torch.Tensor) -> torch.Tensor:
        # ∫ exp(-E) dv = prod_i sqrt(2π σ_i²) · exp(c·h + Σ_i ((b_i + (Wh)_i)² - b_i²) / 2σ_i²)
        precision = torch.exp(-self.log_var)
        mean = self.visible_input(h)
        const = 0.5 * (self.log_var + _LOG_2PI).sum()
        return const + h @ self.c + 0.5 * ((mean**2 - self.b**2) * precision).sum(1)

    @torch.no_grad()
    def mixture(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:math:`p(v)` as the mixture it is: log weights (2^n_h,), means (2^n_h, n_v), variances (n_v,).

        Every hidden state h is one component, :math:`\\mathcal N(b + Wh, \\operatorname{diag}\\sigma^2)`,
        with weight :math:`p(h)`. For small hidden layers only (float64).
        """
        model = self.double_view()
        check_enumerable(self.n_hidden, "the mixture view (one component per hidden state)")
        h = binary_states(self.n_hidden, device=model.W.device, dtype=model.W.dtype)
        terms = model._log_partition_terms(h)
        return terms - torch.logsumexp(terms, 0), model.visible_input(h), torch.exp(model.log_var)

    def extra_repr(self) -> str:
        sigma = "learned σ" if self.learn_sigma else f"σ={self.sigma:g} fixed"
        return f"{super().extra_repr()}, {sigma}"
