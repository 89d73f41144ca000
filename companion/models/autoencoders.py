"""Deterministic autoencoders: an encoder e, a decoder d, and x_hat = d(e(x))."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..utils import batched_apply

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


def check_batch(x: torch.Tensor, width: int, name: str, unit_interval: bool = False) -> None:
    """Raise a clear error if ``x`` is not an ``(n, width)`` finite batch (in [0, 1] if asked)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}.")
    if x.ndim != 2 or x.shape[1] != width:
        raise ValueError(
            f"{name} expects a batch of shape (n, {width}), got {tuple(x.shape)}; "
            "flatten images first, e.g. x.reshape(len(x), -1)."
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name}: the batch contains NaN or infinite values.")
    if unit_interval and (x.min() < 0 or x.max() > 1):
        raise ValueError(
            f"{name}: values must lie in [0, 1] for a Bernoulli (BCE) output, found "
            f"[{x.min().item():.3g}, {x.max().item():.3g}]; rescale the data or use loss='mse'."
        )


class DenseAutoencoder(nn.Module):
    """A fully connected autoencoder with a mirrored decoder.

    Parameters
    ----------
    dims : sequence of int
        Encoder widths from the input to the code, e.g. ``(784, 128, 64, 12, 3)``;
        the decoder mirrors them back to ``dims[0]``.
    activation : str
        Hidden-layer nonlinearity. The code layer itself is linear.
    output : {"sigmoid", "tanh", "linear"}
        Output nonlinearity: sigmoid for data in [0, 1], tanh for [-1, 1],
        linear for unbounded (standardized) data.
    loss : {"mse", "bce"}
        Mean squared error per element, or binary cross-entropy on the logits
        (numerically stable; needs ``output="sigmoid"`` and data in [0, 1]).

    Notes
    -----
    ``loss`` implements :math:`\\frac{1}{ND}\\sum_{n,i}(x_{ni}-\\hat x_{ni})^2` for "mse";
    the metric ``sse`` is the same error summed over the D inputs and averaged
    over examples (the per-image figure of Hinton & Salakhutdinov 2006).
    """

    supports_amp = True

    def __init__(
        self,
        dims: Sequence[int] = (784, 128, 64, 12, 3),
        activation: str = "relu",
        output: str = "sigmoid",
        loss: str = "mse",
    ):
        super().__init__()
        dims = [int(d) for d in dims]
        if len(dims) < 2 or any(d < 1 for d in dims):
            raise ValueError(f"dims={dims}: need at least an input and a code width, all positive.")
        if output not in _OUTPUTS:
            raise ValueError(f"output={output!r}: use one of {_OUTPUTS}.")
        if loss not in _LOSSES:
            raise ValueError(f"loss={loss!r}: use one of {_LOSSES}.")
        if loss == "bce" and output != "sigmoid":
            raise ValueError("loss='bce' models Bernoulli pixels and needs output='sigmoid'.")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation={activation!r}: use one of {sorted(_ACTIVATIONS)}.")
        self.config = {"dims": dims, "activation": activation, "output": output, "loss": loss}
        self.encoder = mlp(dims, activation)
        self.decoder = mlp(dims[::-1], activation)

    @property
    def code_size(self) -> int:
        return self.config["dims"][-1]

    @property
    def n_inputs(self) -> int:
        return self.config["dims"][0]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code ``z = e(x)``: (n, dims[0]) -> (n, dims[-1])."""
        check_batch(x, self.n_inputs, "DenseAutoencoder.encode")
        return self.encoder(x)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's pre-activation output: (n, dims[-1]) -> (n, dims[0])."""
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x_hat = d(z)``: (n, dims[-1]) -> (n, dims[0])."""
        return self._squash(self.decode_logits(z))

    def _squash(self, a: torch.Tensor) -> torch.Tensor:
        out = self.config["output"]
        return torch.sigmoid(a) if out == "sigmoid" else torch.tanh(a) if out == "tanh" else a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``d(e(x))``: (n, dims[0]) -> (n, dims[0])."""
        return self.decode(self.encode(x))

    def loss(self, batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Reconstruction loss of a batch, and the per-image summed squared error."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        check_batch(x, self.n_inputs, "DenseAutoencoder.loss", unit_interval=self.config["loss"] == "bce")
        logits = self.decode_logits(self.encoder(x))
        if self.config["loss"] == "bce":
            loss = F.binary_cross_entropy_with_logits(logits.float(), x.float())
            x_hat = torch.sigmoid(logits)
        else:
            x_hat = self._squash(logits)
            loss = F.mse_loss(x_hat.float(), x.float())
        sse = (x_hat.detach().float() - x.float()).pow(2).sum(1).mean()
        return loss, {"sse": sse}

    def reconstruction_error(self, X: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
        """Per-example squared error summed over inputs, ``sum_i (x_i - x_hat_i)^2``: shape (n,)."""
        return batched_apply(self, lambda xb: (self(xb) - xb).pow(2).sum(1), X, batch_size)

    def transform(self, X: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
        """Codes of a whole data set, without gradients, on the CPU: (n, code_size)."""
        return batched_apply(self, self.encode, X, batch_size)

    def reconstruct(self, X: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
        """Reconstructions ``d(e(x))`` of a whole data set, on the CPU: (n, dims[0])."""
        return batched_apply(self, self, X, batch_size)
