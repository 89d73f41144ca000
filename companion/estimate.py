"""Estimates of log-likelihood, in nats.

For latent-variable models with a recognition network, the importance-weighted
bound of Burda, Grosse & Salakhutdinov (2016):

.. math:: \\mathcal L_k(x) = \\mathbb E\\left[\\log \\frac1k \\sum_{i=1}^k
          \\frac{p(x, z_i)}{q(z_i \\mid x)}\\right], \\qquad z_i \\sim q(z \\mid x),

a lower bound on :math:`\\log p(x)` that increases with k and tends to it.

For RBMs, whose likelihood :math:`\\log p(v) = -F(v) - \\log Z` needs the
partition function: :func:`log_partition_exact` (enumeration of the smaller
layer, for tiny models), :func:`ais_log_partition` (annealed importance
sampling, Salakhutdinov & Murray 2008) and :func:`log_likelihood`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .checks import positive_int
from .config import get_device
from .models.vae import importance_log_weights
from .utils import evaluating


@dataclass
class LikelihoodEstimate:
    """A mean log-likelihood in nats per example, with its standard error over examples."""

    mean: float
    stderr: float
    per_example: torch.Tensor
    k: int | None = None

    def __str__(self) -> str:
        k = "" if self.k is None else f"k = {self.k}, "
        return f"{self.mean:.2f} ± {self.stderr:.2f} nats ({k}n = {len(self.per_example)})"


@torch.no_grad()
def iwae_log_weights(model, x: torch.Tensor, k: int, chunk: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``log p(x, z_i) - log q(z_i | x)`` for ``k`` samples per example: (n, k)."""
    mu, logvar = model.encode(x)
    mu, logvar = mu.float(), logvar.float()
    out = []
    for start in range(0, k, chunk):
        eps = torch.randn(min(chunk, k - start), *mu.shape, device=mu.device, generator=generator)
        out.append(importance_log_weights(model, x, mu, logvar, eps).T)   # (n, s)
    return torch.cat(out, dim=1)


