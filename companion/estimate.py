"""Estimates of log-likelihood, in nats.

For latent-variable models with a recognition network, the importance-weighted
bound of Burda, Grosse & Salakhutdinov (2016):

.. math:: \\mathcal L_k(x) = \\mathbb E\\left[\\log \\frac1k \\sum_{i=1}^k
          \\frac{p(x, z_i)}{q(z_i \\mid x)}\\right], \\qquad z_i \\sim q(z \\mid x),

a lower bound on :math:`\\log p(x)` that increases with k and tends to it.

For RBMs, whose likelihood :math:`\\log p(v) = -F(v) - \\log Z` needs the
partition function: :func:`log_partition_exact` (enumeration of the smaller
layer, for tiny models), :func:`ais_log_partition` (annealed importance
sampling, Salakhutdinov & Murray 2008) and :func:`log_likelihood`, built on the
enumeration and the AIS driver of :mod:`companion.likelihood`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .checks import positive_int
from .config import get_device
from .likelihood import (  # noqa: F401  (the AIS pieces and the estimate type are part of this module's API)
    AISResult,
    LikelihoodEstimate,
    ais_base,
    ais_betas,
    ais_chains,
    ais_generator,
    ais_result,
    anneal,
    base_rate_bias,
    check_enumerable,
    logsumexp_states,
    rbm_log_partition,
    summarize,
)
from .models.vae import importance_log_weights
from .utils import evaluating


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
    return summarize(torch.cat(values), k)


# ---------------------------------------------------------------------- RBMs
def _rbm_parts(rbm):
    binary = getattr(rbm, "visible_type", None) == getattr(rbm, "hidden_type", None) == "bernoulli"
    if not binary or not all(hasattr(rbm, n) for n in "Wbc"):
        from .models.rbm import BernoulliRBM

        own = getattr(type(rbm), "log_partition", BernoulliRBM.log_partition) is not BernoulliRBM.log_partition
        hint = " (it has its own exact model.log_partition() for small models)" if own else ""
        raise TypeError(f"{type(rbm).__name__} is not a BernoulliRBM{hint}; these estimators need binary "
                        "visible and hidden units.")
    return rbm.W.detach(), rbm.b.detach(), rbm.c.detach()


def log_partition_exact(rbm, chunk: int = 2**14) -> float:
    """:math:`\\log Z` of a Bernoulli RBM by enumerating its smaller layer, in float64
    (:func:`companion.likelihood.rbm_log_partition`; ``BernoulliRBM.log_partition()`` is the same)."""
    return rbm_log_partition(*_rbm_parts(rbm), chunk=chunk)


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
    b_a = ais_base(base, n_v, W)
    n_chains = ais_chains(n_chains)
    gen = ais_generator(device, seed)

    def rand_like(p):
        return torch.rand(p.shape, generator=gen, device=device, dtype=p.dtype)

    def step(v, beta_prev, beta):
        x = torch.addmm(c, v, W)  # (chains, n_h)
        # log p*_beta(v) - log p*_beta_prev(v), with the hidden units summed out
        delta = (beta - beta_prev) * (v @ db) + (
            F.softplus(beta * x, threshold=40) - F.softplus(beta_prev * x, threshold=40)).sum(1)
        if beta < 1:
            h = (rand_like(x) < torch.sigmoid(beta * x)).to(W.dtype)
            v = (rand_like(v) < torch.sigmoid((1 - beta) * b_a + beta * torch.addmm(b, h, W.T))).to(W.dtype)
        return delta, v

    db = b - b_a
    log_z_base = F.softplus(b_a.double(), threshold=40).sum().item() + n_h * math.log(2)
    v0 = (rand_like(b_a.expand(n_chains, n_v)) < torch.sigmoid(b_a)).to(W.dtype)
    return anneal(v0, step, n_chains=n_chains, n_betas=n_betas, betas=betas, log_z_base=log_z_base)


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
    return summarize(torch.cat(values))
