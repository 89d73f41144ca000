"""Boltzmann machines for real-valued data: the Gaussian-Bernoulli RBM and the spike-and-slab RBM.

Both keep binary hidden units and make the visible units Gaussian given the
hidden ones, so block Gibbs sampling stays exact and cheap, and both are
trained through :func:`companion.fit` with the contrastive-divergence
surrogate ``mean F(v_data) - mean F(v_model)`` (negative samples held fixed).
Unlike :class:`~companion.models.rbm.BernoulliRBM`, whose statistics are
written out by hand for speed, these models let autograd differentiate the
free energy: every parameter, the variances included, then gets exactly
``<dF/dθ>_data - <dF/dθ>_model``.

* :class:`GaussianBernoulliRBM`: Cho, Ilin & Raiko (2011)'s parameterization
  with per-pixel variances learned in log space.
* :class:`SpikeSlabRBM`: the mu-ssRBM of Courville, Bergstra & Bengio (2011),
  one real-valued slab per binary spike, with a constraint that makes the
  joint density normalizable for every parameter value.

Both models are exactly solvable when the hidden layer is small: given h the
visible units are Gaussian, so :meth:`log_partition` sums ``2^n_hidden``
Gaussian integrals and :meth:`log_prob` gives the exact log-density in nats.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import converts_input
from ..checks import check_batch, require_finite
from .rbm import BernoulliRBM

MAX_EXACT_HIDDEN = 20
_LOG_2PI = math.log(2 * math.pi)


def _softplus(x: torch.Tensor) -> torch.Tensor:
    # torch's softplus returns x itself above x = 20, an error of up to 2e-9 that float64 likelihoods would see
    return F.softplus(x, threshold=40.0)


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def _hidden_states(n: int, start: int, stop: int, like: torch.Tensor) -> torch.Tensor:
    """Rows ``start..stop-1`` of all 2^n binary vectors (bit j of row r is (r >> j) & 1)."""
    rows = torch.arange(start, stop, device=like.device)
    return ((rows[:, None] >> torch.arange(n, device=like.device)) & 1).to(like.dtype)


class _RealValuedRBM(BernoulliRBM):
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

    @converts_input
    def pseudo_log_likelihood(self, v: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has continuous visible units, for which the pseudo-likelihood "
            "needs a 1-D integral per unit; use log_prob (exact, small hidden layers) or the "
            "reconstruction error and free-energy gap instead."
        )

    # ------------------------------------------------------------------ sampling
    def _chain_start(self, n: int, like: torch.Tensor, generator=None) -> torch.Tensor:
        raise NotImplementedError

    def _gibbs_step(self, v: torch.Tensor, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """One sweep v -> (hidden variables) -> v; returns the new v and the mean it was drawn around."""
        raise NotImplementedError

    @torch.no_grad()
    def gibbs(self, v: torch.Tensor, k: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Run ``k`` sweeps of block Gibbs sampling from ``v``; returns the last (sampled) v."""
        self.check_batch(v)
        for _ in range(k):
            v, _ = self._gibbs_step(v, generator)
        return v

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

    def negative_chain(self, v0: torch.Tensor, h0: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The negative sample: ``k`` sweeps from the data (CD-k) or from the persistent chains (PCD).

        Returns the sample (real draws from the Gaussian conditionals, never
        their means: the variance parameters learn from the spread of these
        samples) and the mean of the first sweep's visible conditional, a
        reconstruction of ``v0`` (None with PCD).
        """
        persistent = self.config["persistent"]
        if persistent:
            n = self.config["n_chains"] or len(v0)
            if self.chains.shape != (n, self.n_visible) or self.chains.dtype != v0.dtype \
                    or self.chains.device != v0.device:
                self.chains = self._chain_start(n, v0)
            v = self.chains
        else:
            v = v0
        first = None
        for step in range(self.config["k"]):
            v, mean = self._gibbs_step(v)
            if step == 0:
                first = mean
        if persistent:
            self.chains = v
            first = None
        return v, first

    # ------------------------------------------------------------------ training
    @converts_input
    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
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
            v_neg, first = self.negative_chain(v0)
            if first is None:
                first = self.reconstruct(v0)
            recon = ((v0 - first) ** 2).sum(1).mean()
        pre0 = self.hidden_input(v0)
        f0 = self._free_energy(v0, pre0).mean()
        loss = f0 - self.free_energy(v_neg).mean()
        if self.config["weight_cost"]:
            loss = loss + 0.5 * self.config["weight_cost"] * (self.W**2).sum()
        if self.config["sparsity_target"] is not None and self.config["sparsity_cost"]:
            loss = loss + self._sparsity_penalty(torch.sigmoid(pre0))
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

        Refused above ``MAX_EXACT_HIDDEN`` = 20 hidden units.
        """
        if self.n_hidden > MAX_EXACT_HIDDEN:
            raise ValueError(
                f"exact log Z enumerates 2^{self.n_hidden} hidden states; at most "
                f"2^{MAX_EXACT_HIDDEN} are allowed. Use a smaller hidden layer for exact likelihoods."
            )
        return torch.logsumexp(self.double_view()._all_log_partition_terms(chunk), 0).item()

    def _all_log_partition_terms(self, chunk: int) -> torch.Tensor:
        """:meth:`_log_partition_terms` of all 2^n_hidden states, in order, computed ``chunk`` at a time."""
        total = 2**self.n_hidden
        return torch.cat([
            self._log_partition_terms(_hidden_states(self.n_hidden, start, min(start + chunk, total), self.W))
            for start in range(0, total, chunk)
        ])

    @torch.no_grad()
    def sample_exact(self, n: int, generator: torch.Generator | None = None, mean_field: bool = False,
                     chunk: int = 2**12) -> tuple[torch.Tensor, torch.Tensor]:
        """Independent exact samples by ancestral sampling: h from p(h), then v from p(v | h).

        Possible because :meth:`log_partition`'s terms are the unnormalized
        log p(h) of every hidden state; refused above ``MAX_EXACT_HIDDEN``.
        With ``mean_field`` the returned v is the mean of p(v | h) instead of
        a draw. The generator, if given, must be a CPU generator.

        Returns
        -------
        v : (n, n_visible), h : (n, n_hidden), in the model's dtype
        """
        if self.n_hidden > MAX_EXACT_HIDDEN:
            raise ValueError(f"exact sampling enumerates 2^{self.n_hidden} hidden states; at most "
                             f"2^{MAX_EXACT_HIDDEN} are allowed.")
        model = self.double_view(torch.device("cpu"))
        terms = model._all_log_partition_terms(chunk)
        index = torch.multinomial(torch.softmax(terms, 0), n, replacement=True, generator=generator)
        h = ((index[:, None] >> torch.arange(self.n_hidden)) & 1).double()
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
        k: int = 1,
        persistent: bool = False,
        n_chains: int | None = None,
        weight_cost: float = 0.0,
        sparsity_target: float | None = None,
        sparsity_cost: float = 0.0,
        sparsity_decay: float = 0.95,
        init_std: float = 0.01,
    ):
        super().__init__(
            n_visible, n_hidden, k=k, persistent=persistent, n_chains=n_chains, weight_cost=weight_cost,
            sparsity_target=sparsity_target, sparsity_cost=sparsity_cost, sparsity_decay=sparsity_decay,
            init_std=init_std,
        )
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not math.isfinite(sigma) or sigma <= 0:
            raise ValueError(f"sigma must be a positive number, got {sigma!r}.")
        self.config.update(learn_sigma=bool(learn_sigma), sigma=float(sigma))
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

    @torch.no_grad()
    @converts_input
    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """Mean-field reconstruction :math:`b + W\\,p(h \\mid v)` (no sampling): (N, n_visible)."""
        self.check_batch(v)
        return self.p_v_given_h(self.p_h_given_v(v))

    # ------------------------------------------------------------------ sampling
    def _chain_start(self, n, like, generator=None):
        mean = self.b.detach().to(like).expand(n, -1)
        return mean + self.visible_std().detach().to(like) * _randn_like(mean, generator)

    def _gibbs_step(self, v, generator=None):
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
        if self.n_hidden > MAX_EXACT_HIDDEN:
            raise ValueError(f"{2 ** self.n_hidden} mixture components is too many to list.")
        h = _hidden_states(self.n_hidden, 0, 2**self.n_hidden, model.W)
        terms = model._log_partition_terms(h)
        return terms - torch.logsumexp(terms, 0), model.visible_input(h), torch.exp(model.log_var)

    def extra_repr(self) -> str:
        sigma = "learned σ" if self.config["learn_sigma"] else f"σ={self.config['sigma']:g} fixed"
        return f"{super().extra_repr()}, {sigma}"