@torch.no_grad()
def iwae_log_likelihood(model, X: torch.Tensor, k: int = 100, batch_size: int | None = None,
                        device: str | torch.device | None = None, seed: int | None = 0,
                        max_elements: int | None = None) -> LikelihoodEstimate:
    """Test log-likelihood by the importance-weighted bound :math:`\\mathcal L_k`.

    Parameters
    ----------
    model : VAE-like
        Needs ``encode(x) -> (mu, logvar)`` and ``log_px_given_z(x, z)`` accepting
        z of shape (s, n, d).
    X : tensor (N, ...)
    k : int
        Importance samples per example (k = 1 is the ELBO; 5000 in the IWAE paper).
    batch_size, max_elements : int, optional
        Examples per batch, and the cap on decoder outputs held at once
        (samples x examples x pixels), which sets the sample chunk: defaults keep
        memory near 16 MB on the CPU (cache-sized: 3-4 times faster than
        256 MB there) and 2 GB on a GPU.
    seed : int, optional
        Seeds a private generator, so the estimate is repeatable and the global
        random state is left alone.

    Returns
    -------
    LikelihoodEstimate
        Mean over examples of :math:`\\mathcal L_k(x)`, its standard error, the
        per-example values and k.
    """
    k = positive_int(k, f"k={k!r} (importance samples)")
    if batch_size is not None:
        batch_size = positive_int(batch_size, "batch_size")
    device = next(model.parameters()).device if device is None else get_device(device)
    model = model.to(device)
    pixels = math.prod(X.shape[1:])
    if max_elements is None:
        # on a CPU a small working set that stays in cache is 3-4x faster than a large one
        max_elements = 2**29 if device.type == "cuda" else 2**22
    batch_size = batch_size or max(1, min(len(X), max_elements // (pixels * min(k, 64))))
    chunk = max(1, min(k, max_elements // (pixels * batch_size)))
    generator = None
    if seed is not None:
        generator = torch.Generator(device=device).manual_seed(seed)
    values = []
    with evaluating(model):
        for xb in torch.split(X, batch_size):
            log_w = iwae_log_weights(model, xb.to(device), k, chunk, generator)
            values.append((torch.logsumexp(log_w, dim=1) - math.log(k)).cpu())
    return _summarize(torch.cat(values), k)


def _summarize(per_example: torch.Tensor, k: int | None = None) -> LikelihoodEstimate:
    per_example = per_example.double().cpu()
    stderr = per_example.std().item() / math.sqrt(len(per_example)) if len(per_example) > 1 else float("nan")
    return LikelihoodEstimate(per_example.mean().item(), stderr, per_example, k)


# ---------------------------------------------------------------------- RBMs
MAX_EXACT_UNITS = 25


def _rbm_parts(rbm):
    binary = getattr(rbm, "visible_type", None) == getattr(rbm, "hidden_type", None) == "bernoulli"
    if not binary or not all(hasattr(rbm, n) for n in "Wbc"):
        hint = " (it has its own exact model.log_partition() for small models)" if hasattr(rbm, "log_partition") else ""
        raise TypeError(f"{type(rbm).__name__} is not a BernoulliRBM{hint}; these estimators need binary "
                        "visible and hidden units.")
    return rbm.W.detach(), rbm.b.detach(), rbm.c.detach()


def _all_states(n: int, start: int, stop: int, device, dtype) -> torch.Tensor:
    """Rows ``start..stop-1`` of the 2^n binary states, bit i of row r = (r >> i) & 1: (stop-start, n)."""
    rows = torch.arange(start, stop, device=device)
    return ((rows[:, None] >> torch.arange(n, device=device)) & 1).to(dtype)


@torch.no_grad()
def log_partition_exact(rbm, chunk: int = 2**14) -> float:
    """:math:`\\log Z` of a Bernoulli RBM by enumerating its smaller layer, in float64.

    Summing out the other layer analytically,

    .. math:: \\log Z = \\log \\sum_{h} \\exp\\Big(c^\\top h + \\sum_i
              \\operatorname{softplus}(b_i + (W h)_i)\\Big)

    (or the same over v, i.e. :math:`\\log \\sum_v e^{-F(v)}`), which costs
    :math:`2^{\\min(n_v, n_h)}` terms; more than 25 units is refused.
    """
    W, b, c = (t.double() for t in _rbm_parts(rbm))
    n_v, n_h = W.shape
    n = min(n_v, n_h)
    if n > MAX_EXACT_UNITS:
        raise ValueError(
            f"exact log Z enumerates 2^{n} states of the smaller layer (n_visible={n_v}, "
            f"n_hidden={n_h}); that is beyond the limit of {MAX_EXACT_UNITS} units. "
            "Use ais_log_partition(rbm) for an estimate."
        )
    terms = []
    for start in range(0, 2**n, chunk):
        s = _all_states(n, start, min(2**n, start + chunk), W.device, W.dtype)
        if n_h <= n_v:
            terms.append(s @ c + F.softplus(s @ W.T + b, threshold=40).sum(1))
        else:
            terms.append(s @ b + F.softplus(s @ W + c, threshold=40).sum(1))
    return torch.logsumexp(torch.cat(terms), 0).item()


@dataclass
class AISResult:
    """An AIS estimate of :math:`\\log Z` with its ±3σ interval (in log space).

    ``lower`` is ``-inf`` when the interval on Z reaches zero (the weights are
    too spread out: use more temperatures or chains).
    """

    log_z: float
    lower: float
    upper: float
    log_z_base: float
    log_weights: torch.Tensor
    n_betas: int

    @property
    def n_chains(self) -> int:
        return len(self.log_weights)

    def __float__(self) -> float:
        return self.log_z

    def __str__(self) -> str:
        return (f"log Z ≈ {self.log_z:.2f} (±3σ: {self.lower:.2f} to {self.upper:.2f}; "
                f"{self.n_chains} chains, {self.n_betas} temperatures)")


def ais_betas(n_betas: int) -> torch.Tensor:
    """``n_betas`` inverse temperatures 0 = β_0 < ... < β_K = 1, denser near 1.

    The proportions follow Salakhutdinov & Murray (2008): 500 steps on
    [0, 0.5], 4,000 on [0.5, 0.9], 10,000 on [0.9, 1] for K = 14,500.
    """
    n_betas = positive_int(n_betas, "n_betas")
    if n_betas < 4:
        raise ValueError(f"n_betas={n_betas}: use at least 4 temperatures (thousands for a real estimate).")
    k1 = max(1, round(n_betas * 500 / 14500))
    k2 = max(1, round(n_betas * 4000 / 14500))
    k3 = max(1, n_betas - 1 - k1 - k2)
    return torch.cat([
        torch.linspace(0.0, 0.5, k1 + 1, dtype=torch.float64)[:-1],
        torch.linspace(0.5, 0.9, k2 + 1, dtype=torch.float64)[:-1],
        torch.linspace(0.9, 1.0, k3 + 1, dtype=torch.float64),
    ])


def base_rate_bias(X: torch.Tensor, eps: float = 0.05) -> torch.Tensor:
    """Visible biases of the base-rate model, :math:`\\log(p_i/(1-p_i))` of smoothed pixel means.

    ``eps`` pulls the means away from 0 and 1 by pseudo-counts (Salakhutdinov & Murray add 5 per pixel).
    """
    p = (X.reshape(len(X), -1).double().sum(0) + eps * len(X)) / (len(X) * (1 + 2 * eps))
    return torch.log(p) - torch.log1p(-p)


@torch.no_grad()
def ais_log_partition(rbm, n_chains: int = 100, n_betas: int = 10000, base: torch.Tensor | None = None,
                      betas: torch.Tensor | None = None, seed: int | None = 0,
                      device: str | torch.device | None = None) -> AISResult:
    """Estimate :math:`\\log Z` of a Bernoulli RBM by annealed importance sampling.

    The path runs from a base-rate model (no weights, visible biases
    ``b_A``, same number of hidden units, all hidden biases zero) to the RBM
    through the RBMs

    .. math:: p_\\beta(v, h) \\propto \\exp\\big((1-\\beta)\\, b_A^\\top v
              + \\beta\\,(b^\\top v + c^\\top h + v^\\top W h)\\big),

    whose log-partition at β = 0 is :math:`\\sum_i \\operatorname{softplus}(b_{A,i})
    + n_h \\log 2`. Each chain starts with an exact sample of the base model
    and accumulates :math:`\\log w = \\sum_k \\log p^*_{\\beta_k}(v_{k-1}) -
    \\log p^*_{\\beta_{k-1}}(v_{k-1})`, then moves by one Gibbs step at
    :math:`\\beta_k`. :math:`\\hat Z = Z_A \\cdot \\operatorname{mean}(w)`,
    computed by log-mean-exp.

    Parameters
    ----------
    rbm : BernoulliRBM
    n_chains : int
        Independent AIS runs (the paper: 100).
    n_betas : int
        Number of temperatures (the paper: 14,500), spaced by :func:`ais_betas`.
    base : tensor, optional
        Training data (N, n_visible) for the base rate; a tensor of shape
        (n_visible,) is taken as the base-rate biases themselves. Default:
        zero biases (uniform base), which needs more temperatures.
    betas : tensor, optional
        An explicit increasing schedule from 0 to 1 (overrides ``n_betas``).
    seed : int, optional
        Seeds a private generator; the global random state is untouched.

    Returns
    -------
    AISResult
        ``log_z`` and the interval :math:`\\log(\\hat Z \\pm 3\\hat\\sigma)` where
        :math:`\\hat\\sigma` is the standard error of the mean weight.
    """
    W, b, c = _rbm_parts(rbm)
    device = W.device if device is None else torch.device(device)
    W, b, c = W.to(device), b.to(device), c.to(device)
    n_v, n_h = W.shape
    if base is None:
        b_a = torch.zeros(n_v, dtype=W.dtype, device=device)
    elif base.ndim == 1:
        if base.shape != (n_v,):
            raise ValueError(f"base biases must have shape ({n_v},), got {tuple(base.shape)}.")
        b_a = base.to(device=device, dtype=W.dtype)
    else:
        if base.shape[1:].numel() != n_v:
            raise ValueError(f"base data must have {n_v} features per row, got {tuple(base.shape)}.")
        b_a = base_rate_bias(base).to(device=device, dtype=W.dtype)
    betas = ais_betas(n_betas) if betas is None else torch.as_tensor(betas, dtype=torch.float64)
    if betas.ndim != 1 or betas[0] != 0 or betas[-1] != 1 or (betas.diff() <= 0).any():
        raise ValueError("betas must increase strictly from 0 to 1.")
    n_chains, n_betas = positive_int(n_chains, "n_chains", 2), positive_int(n_betas, "n_betas", 2)
    if n_chains < 2:
        raise ValueError("n_chains must be at least 2 to give an interval.")
    gen = torch.Generator(device=device)
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()

    def rand_like(p):
        return torch.rand(p.shape, generator=gen, device=device, dtype=p.dtype)

    log_z_base = F.softplus(b_a.double(), threshold=40).sum().item() + n_h * math.log(2)
    v = (rand_like(b_a.expand(n_chains, n_v)) < torch.sigmoid(b_a)).to(W.dtype)
    log_w = torch.zeros(n_chains, dtype=torch.float64, device=device)
    db = b - b_a
    betas_list = betas.tolist()
    for beta_prev, beta in zip(betas_list[:-1], betas_list[1:]):
        x = torch.addmm(c, v, W)  # (chains, n_h)
        # log p*_beta(v) - log p*_beta_prev(v), with the hidden units summed out
        step = (beta - beta_prev) * (v @ db) + (
            F.softplus(beta * x, threshold=40) - F.softplus(beta_prev * x, threshold=40)).sum(1)
        log_w += step.double()
        if beta < 1:
            h = (rand_like(x) < torch.sigmoid(beta * x)).to(W.dtype)
            v = (rand_like(v) < torch.sigmoid((1 - beta) * b_a + beta * torch.addmm(b, h, W.T))).to(W.dtype)
    return ais_result(log_w, log_z_base, len(betas))


def ais_result(log_w: torch.Tensor, log_z_base: float, n_betas: int) -> AISResult:
    """Combine the chains' log importance weights into log Z and its ±3σ interval.

    :math:`\\hat Z = Z_A \\cdot \\overline{w}`; the interval is
    :math:`\\log(\\overline w \\pm 3\\,\\mathrm{se}(w))` (open below when the lower end is not positive).
    """
    n_chains = len(log_w)
    shift = log_w.max()
    w = torch.exp(log_w - shift)
    mean, sigma = w.mean(), w.std() / math.sqrt(n_chains)
    log_z = (torch.log(mean) + shift).item() + log_z_base
    upper = (torch.log(mean + 3 * sigma) + shift).item() + log_z_base
    lower = (torch.log(mean - 3 * sigma) + shift).item() + log_z_base if mean > 3 * sigma else -math.inf
    return AISResult(log_z, lower, upper, log_z_base, log_w.cpu(), n_betas)


@torch.no_grad()
def log_likelihood(rbm, X: torch.Tensor, log_z: float | AISResult, batch_size: int = 1024) -> LikelihoodEstimate:
    """Mean :math:`\\log p(v) = -F(v) - \\log Z` in nats per example, with its standard error.

    ``X`` must be binary (N, n_visible); ``log_z`` comes from
    :func:`log_partition_exact` or :func:`ais_log_partition` (its uncertainty
    shifts every example by the same amount and is not in ``stderr``).
    """
    if not isinstance(X, torch.Tensor):
        X = torch.as_tensor(X)
    rbm.check_batch(X.to(rbm.W.device, rbm.W.dtype), values=True)
    if ((X != 0) & (X != 1)).any():
        raise ValueError("log_likelihood needs binary data (0/1): binarize the pixels first, "
                         "e.g. cp.data.mnist(..., binarize='sample'); grey levels have no probability.")
    log_z = float(log_z)
    if not math.isfinite(log_z):
        raise ValueError(f"log_z={log_z}: the log partition function must be finite; an AIS run that overflowed or "
                         "a log_partition_exact() beyond float range cannot give a likelihood.")
    values = [-rbm.free_energy(xb.to(rbm.W.device, rbm.W.dtype)).double() - log_z
              for xb in torch.split(X, batch_size)]
    return _summarize(torch.cat(values))
