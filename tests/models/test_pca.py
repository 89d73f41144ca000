import itertools

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SklearnPCA

import companion as cp
from companion.models import PCA


def test_matches_scikit_learn():
    X, _ = cp.data.digits()
    X = X.double()
    ours = PCA(7).fit(X)
    theirs = SklearnPCA(7).fit(X.numpy())
    np.testing.assert_allclose(ours.explained_variance.numpy(), theirs.explained_variance_, rtol=1e-8)
    rec = theirs.inverse_transform(theirs.transform(X.numpy()))
    np.testing.assert_allclose(ours.reconstruct(X).numpy(), rec, atol=1e-10)


def test_is_the_best_rank_m_projection_among_coordinate_subspaces():
    """Eckart-Young on a tiny case: no projection onto m original axes beats PCA."""
    torch.manual_seed(0)
    X = torch.randn(200, 4, dtype=torch.float64) @ torch.randn(4, 4, dtype=torch.float64)
    pca_err = PCA(2).fit(X).reconstruction_error(X).sum()
    Xc = X - X.mean(0)
    for axes in itertools.combinations(range(4), 2):
        keep = torch.zeros(4, dtype=torch.float64)
        keep[list(axes)] = 1
        err = (Xc - Xc * keep).pow(2).sum()
        assert pca_err <= err + 1e-9


def test_encode_decode_equations():
    X = torch.randn(50, 6, dtype=torch.float64)
    pca = PCA(3).fit(X)
    U = pca.components.T
    assert torch.allclose(U.T @ U, torch.eye(3, dtype=torch.float64), atol=1e-12)
    z = pca.encode(X)
    assert torch.allclose(z, (X - X.mean(0)) @ U)
    assert torch.allclose(pca.decode(z), X.mean(0) + z @ U.T)


def test_errors():
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        PCA(0)
    with pytest.raises(ValueError, match="exceeds min"):
        PCA(5).fit(torch.randn(3, 10))
    with pytest.raises(ValueError, match=r"expects \(N, D\) data"):
        PCA(1).fit(torch.randn(3))
    with pytest.raises(RuntimeError, match="not fitted yet"):
        PCA(1).encode(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        PCA(1).fit(torch.randn(5, 3)).encode(torch.randn(2, 4))
