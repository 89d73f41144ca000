"""The variational autoencoder (Kingma & Welling 2014), dense or convolutional.

Generative model: :math:`z \\sim \\mathcal N(0, I)`, :math:`x \\mid z \\sim p_\\theta(x\\mid z)`,
Bernoulli on the decoder's logits or Gaussian around its output.
Recognition model: :math:`q_\\phi(z\\mid x) = \\mathcal N(\\mu_\\phi(x), \\operatorname{diag}\\sigma^2_\\phi(x))`.
Training maximizes the evidence lower bound

.. math:: \\mathcal L(x) = \\mathbb E_{q_\\phi(z\\mid x)}[\\log p_\\theta(x\\mid z)]
          - \\mathrm{KL}(q_\\phi(z\\mid x)\\,\\|\\,p(z)) \\le \\log p_\\theta(x),

with one reparameterized sample :math:`z = \\mu + \\sigma \\odot \\varepsilon` and the KL in closed form.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import converts_input, number, positive_int, widths
from ..corrupt import as_corruption
from ..utils import ConstructorConfig, batched_apply, evaluating
from .autoencoders import activation as make_activation
from ..checks import check_batch
from .autoencoders import mlp
from .conv import conv_stack, deconv_stack

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Closed-form ``KL(N(mu, diag exp(logvar)) || N(0, I))`` per row: (n, d) -> (n,).

    .. math:: \\mathrm{KL} = \\tfrac12 \\sum_j \\left(\\mu_j^2 + \\sigma_j^2 - 1 - \\log\\sigma_j^2\\right)
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``log N(z; mu, diag exp(logvar))`` summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def importance_log_weights(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                           eps: torch.Tensor) -> torch.Tensor:
    """:math:`\\log p(x, z_i) - \\log q(z_i \\mid x)` at :math:`z_i = \\mu + \\sigma \\odot \\varepsilon_i`: (s, n).

    ``eps`` has shape (s, n, latent_dim); used by the IWAE objective and by
    :func:`companion.estimate.iwae_log_likelihood`.
    """
    z = mu + torch.exp(0.5 * logvar) * eps
    log_prior = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
    return model.log_px_given_z(x, z) + log_prior - gaussian_log_density(z, mu, logvar)


class VAE(ConstructorConfig, nn.Module):
    """A variational autoencoder.

    Parameters
    ----------
    dims : sequence of int
        Dense: input width then hidden widths, e.g. ``(784, 400)``. Conv: the
        width of the hidden layer between the feature map and the latent heads
        is ``dims[-1]``; ``dims[0]`` must equal the number of pixels.
    latent_dim : int
    likelihood : {"bernoulli", "gaussian"}
        Bernoulli pixels on the decoder's logits (needs data in [0, 1]; a proper
        likelihood for binary data), or a Gaussian with the decoder's output as
        mean and a learned per-pixel variance.
    beta : float
        Weight of the KL term (beta-VAE; 1 is the true ELBO).
    warmup_steps : int
        KL warm-up: the KL weight rises linearly from 0 to ``beta`` over this many
        training steps (0: no warm-up).
    conv : bool
        Convolutional encoder/decoder (two stride-2 layers of ``channels``).
    channels : sequence of int
        Channels of the convolutional layers when ``conv``.
    input_shape : (C, H, W)
        Image shape for ``conv``; the dense model takes flat (n, dims[0]) batches.
    corruption : Corruption, (kind, level) or None
        Denoising VAE: in training the encoder sees a corrupted input and the
        likelihood is of the clean one.
    k : int
        Importance samples of the training objective: 1 is the ELBO; k > 1 is the
        importance-weighted bound :math:`\\mathcal L_k` of Burda et al. (2016)
        (:func:`companion.estimate.iwae_log_likelihood` gives its formula), which
        trains the same model to a tighter bound at k times the decoder's cost.
    binarize : bool
        Dynamic binarization (Burda et al. 2016): every training batch of grey
        levels is replaced by a fresh Bernoulli sample, pixel ~ Bernoulli(intensity),
        so the model sees a new binary data set each epoch. Evaluate it on a set
        binarized once (``mnist(..., binarize="sample")``).
    """

    supports_amp = True
    # `input_shape` is the data's shape, (dims[0],) unless conv: config reads the constructor's from conv_input_shape
    _config_attributes = {"input_shape": "conv_input_shape"}

    def __init__(self, dims: Sequence[int] = (784, 400), latent_dim: int = 20, activation: str = "relu",
                 likelihood: str = "bernoulli", beta: float = 1.0, warmup_steps: int = 0, conv: bool = False,
                 channels: Sequence[int] = (32, 64), input_shape: Sequence[int] = (1, 28, 28),
                 corruption=None, k: int = 1, binarize: bool = False):
        super().__init__()
        dims = widths(dims, "the input width and at least one hidden width")
        latent_dim = positive_int(latent_dim, "latent_dim")
        beta = number(beta, "beta", 0)
        warmup_steps = positive_int(warmup_steps, "warmup_steps", minimum=0)
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood={likelihood!r}: use 'bernoulli' or 'gaussian'.")
        k = positive_int(k, "k (the number of importance samples)")
        if binarize and likelihood != "bernoulli":
            raise ValueError("binarize=True draws binary pixels; it needs likelihood='bernoulli'.")
        if beta < 0 or warmup_steps < 0:
            raise ValueError("need beta >= 0 and warmup_steps >= 0.")
        input_shape = tuple(int(s) for s in input_shape)
        if conv and math.prod(input_shape) != dims[0]:
            raise ValueError(f"conv=True: dims[0]={dims[0]} must equal the pixels of input_shape={input_shape}.")
        # the constructor's arguments as attributes: `config` reads them back (ConstructorConfig)
        self.dims, self.latent_dim, self.activation, self.likelihood = dims, latent_dim, activation, likelihood
        self.beta, self.warmup_steps, self.conv, self.channels = float(beta), warmup_steps, bool(conv), [
            int(c) for c in channels]
        self.conv_input_shape, self.k, self.binarize = input_shape, k, bool(binarize)
        self.corruption = as_corruption(corruption)
        hidden, latent = dims[-1], int(latent_dim)
        if conv:
            self.input_shape = input_shape
            convs, sizes = conv_stack(input_shape[0], channels, 3, 2, 1, activation, input_shape[1:])
            feature = (channels[-1], *sizes[-1])
            flat = math.prod(feature)
            self.encoder = nn.Sequential(*convs, make_activation(activation), nn.Flatten(),
                                         nn.Linear(flat, hidden), make_activation(activation))
            self.decoder = nn.Sequential(nn.Linear(latent, hidden), make_activation(activation),
                                         nn.Linear(hidden, flat), make_activation(activation),
                                         nn.Unflatten(1, feature),
                                         *deconv_stack(channels, input_shape[0], 3, 2, 1, activation, sizes))
        else:
            self.input_shape = (dims[0],)
            self.encoder = mlp(dims, activation, last_act=True)
            self.decoder = mlp([latent, *dims[::-1]], activation)
        self.mu_head = nn.Linear(hidden, latent)
        self.logvar_head = nn.Linear(hidden, latent)
        if likelihood == "gaussian":
            self.log_sigma2 = nn.Parameter(torch.full(self.input_shape, -2.0))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    # -- the two halves -------------------------------------------------------------
    @converts_input
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Parameters of :math:`q(z\\mid x)`: ``(mu, logvar)``, each (n, latent_dim)."""
        check_batch(x, self.input_shape, "VAE.encode")
        h = self.encoder(x)
        return self.mu_head(h), self.logvar_head(h).clamp(-30.0, 20.0)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)``: differentiable in mu and logvar."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output before the mean function: (n, latent_dim) -> (n, *input_shape)."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of :math:`p(x\\mid z)`: pixel probabilities (Bernoulli) or means (Gaussian)."""
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.likelihood == "bernoulli" else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction from the posterior mean: ``decode(mu(x))``."""
        return self.decode(self.encode(x)[0])

    def check_data(self, X: torch.Tensor) -> None:
        """Validate a whole data set once (shape, finite values, [0, 1] for Bernoulli); used by ``fit``."""
        check_batch(X, self.input_shape, "VAE data",
                    unit_interval=self.likelihood == "bernoulli", values=True)

    # -- densities ------------------------------------------------------------------
    def log_px_given_z(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """``log p(x | z)`` summed over pixels, in nats.

        ``z`` may carry extra leading sample dimensions: x (n, ...) with z (s, n, d)
        gives (s, n).
        """
        lead = z.shape[:-1]
        out = self.decode_logits(z.reshape(-1, z.shape[-1])).float().reshape(*lead, *self.input_shape)
        xb = x.float().expand(*lead, *self.input_shape)
        dims = tuple(range(len(lead), out.ndim))
        if self.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, xb, reduction="none").sum(dims)
        log_s2 = self.log_sigma2.float().clamp(-12.0, 6.0)
        return -0.5 * (LOG_2PI + log_s2 + (xb - out).pow(2) / log_s2.exp()).sum(dims)

    def kl_weight(self) -> float:
        """The KL weight now: ``beta``, ramped from 0 during the warm-up steps."""
        warm = self.warmup_steps
        ramp = 1.0 if warm == 0 else min(1.0, float(self.step) / warm)
        return self.beta * ramp

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """One-sample ELBO per example (beta = 1), in nats: (n,)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.log_px_given_z(x, z) - gaussian_kl(mu.float(), logvar.float())

    @converts_input
    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Negative (beta-weighted) ELBO, averaged over the batch, in nats per example.

        Metrics: ``rec`` (−log p(x|z)), ``kl``, ``elbo`` (the true bound, beta = 1)
        and the KL weight in force, ``beta``. With ``k > 1`` the loss is
        :math:`-\\mathcal L_k` instead (beta and the warm-up do not apply) and the
        metric is ``iwae_bound``.
        """
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        check_batch(x, self.input_shape, "VAE.loss", unit_interval=self.likelihood == "bernoulli")
        if self.binarize and self.training:
            x = torch.bernoulli(x.detach())
        x_in = self.corruption(x) if (self.corruption is not None and self.training) else x
        mu, logvar = self.encode(x_in)
        k = self.k
        if k > 1:
            if self.training:
                self.step += 1
            log_w = importance_log_weights(self, x, mu.float(), logvar.float(),
                                           torch.randn(k, *mu.shape, device=mu.device))
            bound = (torch.logsumexp(log_w, 0) - math.log(k)).mean()
            return -bound, {"iwae_bound": bound.detach()}
        z = self.reparameterize(mu, logvar)
        rec = -self.log_px_given_z(x, z).mean()
        kl = gaussian_kl(mu.float(), logvar.float()).mean()
        weight = self.kl_weight()
        if self.training:
            self.step += 1
        return rec + weight * kl, {"rec": rec.detach(), "kl": kl.detach(), "elbo": -(rec + kl).detach(),
                                   "beta": torch.tensor(weight)}

    # -- using the model ------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means for ``n`` codes drawn from the prior, on the CPU: (n, *input_shape)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=generator).to(device)
        with evaluating(self):
            return self.decode(z).cpu()

    @torch.no_grad()
    def interpolate(self, x1: torch.Tensor, x2: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode the straight line between the posterior means of two inputs: (steps, *input_shape)."""
        device = next(self.parameters()).device
        pair = torch.stack([x1, x2]).to(device)
        mu = self.encode(pair)[0]
        t = torch.linspace(0, 1, steps, device=device)[:, None]
        with evaluating(self):
            return self.decode((1 - t) * mu[0] + t * mu[1]).cpu()

    @converts_input
    def transform(self, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Posterior means ``mu(x)`` of a whole data set, on the CPU: (n, latent_dim)."""
        return batched_apply(self, lambda xb: self.encode(xb)[0], X, batch_size)

    @converts_input
    def reconstruct(self, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """``decode(mu(x))`` for a whole data set, on the CPU."""
        return batched_apply(self, self, X, batch_size)
