"""PCA as a linear autoencoder: encode by projection, decode by the transpose."""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_batch, converts_input
from ..utils import ConstructorConfig


class PCA(ConstructorConfig, nn.Module):
    """Principal component analysis fitted by SVD, with an encoder/decoder interface.

    With :math:`\\mu` the data mean and :math:`U_m` the top ``m`` right singular
    vectors of the centred data (D x m, orthonormal columns),

    .. math:: z = U_m^\\top (x - \\mu), \\qquad \\hat x = \\mu + U_m z,

    which among all rank-``m`` linear maps minimizes the summed squared
    reconstruction error (Eckart-Young).

    Parameters
    ----------
    n_components : int
        Code size ``m``.
    """

    def __init__(self, n_components: int):
        super().__init__()
        if int(n_components) < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}.")
        self.n_components = int(n_components)  # config reads it back (ConstructorConfig)
        self.register_buffer("mean", torch.empty(0))
        self.register_buffer("components", torch.empty(0))  # (m, D), rows orthonormal
        self.register_buffer("explained_variance", torch.empty(0))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # buffers are sized by fit(); an unfitted PCA takes the sizes of the state it loads
        for name in ("mean", "components", "explained_variance"):
            if prefix + name in state_dict:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def fitted(self) -> bool:
        return self.components.numel() > 0

    @torch.no_grad()
    def fit(self, X: torch.Tensor) -> "PCA":
        """Fit on ``X`` of shape (N, D), N >= 2, m <= min(N, D)."""
        X = torch.as_tensor(X)
        if X.ndim != 2:
            raise ValueError(f"PCA.fit expects (N, D) data, got shape {tuple(X.shape)}.")
        m = self.n_components
        if m > min(X.shape):
            raise ValueError(f"n_components={m} exceeds min(N, D) = {min(X.shape)}.")
        check_batch(X, X.shape[1], "PCA.fit")
        X64 = X.double()
        self.mean = X64.mean(0)
        _, S, Vh = torch.linalg.svd(X64 - self.mean, full_matrices=False)
        # fix each component's sign so that results do not depend on the LAPACK build
        signs = torch.sign(Vh[:m].gather(1, Vh[:m].abs().argmax(1, keepdim=True)))
        self.components = Vh[:m] * signs
        self.explained_variance = S[:m] ** 2 / (len(X) - 1)
        self.mean, self.components = self.mean.to(X.dtype), self.components.to(X.dtype)
        self.explained_variance = self.explained_variance.to(X.dtype)
        return self

    def _require_fit(self):
        if not self.fitted:
            raise RuntimeError("this PCA is not fitted yet; call .fit(X) first.")

    @converts_input
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code ``z = U_m^T (x - mu)``: (n, D) -> (n, m)."""
        self._require_fit()
        check_batch(x, self.mean.shape[0], "PCA.encode")
        return (x - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x_hat = mu + U_m z``: (n, m) -> (n, D)."""
        self._require_fit()
        return self.mean + z @ self.components

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    transform = encode

    @converts_input
    def reconstruct(self, X: torch.Tensor) -> torch.Tensor:
        """``decode(encode(X))``: (n, D) -> (n, D)."""
        return self(X)

    @converts_input
    def reconstruction_error(self, X: torch.Tensor) -> torch.Tensor:
        """Per-example ``sum_i (x_i - x_hat_i)^2``: shape (n,)."""
        return (self(X) - X).pow(2).sum(1)
