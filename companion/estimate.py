"""Estimates of log-likelihood, in nats.

For latent-variable models with a recognition network, the importance-weighted
bound of Burda, Grosse & Salakhutdinov (2016):

.. math:: \\mathcal L_k(x) = \\mathbb E\\left[\\log \\frac1k \\sum_{i=1}^k
          \\frac{p(x, z_i)}{q(z_i \\mid x)}\\right], \\qquad z_i \\sim q(z \\mid x),

a lower bound on :math:`\\log p(x)` that increases with k and tends to it.
The RBM estimators (exact log Z, AIS) arrive with the energy-based chapters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .config import get_device
from .models.vae import gaussian_log_density
from .utils import evaluating


@dataclass
class LikelihoodEstimate:
    """A mean log-likelihood in nats per example, with its standard error over examples."""

    mean: float
    stderr: float
    per_example: torch.Tensor
    k: int

    def __str__(self) -> str:
        return f"{self.mean:.2f} ± {self.stderr:.2f} nats (k = {self.k}, n = {len(self.per_example)})"


@torch.no_grad()
def iwae_log_weights(model, x: torch.Tensor, k: int, chunk: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``log p(x, z_i) - log q(z_i | x)`` for ``k`` samples per example: (n, k)."""
    mu, logvar = model.encode(x)
    mu, logvar = mu.float(), logvar.float()
    out = []
    for start in range(0, k, chunk):
        s = min(chunk, k - start)
        eps = torch.randn(s, *mu.shape, device=mu.device, generator=generator)
        z = mu + torch.exp(0.5 * logvar) * eps                              # (s, n, d)
        log_prior = -0.5 * (math.log(2 * math.pi) + z.pow(2)).sum(-1)      # log N(z; 0, I)
        log_q = gaussian_log_density(z, mu, logvar)
        out.append((model.log_px_given_z(x, z) + log_prior - log_q).T)     # (n, s)
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
        memory near 256 MB on the CPU and 2 GB on a GPU.
    seed : int, optional
        Seeds a private generator, so the estimate is repeatable and the global
        random state is left alone.

    Returns
    -------
    LikelihoodEstimate
        Mean over examples of :math:`\\mathcal L_k(x)`, its standard error, the
        per-example values and k.
    """
    if k < 1:
        raise ValueError(f"k={k}: need at least one importance sample.")
    device = next(model.parameters()).device if device is None else get_device(device)
    model = model.to(device)
    pixels = math.prod(X.shape[1:])
    if max_elements is None:
        max_elements = 2**29 if device.type == "cuda" else 2**26
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
    per_example = torch.cat(values).double()
    stderr = per_example.std().item() / math.sqrt(len(per_example)) if len(per_example) > 1 else float("nan")
    return LikelihoodEstimate(per_example.mean().item(), stderr, per_example, k)
