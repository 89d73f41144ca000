"""The spike-and-slab RBM (mu-ssRBM) of Courville, Bergstra & Bengio (2011).

One real-valued slab per binary spike, with a constraint that makes the joint
density normalizable for every parameter value. It shares the real-valued base
of :mod:`companion.models.rbm_real`: the autograd CD loss, Gibbs sampling and
the exact likelihood for small hidden layers.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import converts_input
from .rbm_real import _LOG_2PI, _RealValuedRBM, _randn_like, _softplus


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
        **kwargs,
    ):
        super().__init__(n_visible, n_hidden, **kwargs)
        phi = 1.0 / n_visible if phi_init is None else phi_init
        for name, value in (("lambda_init", lambda_init), ("phi_init", phi), ("alpha_margin_init", alpha_margin_init)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        if not math.isfinite(mu_init):
            raise ValueError(f"mu_init must be finite, got {mu_init!r}.")
        self.lambda_init, self.phi_init, self.alpha_margin_init, self.mu_init = (
            lambda_init, phi_init, alpha_margin_init, mu_init)
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

    def _gibbs_step(self, v, generator=None, h=None):
        if h is None:
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