class SpikeSlabRBM(_RealValuedRBM):
    """The mu-spike-and-slab RBM (Courville, Bergstra & Bengio 2011), one scalar slab per spike.

    Each hidden unit j has a binary *spike* :math:`h_j` and a real *slab*
    :math:`s_j`. With :math:`w_j` the j-th column of W, diagonal precisions
    :math:`\\Lambda = \\operatorname{diag}(\\lambda)` on v and
    :math:`\\Phi_j = \\operatorname{diag}(\\phi_{:j})` switched on by :math:`h_j`,
    slab precisions :math:`\\alpha_j > 0` and slab means :math:`\\mu_j`, the energy is

    .. math:: E(v,s,h) = \\tfrac12 v^\\top\\Big(\\Lambda + \\sum_j h_j\\Phi_j\\Big)v - b^\\top v
              - \\sum_j h_j s_j\\, w_j^\\top v
              + \\sum_j \\tfrac{\\alpha_j}{2}\\,(s_j - \\mu_j h_j)^2 - \\sum_j c_j h_j ,

    where the slab term expands (using :math:`h_j^2 = h_j`) to the paper's
    :math:`\\tfrac12\\alpha_j s_j^2 - \\alpha_j\\mu_j s_j h_j + \\tfrac12\\alpha_j\\mu_j^2 h_j`.
    The conditionals, all used by block Gibbs sampling v → h → s → v:

    .. math:: p(h_j = 1 \\mid v) = \\operatorname{sigmoid}\\Big(c_j + \\mu_j\\, w_j^\\top v
              + \\frac{(w_j^\\top v)^2}{2\\alpha_j} - \\tfrac12 v^\\top\\Phi_j v\\Big)
              \\quad\\text{(s integrated out)},

    .. math:: p(s_j \\mid v, h) = \\mathcal N\\big(h_j(\\mu_j + w_j^\\top v/\\alpha_j),\\ 1/\\alpha_j\\big),
              \\qquad p(v \\mid s, h) = \\mathcal N\\big(C_h^{-1}(b + W(s\\odot h)),\\ C_h^{-1}\\big),
              \\quad C_h = \\Lambda + \\sum_j h_j \\Phi_j \\ \\text{(diagonal)},

    and the free energy

    .. math:: F(v) = -\\log\\sum_h\\int e^{-E(v,s,h)}\\,ds = \\tfrac12 v^\\top\\Lambda v - b^\\top v
              - \\sum_j \\operatorname{softplus}(\\text{input}_j(v)) - \\sum_j \\tfrac12\\log\\frac{2\\pi}{\\alpha_j}.

    **Normalizability.** Integrating s out leaves, for each h, a Gaussian in v
    with precision :math:`P_h = \\Lambda + \\sum_j h_j(\\Phi_j - w_j w_j^\\top/\\alpha_j)`
    (:meth:`visible_precision`). The model is a proper density only if every
    :math:`P_h` is positive definite. The paper adds the :math:`\\Phi_j` term
    so that this can be guaranteed; here it *is* guaranteed, for every value
    of the free parameters, by tying the slab precision to the other parameters:

    .. math:: \\alpha_j = w_j^\\top \\Phi_j^{-1} w_j + e^{\\gamma_j}
              = \\sum_i \\frac{W_{ij}^2}{\\phi_{ij}} + e^{\\gamma_j} .

    Then :math:`w_j^\\top\\Phi_j^{-1}w_j < \\alpha_j`, which is exactly the
    condition for :math:`\\Phi_j - w_j w_j^\\top/\\alpha_j` to be positive
    semi-definite, so :math:`P_h \\succeq \\Lambda \\succ 0` for every h.

    Differences from the paper's model, all deliberate: one scalar slab per
    spike (the paper allows a vector of slabs per spike, pooled); the
    constraint on α above (the paper leaves α, Φ free and relies on their
    values); a visible bias b (the paper has none: its data are centred; b = 0
    recovers it); Λ is learned (the paper's code fixes it).

    Parameters
    ----------
    n_visible, n_hidden : int
    lambda_init : float
        Initial visible precision λ (1 suits standardized data).
    phi_init : float, optional
        Initial entries of Φ; default ``1 / n_visible``, so that switching a
        spike on costs about half a unit of energy on standardized data.
    alpha_margin_init : float
        Initial :math:`e^{\\gamma_j}`.
    mu_init : float
        Initial slab means μ.
    k, persistent, n_chains, weight_cost, sparsity_target, sparsity_cost, sparsity_decay, init_std
        As in :class:`~companion.models.rbm.BernoulliRBM`.

    Attributes
    ----------
    W : (n_visible, n_hidden); b : (n_visible,); c : (n_hidden,) spike biases
    log_lambda : (n_visible,)
        log λ.
    log_phi : (n_visible, n_hidden)
        log φ; column j is the diagonal of :math:`\\Phi_j`.
    log_alpha_margin : (n_hidden,)
        γ.
    mu : (n_hidden,)
    """

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        *,
        lambda_init: float = 1.0,
        phi_init: float | None = None,
        alpha_margin_init: float = 1.0,
        mu_init: float = 0.0,
        k: int = 1,
        persistent: bool = False,
        n_chains: int | None = None,
        weight_cost: float = 0.0,
        sparsity_target: float | None = None,
        sparsity_cost: float = 0.0,
        sparsity_decay: float = 0.95,
        init_std: float = 0.01,
    ):
        super().__init__(
            n_visible, n_hidden, k=k, persistent=persistent, n_chains=n_chains, weight_cost=weight_cost,
            sparsity_target=sparsity_target, sparsity_cost=sparsity_cost, sparsity_decay=sparsity_decay,
            init_std=init_std,
        )
        phi = 1.0 / n_visible if phi_init is None else phi_init
        for name, value in (("lambda_init", lambda_init), ("phi_init", phi), ("alpha_margin_init", alpha_margin_init)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        if not math.isfinite(mu_init):
            raise ValueError(f"mu_init must be finite, got {mu_init!r}.")
        self.config.update(lambda_init=lambda_init, phi_init=phi_init, alpha_margin_init=alpha_margin_init,
                           mu_init=mu_init)
        self.log_lambda = nn.Parameter(torch.full((n_visible,), math.log(lambda_init)))
        self.log_phi = nn.Parameter(torch.full((n_visible, n_hidden), math.log(phi)))
        self.log_alpha_margin = nn.Parameter(torch.full((n_hidden,), math.log(alpha_margin_init)))
        self.mu = nn.Parameter(torch.full((n_hidden,), float(mu_init)))

    # ------------------------------------------------------------------ parameters
    def visible_precision_diag(self) -> torch.Tensor:
        """λ, the diagonal of Λ: (n_visible,)."""
        return torch.exp(self.log_lambda)

    def phi(self) -> torch.Tensor:
        """Φ as a matrix whose column j is the diagonal of :math:`\\Phi_j`: (n_visible, n_hidden)."""
        return torch.exp(self.log_phi)

    def alpha(self) -> torch.Tensor:
        """Slab precisions :math:`\\alpha_j = \\sum_i W_{ij}^2/\\phi_{ij} + e^{\\gamma_j}`: (n_hidden,)."""
        return (self.W**2 * torch.exp(-self.log_phi)).sum(0) + torch.exp(self.log_alpha_margin)

    def visible_std(self) -> torch.Tensor:
        """Standard deviation of v with every spike off, :math:`\\lambda^{-1/2}`: (n_visible,)."""
        return torch.exp(-0.5 * self.log_lambda)

    # ------------------------------------------------------------------ equations
    def energy(self, v: torch.Tensor, s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """:math:`E(v, s, h)` of the class docstring, one value per row: (N,)."""
        alpha = self.alpha()
        quad = 0.5 * (v**2 * (self.visible_precision_diag() + h @ self.phi().t())).sum(1)
        return quad - v @ self.b - ((v @ self.W) * s * h).sum(1) \
            + 0.5 * (alpha * (s - self.mu * h) ** 2).sum(1) - h @ self.c

    def hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """Spike input :math:`c_j + \\mu_j w_j^\\top v + (w_j^\\top v)^2/2\\alpha_j - \\tfrac12 v^\\top\\Phi_j v`: (N, n_hidden)."""
        u = v @ self.W
        return self.c + self.mu * u + u**2 / (2 * self.alpha()) - 0.5 * (v**2) @ self.phi()

    def _free_energy(self, v: torch.Tensor, hidden_input: torch.Tensor) -> torch.Tensor:
        const = 0.5 * (_LOG_2PI - torch.log(self.alpha())).sum()
        return 0.5 * (v**2 * self.visible_precision_diag()).sum(1) - v @ self.b \
            - _softplus(hidden_input).sum(1) - const

    @converts_input
    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`F(v) = \\tfrac12 v^\\top\\Lambda v - b^\\top v - \\sum_j \\operatorname{softplus}(\\text{input}_j) - \\sum_j\\tfrac12\\log(2\\pi/\\alpha_j)`: (N,)."""
        return self._free_energy(v, self.hidden_input(v))

    def p_s_given_vh(self, v: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of :math:`p(s \\mid v, h) = \\mathcal N(h \\odot (\\mu + W^\\top v/\\alpha), 1/\\alpha)`: (N, n_hidden) each."""
        alpha = self.alpha()
        mean = h * (self.mu + (v @ self.W) / alpha)
        return mean, (1.0 / alpha).expand_as(mean)

    def p_v_given_hs(self, h: torch.Tensor, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of :math:`p(v \\mid s, h) = \\mathcal N(C_h^{-1}(b + W(s\\odot h)), C_h^{-1})`: (N, n_visible) each."""
        precision = self.visible_precision_diag() + h @ self.phi().t()
        return (self.b + (s * h) @ self.W.t()) / precision, 1.0 / precision

    def sample_s(self, v: torch.Tensor, h: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw of the slabs given v and the spikes: (N, n_hidden)."""
        mean, var = self.p_s_given_vh(v, h)
        return mean + var.sqrt() * _randn_like(mean, generator)

    def sample_v(self, h: torch.Tensor, s: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw of v given spikes and slabs: (N, n_visible)."""
        mean, var = self.p_v_given_hs(h, s)
        return mean + var.sqrt() * _randn_like(mean, generator)

    def visible_precision(self, h: torch.Tensor) -> torch.Tensor:
        """:math:`P_h = \\Lambda + \\sum_j h_j(\\Phi_j - w_j w_j^\\top/\\alpha_j)`, the precision of p(v | h): (N, n_v, n_v).

        Dense: for small models and tests.
        """
        diag = self.visible_precision_diag() + h @ self.phi().t()
        scaled = self.W * torch.sqrt(1.0 / self.alpha())  # (n_v, n_h)
        low_rank = torch.einsum("ij,nj,kj->nik", scaled, h, scaled)
        return torch.diag_embed(diag) - low_rank

    def p_v_given_h(self, h: torch.Tensor) -> torch.Tensor:
        """Mean of :math:`p(v \\mid h)` with the slabs integrated out, :math:`P_h^{-1}(b + W(\\mu\\odot h))`: (N, n_visible).

        Solves one dense n_visible x n_visible system per row: for small models.
        """
        rhs = self.b + (h * self.mu) @ self.W.t()
        return torch.linalg.solve(self.visible_precision(h), rhs.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    @converts_input
    def reconstruct(self, v: torch.Tensor) -> torch.Tensor:
        """One deterministic pass: spikes at :math:`q = p(h \\mid v)`, slabs at their mean given
        :math:`h_j = 1`, then the mean of :math:`p(v \\mid s, h)` with h replaced by q: (N, n_visible)."""
        self.check_batch(v)
        q = self.p_h_given_v(v)
        s, _ = self.p_s_given_vh(v, torch.ones_like(q))
        return self.p_v_given_hs(q, s)[0]

    # ------------------------------------------------------------------ sampling
    def _chain_start(self, n, like, generator=None):
        precision = self.visible_precision_diag().detach().to(like)
        mean = (self.b.detach().to(like) / precision).expand(n, -1)
        return mean + precision.rsqrt() * _randn_like(mean, generator)

    def _gibbs_step(self, v, generator=None):
        h = self.sample_h(v, generator)
        s = self.sample_s(v, h, generator)
        mean, var = self.p_v_given_hs(h, s)
        return mean + var.sqrt() * _randn_like(mean, generator), mean

    def _sample_v_given_h(self, h, generator=None):
        # p(v | h) = N(P_h^{-1} r_h, P_h^{-1}); with P_h = L L^T, v = mean + L^{-T} ε has covariance P_h^{-1}
        chol = torch.linalg.cholesky(self.visible_precision(h))
        rhs = self.b + (h * self.mu) @ self.W.t()
        mean = torch.cholesky_solve(rhs.unsqueeze(-1), chol).squeeze(-1)
        noise = _randn_like(mean, generator).unsqueeze(-1)
        return mean + torch.linalg.solve_triangular(chol.transpose(-2, -1), noise, upper=True).squeeze(-1), mean

    # ------------------------------------------------------------------ exact likelihood
    def _log_partition_terms(self, h: torch.Tensor) -> torch.Tensor:
        # For fixed h, ∫∫ exp(-E) ds dv: the slabs give prod_j sqrt(2π/α_j); v is then Gaussian with
        # precision P_h = D_h - U S S U^T (D_h = diag(λ + Φh), U = W/sqrt(α), S = diag(sqrt h)) and
        # linear term r_h = b + W(μ ⊙ h), giving (2π)^{n/2} |P_h|^{-1/2} exp(r P_h^{-1} r / 2).
        # The determinant lemma and Woodbury's identity reduce both to an n_h x n_h matrix
        # M = I - S U^T D_h^{-1} U S, positive definite whenever P_h is.
        alpha = self.alpha()
        d_inv = 1.0 / (self.visible_precision_diag() + h @ self.phi().t())   # (M, n_v)
        U = self.W / alpha.sqrt()                                              # (n_v, n_h)
        S = h.sqrt()                                                           # (M, n_h)
        outer = (U[:, :, None] * U[:, None, :]).reshape(self.n_visible, -1)   # row i: U_i U_i^T, flat
        G = (d_inv @ outer).view(-1, self.n_hidden, self.n_hidden)             # U^T D^-1 U, one GEMM
        eye = torch.eye(self.n_hidden, dtype=h.dtype, device=h.device)
        M = eye - S[:, :, None] * G * S[:, None, :]
        chol = torch.linalg.cholesky(M)
        rhs = self.b + (h * self.mu) @ self.W.t()                              # r_h: (M, n_v)
        q = S * ((rhs * d_inv) @ U)                                            # S U^T D^-1 r: (M, n_h)
        y = torch.cholesky_solve(q.unsqueeze(-1), chol).squeeze(-1)
        quad = (rhs**2 * d_inv).sum(1) + (q * y).sum(1)                        # r^T P_h^{-1} r
        half_logdet = -0.5 * torch.log(d_inv).sum(1) + torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        slabs = 0.5 * (_LOG_2PI - torch.log(alpha)).sum()
        return slabs + h @ self.c + 0.5 * self.n_visible * _LOG_2PI - half_logdet + 0.5 * quad

    @torch.no_grad()
    def log_partition(self, chunk: int | None = None) -> float:
        """Exact :math:`\\log Z` (float64): a closed-form Gaussian integral over (v, s) for each of the 2^n_hidden h."""
        if chunk is None:
            chunk = max(1, min(2**12, 2**22 // (self.n_visible * (1 + self.n_hidden))))
        return super().log_partition(chunk)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scalar slabs"
