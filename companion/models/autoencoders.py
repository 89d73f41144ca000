"""Deterministic autoencoders: an encoder e, a decoder d, and x_hat = d(e(x)).

:class:`Autoencoder` holds everything the dense and convolutional variants
share: the reconstruction loss, optional input corruption (denoising), an
optional sparsity penalty on the code, and batched helpers. Subclasses only
build ``self.encoder`` (input -> code pre-activation) and ``self.decoder``
(code -> output logits).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_batch, converts_input, number, widths
from ..corrupt import as_corruption
from ..utils import ConstructorConfig, batched_apply

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "linear": nn.Identity,
}
_OUTPUTS = ("sigmoid", "tanh", "linear")
_LOSSES = ("mse", "bce")
_SPARSITY = (None, "l1", "kl")


def activation(name: str) -> nn.Module:
    """The activation module called ``name`` (relu, tanh, sigmoid, elu, gelu, leaky_relu, linear)."""
    try:
        return _ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"activation={name!r}: use one of {sorted(_ACTIVATIONS)}.") from None


def mlp(dims: Sequence[int], act: str, last_act: bool = False) -> nn.Sequential:
    """Linear layers ``dims[0] -> dims[1] -> ... -> dims[-1]`` with ``act`` between them."""
    layers: list[nn.Module] = []
    for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < len(dims) - 2 or last_act:
            layers.append(activation(act))
    return nn.Sequential(*layers)


def kl_bernoulli(rho: float, rho_hat: torch.Tensor) -> torch.Tensor:
    """``KL(Bern(rho) || Bern(rho_hat))`` elementwise, ``rho_hat`` clamped away from 0 and 1."""
    rho_hat = rho_hat.clamp(1e-6, 1 - 1e-6)
    return rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))



#: Above what activation a code unit counts as active in :meth:`Autoencoder.unit_activity`: sigmoid
#: units are never exactly off, so a tenth; other codes (ReLU, linear) by absolute value.
ACTIVE_THRESHOLD = {"sigmoid": 0.1, "other": 1e-3}

class Autoencoder(ConstructorConfig, nn.Module):
    """Shared behaviour of the deterministic autoencoders.

    Parameters
    ----------
    output : {"sigmoid", "tanh", "linear"}
        Output nonlinearity: sigmoid for data in [0, 1], tanh for [-1, 1],
        linear for unbounded (standardized) data.
    loss : {"mse", "bce"}
        Mean squared error per element, or binary cross-entropy on the logits
        (numerically stable; needs ``output="sigmoid"`` and data in [0, 1]).
    code_activation : {"linear", "relu", "sigmoid"}
        Nonlinearity of the code layer.
    corruption : Corruption, (kind, level) or None
        Denoising: during training the encoder sees a corrupted input and the
        loss compares the reconstruction with the clean one.
    sparsity : {None, "l1", "kl"}
        Penalty on the code ``z`` (N x m), added to the loss with ``sparsity_weight``:
        "l1" is :math:`\\frac{\\lambda}{N}\\sum_{n,j}|z_{nj}|`; "kl" is
        :math:`\\lambda\\sum_j \\mathrm{KL}(\\rho\\,\\|\\,\\hat\\rho_j)` with
        :math:`\\hat\\rho_j` the batch mean of unit j and :math:`\\rho` = ``target_rate``
        (needs ``code_activation="sigmoid"``).
    """

    supports_amp = True
    input_shape: tuple[int, ...] = ()
    # `loss` is the loss method: config reads the loss's name from reconstruction_loss
    _config_attributes = {"loss": "reconstruction_loss"}

    def __init__(
        self,
        output: str = "sigmoid",
        loss: str = "mse",
        code_activation: str = "linear",
        corruption=None,
        sparsity: str | None = None,
        sparsity_weight: float = 0.0,
        target_rate: float = 0.05,
    ):
        super().__init__()
        if output not in _OUTPUTS:
            raise ValueError(f"output={output!r}: use one of {_OUTPUTS}.")
        if loss not in _LOSSES:
            raise ValueError(f"loss={loss!r}: use one of {_LOSSES}.")
        if loss == "bce" and output != "sigmoid":
            raise ValueError("loss='bce' models Bernoulli pixels and needs output='sigmoid'.")
        if code_activation not in ("linear", "relu", "sigmoid"):
            raise ValueError(f"code_activation={code_activation!r}: use 'linear', 'relu' or 'sigmoid'.")
        if sparsity not in _SPARSITY:
            raise ValueError(f"sparsity={sparsity!r}: use None, 'l1' or 'kl'.")
        if sparsity == "kl" and code_activation != "sigmoid":
            raise ValueError("sparsity='kl' treats code units as firing rates; use code_activation='sigmoid'.")
        sparsity_weight = number(sparsity_weight, "sparsity_weight", 0)
        target_rate = number(target_rate, "target_rate (0 < target_rate < 1)", 0, 1, low_open=True, high_open=True)
        self._corruption = as_corruption(corruption)
        # the constructor's arguments as attributes: `config` reads them back (ConstructorConfig)
        self.output, self.reconstruction_loss, self.code_activation = output, loss, code_activation
        self.sparsity, self.sparsity_weight, self.target_rate = sparsity, float(sparsity_weight), float(target_rate)

    # -- the two halves -------------------------------------------------------------
    @property
    def corruption(self):
        return self._corruption

    def _code(self, a: torch.Tensor) -> torch.Tensor:
        kind = self.code_activation
        return torch.relu(a) if kind == "relu" else torch.sigmoid(a) if kind == "sigmoid" else a

    def _squash(self, a: torch.Tensor) -> torch.Tensor:
        out = self.output
        return torch.sigmoid(a) if out == "sigmoid" else torch.tanh(a) if out == "tanh" else a

    @converts_input
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code ``z = e(x)``: (n, *input_shape) -> (n, *code_shape)."""
        check_batch(x, self.input_shape, f"{type(self).__name__}.encode")
        return self._code(self.encoder(x))

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's pre-activation output: (n, *code_shape) -> (n, *input_shape)."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x_hat = d(z)``: (n, *code_shape) -> (n, *input_shape)."""
        return self._squash(self.decode_logits(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``d(e(x))``, same shape as ``x``."""
        return self.decode(self.encode(x))

    # -- training -------------------------------------------------------------------
    def check_data(self, X: torch.Tensor) -> None:
        """Validate a whole data set once (shape, finite values, [0, 1] for BCE); used by ``fit``."""
        check_batch(X, self.input_shape, f"{type(self).__name__} data",
                    unit_interval=self.reconstruction_loss == "bce", values=True)

    def sparsity_penalty(self, z: torch.Tensor) -> torch.Tensor:
        """The sparsity term for a batch of codes ``z`` (N x m, or N x C x H x W), a scalar."""
        kind, weight = self.sparsity, self.sparsity_weight
        if kind is None or weight == 0:
            return z.new_zeros(())
        z = z.reshape(len(z), -1).float()
        if kind == "l1":
            return weight * z.abs().sum(1).mean()
        return weight * kl_bernoulli(self.target_rate, z.mean(0)).sum()

    @converts_input
    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reconstruction loss (plus the sparsity penalty) of a batch.

        With a corruption the encoder sees ``corrupt(x)`` (only in training
        mode) and the reconstruction is compared with the clean ``x``.

        Returns
        -------
        loss : scalar tensor
        metrics : dict
            ``sse`` (squared error summed over inputs, mean over examples) and,
            with a sparsity penalty, ``penalty``.
        """
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        bce = self.reconstruction_loss == "bce"
        check_batch(x, self.input_shape, f"{type(self).__name__}.loss", unit_interval=bce)
        x_in = self._corruption(x) if (self._corruption is not None and self.training) else x
        z = self._code(self.encoder(x_in))
        logits = self.decode_logits(z)
        x_hat = self._squash(logits)
        if bce:
            rec = F.binary_cross_entropy_with_logits(logits.float(), x.float())
        else:
            rec = F.mse_loss(x_hat.float(), x.float())
        sse = (x_hat.detach().float() - x.float()).pow(2).reshape(len(x), -1).sum(1).mean()
        metrics = {"sse": sse}
        if self.sparsity is not None:
            penalty = self.sparsity_penalty(z)
            metrics["penalty"] = penalty.detach()
            return rec + penalty, metrics
        return rec, metrics

    # -- whole data sets ------------------------------------------------------------
    @converts_input
    def reconstruction_error(self, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Per-example squared error summed over inputs, ``sum_i (x_i - x_hat_i)^2``: shape (n,)."""
        return batched_apply(self, lambda xb: (self(xb) - xb).pow(2).reshape(len(xb), -1).sum(1), X, batch_size)

    @converts_input
    def transform(self, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Codes of a whole data set, without gradients, on the CPU."""
        return batched_apply(self, self.encode, X, batch_size)

    @converts_input
    def reconstruct(self, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Reconstructions ``d(e(x))`` of a whole data set, on the CPU."""
        return batched_apply(self, self, X, batch_size)

    def unit_activity(self, X: torch.Tensor, threshold: float | None = None) -> dict:
        """How often each code unit is active on ``X``.

        A unit is active on an example when its activation exceeds ``threshold``
        (default 0.1 for sigmoid codes, whose units are never exactly off, else 1e-3 in
        absolute value). A unit is
        *dead* when active on under 1% of examples and *always on* when active
        on over 99%.

        Returns
        -------
        dict with ``frequency`` (m,), ``dead`` and ``always_on`` (counts),
        ``mean_active`` (average fraction of units active per example).
        """
        codes = self.transform(X).reshape(len(X), -1)
        if threshold is None:
            threshold = ACTIVE_THRESHOLD["sigmoid" if self.code_activation == "sigmoid" else "other"]
        active = (codes.abs() > threshold).float()
        freq = active.mean(0)
        return {
            "frequency": freq,
            "dead": int((freq < 0.01).sum()),
            "always_on": int((freq > 0.99).sum()),
            "mean_active": active.mean().item(),
        }


class DenseAutoencoder(Autoencoder):
    """A fully connected autoencoder with a mirrored decoder.

    Parameters
    ----------
    dims : sequence of int
        Encoder widths from the input to the code, e.g. ``(784, 128, 64, 12, 3)``;
        the decoder mirrors them back to ``dims[0]``.
    activation : str
        Hidden-layer nonlinearity.
    **kwargs
        ``output``, ``loss``, ``code_activation``, ``corruption``, ``sparsity``,
        ``sparsity_weight``, ``target_rate``: see :class:`Autoencoder`.

    Notes
    -----
    With ``loss="mse"`` the loss implements
    :math:`\\frac{1}{ND}\\sum_{n,i}(x_{ni}-\\hat x_{ni})^2`; the metric ``sse`` is the
    same error summed over the D inputs and averaged over examples (the per-image
    figure of Hinton & Salakhutdinov 2006).
    """

    def __init__(self, dims: Sequence[int] = (784, 128, 64, 12, 3), activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        dims = widths(dims, "at least an input and a code width, all positive integers")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation={activation!r}: use one of {sorted(_ACTIVATIONS)}.")
        self.dims, self.activation = dims, activation
        self.input_shape = (dims[0],)
        self.encoder = mlp(dims, activation)
        self.decoder = mlp(dims[::-1], activation)

    @property
    def code_size(self) -> int:
        return self.dims[-1]

    @property
    def n_inputs(self) -> int:
        return self.dims[0]


class DeepAutoencoder(DenseAutoencoder):
    """The 784-1000-500-250-30 autoencoder of Hinton & Salakhutdinov (2006).

    Logistic hidden units, a linear 30-unit code, logistic outputs and the
    cross-entropy loss the paper used for MNIST. It trains from a random
    initialisation as it stands; :meth:`load_rbm_stack` is the hook that puts
    RBM-pretrained weights in place before fine-tuning (chapter 10's DBN).
    """

    def __init__(self, dims: Sequence[int] = (784, 1000, 500, 250, 30), activation: str = "sigmoid",
                 output: str = "sigmoid", loss: str = "bce", **kwargs):
        super().__init__(dims, activation=activation, output=output, loss=loss, **kwargs)

    @torch.no_grad()
    def load_rbm_stack(self, layers: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> "DeepAutoencoder":
        """Unroll a stack of RBMs into the encoder and the decoder.

        Parameters
        ----------
        layers : sequence of ``(W, b, c)``, bottom to top
            ``W`` is (n_visible x n_hidden), ``b`` the visible and ``c`` the hidden
            bias of each RBM, with ``n_visible``/``n_hidden`` equal to consecutive
            entries of ``dims``. The encoder's layer i computes ``x W_i + c_i``; the
            decoder's mirror layer computes ``h W_i^T + b_i`` (tied at the start).
        """
        dims = self.dims
        if len(layers) != len(dims) - 1:
            raise ValueError(f"{len(dims) - 1} RBMs are needed for dims={dims}, got {len(layers)}.")
        enc = [m for m in self.encoder if isinstance(m, nn.Linear)]
        dec = [m for m in self.decoder if isinstance(m, nn.Linear)][::-1]
        for i, (W, b, c) in enumerate(layers):
            if tuple(W.shape) != (dims[i], dims[i + 1]) or b.shape != (dims[i],) or c.shape != (dims[i + 1],):
                raise ValueError(
                    f"RBM {i} has W {tuple(W.shape)}, b {tuple(b.shape)}, c {tuple(c.shape)}; expected "
                    f"W ({dims[i]}, {dims[i + 1]}), b ({dims[i]},), c ({dims[i + 1]},)."
                )
            enc[i].weight.copy_(W.T)
            enc[i].bias.copy_(c)
            dec[i].weight.copy_(W)
            dec[i].bias.copy_(b)
        return self


def layer_shapes(module: nn.Module, example: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Run ``example`` through a Sequential (or a model with encoder/decoder) and list each layer's output shape."""
    seqs = [module.encoder, module.decoder] if hasattr(module, "encoder") else [module]
    rows, x = [("input", tuple(example.shape))], example
    with torch.no_grad():
        for seq in seqs:
            for layer in seq:
                x = layer(x)
                rows.append((layer.__class__.__name__, tuple(x.shape)))
    return rows


def code_numel(model: Autoencoder) -> int:
    """Number of code units of ``model`` (for comparisons at equal code size)."""
    with torch.no_grad():
        device = next(model.parameters()).device
        z = model.encoder(torch.zeros(1, *model.input_shape, device=device))
    return math.prod(z.shape[1:])
