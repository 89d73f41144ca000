import pytest
import torch

from companion.data import digits, manifold_1d, redundant_features, standardize


def test_digits():
    X, y = digits()
    assert X.shape == (1797, 64) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert X.min() == 0 and X.max() == 1
    assert digits(flatten=False)[0].shape == (1797, 1, 8, 8)


def test_redundant_features_follow_their_equation():
    X, y = redundant_features(n_samples=500, n_features=30, noise=0.1, seed=0)
    assert X.shape == (500, 30) and y.shape == (500,)
    residual = y - (2 * X[:, 0] + 1)
    assert abs(residual.std().item() - 0.1) < 0.02 and abs(residual.mean().item()) < 0.02
    assert torch.equal(redundant_features(n_samples=500, n_features=30, seed=0)[0], X)
    with pytest.raises(ValueError):
        redundant_features(n_features=0)


def test_manifold_is_the_stated_curve():
    X, z = manifold_1d(n_samples=1000, seed=2)
    assert X.shape == (1000, 4) and z.shape == (1000,)
    assert z.min() >= -5 and z.max() <= 5
    expected = torch.stack([z**2, z**3, torch.sin(z), torch.exp(z)], 1)
    assert torch.allclose(X, expected)
    with pytest.raises(ValueError, match="need high > low"):
        manifold_1d(low=1, high=1)


def test_standardize_and_reuse():
    X = torch.randn(200, 3) * torch.tensor([1.0, 10.0, 100.0]) + 5
    Z, mean, std = standardize(X)
    assert torch.allclose(Z.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(Z.std(0), torch.ones(3), atol=1e-5)
    Z2, _, _ = standardize(X[:10], mean, std)
    assert torch.allclose(Z2, Z[:10])
