"""Small data sets: scikit-learn's 8x8 digits and the synthetic examples of chapter 01."""

from __future__ import annotations

import torch


def digits(flatten: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 handwritten digits, 8x8, scaled to [0, 1].

    Returns
    -------
    X : float32, shape (1797, 64) or (1797, 1, 8, 8)
    y : int64, shape (1797,)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0
    if not flatten:
        X = X.reshape(-1, 1, 8, 8)
    return X, torch.as_tensor(bunch.target, dtype=torch.int64)


def redundant_features(
    n_samples: int = 1000, n_features: int = 900, noise: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Regression where only the first feature matters: ``y = 2 x_0 + 1 + noise``.

    Every feature is standard normal; the other ``n_features - 1`` are pure
    distraction, which is what makes a linear model fitted on all of them
    generalize worse than one fitted on a few.

    Returns
    -------
    X : float64, shape (n_samples, n_features)
    y : float64, shape (n_samples,)
    """
    if n_features < 1 or n_samples < 2:
        raise ValueError("need n_features >= 1 and n_samples >= 2.")
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n_samples, n_features, generator=gen, dtype=torch.float64)
    y = 2.0 * X[:, 0] + 1.0 + noise * torch.randn(n_samples, generator=gen, dtype=torch.float64)
    return X, y


def manifold_1d(
    n_samples: int = 10_000, low: float = -5.0, high: float = 5.0, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """A 1-D curve in 4-D: ``z -> (z^2, z^3, sin z, exp z)`` with ``z ~ U(low, high)``.

    Returns
    -------
    X : float32, shape (n_samples, 4)
    z : float32, shape (n_samples,), the true coordinate along the curve
    """
    if not high > low:
        raise ValueError(f"need high > low, got low={low}, high={high}.")
    gen = torch.Generator().manual_seed(seed)
    z = low + (high - low) * torch.rand(n_samples, generator=gen)
    X = torch.stack([z**2, z**3, torch.sin(z), torch.exp(z)], dim=1)
    return X, z


def standardize(
    X: torch.Tensor, mean: torch.Tensor | None = None, std: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Column-wise ``(X - mean) / std``; returns the statistics to undo or reuse it.

    Pass the training set's ``mean`` and ``std`` to scale held-out data the same way.
    """
    if mean is None:
        mean = X.mean(0)
    if std is None:
        std = X.std(0).clamp_min(1e-12)
    return (X - mean) / std, mean, std
