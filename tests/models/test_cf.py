"""Collaborative-filtering baselines: hand-computed cases and a recoverable low-rank matrix."""

import numpy as np
import pytest
import torch

import companion as cp
from companion.data import RatingMatrix
from companion.models import BiasBaseline, GlobalMean, MatrixFactorization


def matrix(values):
    values = torch.as_tensor(values, dtype=torch.float32)
    return RatingMatrix(values, np.arange(values.shape[0]), np.arange(values.shape[1]))


R = matrix([[5, 3, 0], [4, 0, 1], [0, 2, 2]])


def test_global_mean():
    model = GlobalMean().fit(R)
    assert model.mean_ == pytest.approx(17 / 6)
    torch.testing.assert_close(model.predict(R), torch.full((3, 3), 17 / 6))


def test_bias_baseline_one_sweep_by_hand():
    model = BiasBaseline(reg_user=1.0, reg_item=2.0, n_sweeps=1, clip=None).fit(R)
    mu = 17 / 6
    b_u = [(5 + 3 - 2 * mu) / 3, (4 + 1 - 2 * mu) / 3, (2 + 2 - 2 * mu) / 3]
    b_i = [(5 - mu - b_u[0] + 4 - mu - b_u[1]) / 4, (3 - mu - b_u[0] + 2 - mu - b_u[2]) / 4,
           (1 - mu - b_u[1] + 2 - mu - b_u[2]) / 4]
    np.testing.assert_allclose(model.user_bias_.numpy(), b_u, rtol=1e-6)
    np.testing.assert_allclose(model.item_bias_.numpy(), b_i, rtol=1e-6)
    assert model.predict(R)[0, 2].item() == pytest.approx(mu + b_u[0] + b_i[2], rel=1e-6)


def test_bias_baseline_without_regularization_fits_additive_data_exactly():
    user, item = torch.tensor([0.5, -0.5, 0.0]), torch.tensor([1.0, 0.0, -1.0, 0.5])
    full = 3.0 + user[:, None] + item[None, :]
    mask = torch.tensor([[1, 1, 0, 1], [1, 0, 1, 1], [0, 1, 1, 1]], dtype=torch.bool)
    model = BiasBaseline(reg_user=0.0, reg_item=0.0, n_sweeps=200, clip=None).fit(matrix(full * mask))
    torch.testing.assert_close(model.predict(matrix(full * mask)), full, atol=1e-4, rtol=0)


def test_matrix_factorization_recovers_a_low_rank_matrix():
    cp.seed_everything(0)
    g = torch.Generator().manual_seed(0)
    full = (3 + torch.randn(60, 2, generator=g) @ torch.randn(2, 40, generator=g) * 0.7).clamp(1, 5)
    observed = torch.rand(60, 40, generator=g) < 0.6
    train, test = matrix(full * observed), matrix(full * ~observed)
    model = MatrixFactorization(60, 40, n_factors=4, reg=0.001)
    model.fit(train, epochs=200, lr=0.02, batch_size=256, progress=False, seed=0)
    mask = test.mask
    err = ((model.predict(train) - full)[mask] ** 2).mean().sqrt()
    spread = full[mask].std()
    assert err < 0.25 * spread, (err, spread)


def test_errors_are_clear():
    with pytest.raises(RuntimeError, match="not fitted"):
        GlobalMean().predict(R)
    with pytest.raises(TypeError, match="RatingMatrix"):
        BiasBaseline().fit(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="no ratings"):
        GlobalMean().fit(matrix([[0, 0]]))
    model = BiasBaseline().fit(R)
    with pytest.raises(ValueError, match="same users"):
        model.predict(matrix([[1, 2]]))
    with pytest.raises(ValueError, match="3 x 3"):
        MatrixFactorization(2, 2).fit(R, epochs=1, progress=False)


def test_matrix_factorization_survives_a_checkpoint(tmp_path):
    cp.seed_everything(0)
    model = MatrixFactorization(3, 3, n_factors=2)
    model.fit(R, epochs=2, progress=False)
    cp.save(model, tmp_path / "mf.pt")
    loaded = cp.load(tmp_path / "mf.pt")
    torch.testing.assert_close(loaded.predict(R), model.predict(R))


def test_bias_baseline_without_regularization_survives_an_empty_column():
    values = torch.tensor([[5.0, 3.0, 0.0], [4.0, 0.0, 0.0]])  # item 2: nobody rated it
    model = BiasBaseline(reg_user=0.0, reg_item=0.0, clip=None).fit(matrix(values))
    pred = model.predict(matrix(values))
    assert torch.isfinite(pred).all() and model.item_bias_[2] == 0


def test_matrix_factorization_refuses_a_misaligned_validation_matrix():
    other = RatingMatrix(R.values, R.user_ids, np.array([0, 1, 7]))
    with pytest.raises(ValueError, match="do not line up"):
        MatrixFactorization(3, 3).fit(R, validation=other, epochs=1, progress=False)
