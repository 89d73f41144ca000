"""RBM likelihood estimators: exact log Z by enumeration, AIS against it, log-likelihood."""

import itertools
import math

import pytest
import torch

from companion.estimate import (
    ais_betas,
    ais_log_partition,
    base_rate_bias,
    log_likelihood,
    log_partition_exact,
)
from companion.models import BernoulliRBM


def random_rbm(n_v, n_h, seed, scale=1.0):
    torch.manual_seed(seed)
    rbm = BernoulliRBM(n_v, n_h, init_std=scale)
    with torch.no_grad():
        rbm.b.normal_(0, scale)
        rbm.c.normal_(0, scale)
    return rbm


def brute_force_log_z(rbm):
    n_v, n_h = rbm.W.shape
    v = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n_v)), dtype=torch.float64)
    h = torch.tensor(list(itertools.product([0.0, 1.0], repeat=n_h)), dtype=torch.float64)
    W, b, c = rbm.W.double().detach(), rbm.b.double().detach(), rbm.c.double().detach()
    neg_energy = (v @ b)[:, None] + (h @ c)[None, :] + v @ W @ h.T
    return torch.logsumexp(neg_energy.flatten(), 0).item()


@pytest.mark.parametrize("shape", [(6, 4), (4, 7), (8, 8)])
def test_exact_log_partition_matches_brute_force(shape):
    rbm = random_rbm(*shape, seed=sum(shape))
    assert math.isclose(log_partition_exact(rbm), brute_force_log_z(rbm), abs_tol=1e-9)


def test_exact_log_partition_enumerates_the_smaller_layer():
    # 30 visible units are fine when the hidden layer is small
    rbm = random_rbm(30, 5, seed=0, scale=0.3)
    v_sum = log_partition_exact(rbm)
    assert math.isfinite(v_sum)


def test_exact_log_partition_refuses_large_models():
    with pytest.raises(ValueError, match="ais_log_partition"):
        log_partition_exact(BernoulliRBM(30, 26))


@pytest.mark.parametrize("seed", range(5))
def test_ais_lands_within_half_a_nat_of_exact(seed):
    rbm = random_rbm(16, 10, seed=seed)
    data = (torch.rand(200, 16) < 0.4).float()
    result = ais_log_partition(rbm, n_chains=100, n_betas=2000, base=data, seed=seed)
    exact = log_partition_exact(rbm)
    assert abs(result.log_z - exact) < 0.5, (result, exact)
    assert result.lower <= result.upper and result.n_chains == 100 and result.n_betas == 2000


def test_ais_is_exact_when_the_model_is_the_base_rate():
    # W = 0 and c = 0: every importance weight is 1, so the estimate is exact with zero spread
    rbm = BernoulliRBM(12, 5)
    with torch.no_grad():
        rbm.W.zero_()
        rbm.b.copy_(torch.linspace(-2, 2, 12))
    result = ais_log_partition(rbm, n_chains=10, n_betas=50, base=rbm.b.detach().clone())
    assert math.isclose(result.log_z, log_partition_exact(rbm), abs_tol=1e-5)
    assert result.upper - result.lower < 1e-5


def test_ais_is_repeatable_and_leaves_the_global_generator_alone():
    rbm = random_rbm(10, 6, seed=1)
    state = torch.get_rng_state()
    a = ais_log_partition(rbm, n_chains=20, n_betas=100, seed=3)
    b = ais_log_partition(rbm, n_chains=20, n_betas=100, seed=3)
    assert a.log_z == b.log_z
    assert torch.equal(state, torch.get_rng_state())


def test_betas_are_increasing_from_zero_to_one():
    betas = ais_betas(14500)
    assert len(betas) == 14500 and betas[0] == 0 and betas[-1] == 1 and (betas.diff() > 0).all()
    with pytest.raises(ValueError, match="temperatures"):
        ais_betas(2)


def test_bad_schedules_and_bases_are_refused():
    rbm = BernoulliRBM(5, 3)
    with pytest.raises(ValueError, match="betas"):
        ais_log_partition(rbm, betas=torch.tensor([0.0, 0.7, 0.5, 1.0]))
    with pytest.raises(ValueError, match="base"):
        ais_log_partition(rbm, base=torch.zeros(4))
    with pytest.raises(ValueError, match="n_chains"):
        ais_log_partition(rbm, n_chains=1, n_betas=10)


def test_base_rate_bias_is_smoothed_log_odds():
    X = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 0.0]])
    p = torch.sigmoid(base_rate_bias(X, eps=0.0))
    assert torch.allclose(p, torch.tensor([1.0, 0.25], dtype=torch.float64))
    assert torch.isfinite(base_rate_bias(X)).all()


def test_log_likelihood_sums_to_one_over_all_states():
    rbm = random_rbm(6, 3, seed=4)
    v = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)))
    estimate = log_likelihood(rbm, v, log_partition_exact(rbm))
    assert math.isclose(estimate.per_example.exp().sum().item(), 1.0, rel_tol=1e-5)
    assert estimate.per_example.shape == (64,) and "nats" in str(estimate)


def test_log_likelihood_refuses_grey_levels():
    rbm = BernoulliRBM(4, 2)
    with pytest.raises(ValueError, match="binary"):
        log_likelihood(rbm, torch.full((3, 4), 0.5), 1.0)


def test_estimators_refuse_real_valued_rbms():
    from companion.models import GaussianBernoulliRBM

    grbm = GaussianBernoulliRBM(4, 2)
    with pytest.raises(TypeError, match="log_partition"):
        log_partition_exact(grbm)
    with pytest.raises(TypeError, match="BernoulliRBM"):
        ais_log_partition(grbm, n_chains=4, n_betas=10)


@pytest.mark.parametrize("log_z", [float("nan"), float("inf"), -float("inf")])
def test_log_likelihood_refuses_a_non_finite_log_z(log_z):
    from companion.estimate import log_likelihood
    from companion.models import BernoulliRBM

    with pytest.raises(ValueError, match="must be finite"):
        log_likelihood(BernoulliRBM(4, 2), torch.ones(3, 4), log_z)
