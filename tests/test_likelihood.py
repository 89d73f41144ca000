"""companion.likelihood: the one enumeration of binary states and the AIS driver every model uses."""

import itertools
import math

import pytest
import torch

from companion.likelihood import (
    MAX_EXACT_UNITS,
    ais_base,
    ais_betas,
    ais_chains,
    ais_generator,
    anneal,
    base_rate_bias,
    binary_states,
    check_enumerable,
    indexed_states,
    logsumexp_states,
)


def test_binary_states_count_in_order_and_slice_consistently():
    assert binary_states(3).tolist() == [list(map(float, s)) for s in itertools.product([0, 1], repeat=3)]
    assert binary_states(0).shape == (1, 0)
    full = binary_states(6, dtype=torch.float64)
    assert torch.equal(torch.cat([binary_states(6, a, min(a + 10, 64), dtype=torch.float64)
                                  for a in range(0, 64, 10)]), full)
    index = torch.tensor([5, 0, 63, 17])
    assert torch.equal(indexed_states(index, 6, torch.float64), full[index])


def test_one_limit_with_a_clear_error():
    check_enumerable(MAX_EXACT_UNITS)
    n = MAX_EXACT_UNITS + 1
    with pytest.raises(ValueError, match=rf"the widget sums over all 2\^{n} = 2,097,152 states.*limit is "
                                         rf"{MAX_EXACT_UNITS} units.*Try less\."):
        check_enumerable(n, "the widget", "Try less")


def test_logsumexp_over_states_in_chunks_matches_the_direct_sum():
    w = torch.randn(7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def terms(s):
        return s @ w + 0.5 * (s.sum(1) - 3) ** 2

    direct = torch.logsumexp(terms(binary_states(7, dtype=torch.float64)), 0)
    for chunk in (1, 5, 128, 1000):
        assert torch.allclose(logsumexp_states(7, terms, chunk), direct, rtol=0, atol=1e-12)
    # a factorial model's log Z in closed form: sum_i softplus(w_i)
    assert torch.allclose(logsumexp_states(7, lambda s: s @ w, 16), torch.nn.functional.softplus(w).sum())


def test_anneal_is_exact_when_every_weight_is_the_same():
    """A path whose log-ratio does not depend on the state gives every chain the same weight: no variance."""
    def step(state, beta_prev, beta):
        return torch.full((len(state),), 2.0 * (beta - beta_prev)), state

    result = anneal(torch.zeros(5, 3), step, n_chains=5, n_betas=50, log_z_base=1.5)
    assert result.log_z == pytest.approx(3.5) and result.lower == pytest.approx(3.5)
    assert result.upper == pytest.approx(3.5) and result.n_chains == 5 and result.n_betas == 50


def test_anneal_estimates_a_factorial_model_from_its_uniform_base():
    """Independent binary units with biases w: log Z = sum softplus(w), reached from a uniform base."""
    w = torch.tensor([1.5, -2.0, 0.3, 3.0], dtype=torch.float64)
    gen = ais_generator(torch.device("cpu"), 0)

    def step(s, beta_prev, beta):
        delta = (beta - beta_prev) * (s @ w)
        s = (torch.rand(s.shape, generator=gen, dtype=s.dtype) < torch.sigmoid(beta * w)).to(s.dtype)
        return delta, s

    s0 = (torch.rand(200, 4, generator=gen, dtype=torch.float64) < 0.5).double()
    result = anneal(s0, step, n_chains=200, n_betas=200, log_z_base=4 * math.log(2))
    exact = torch.nn.functional.softplus(w).sum().item()
    assert result.lower <= exact <= result.upper and abs(result.log_z - exact) < 0.05


def test_ais_inputs_are_checked():
    like = torch.zeros(3, dtype=torch.float64)
    assert torch.equal(ais_base(None, 3, like), like)
    assert torch.equal(ais_base(torch.tensor([1.0, 2.0, 3.0]), 3, like), torch.tensor([1.0, 2.0, 3.0]).double())
    data = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert torch.allclose(ais_base(data, 3, like), base_rate_bias(data))
    with pytest.raises(ValueError, match=r"base biases must have shape \(3,\)"):
        ais_base(torch.zeros(4), 3, like)
    with pytest.raises(ValueError, match="3 features per row"):
        ais_base(torch.zeros(2, 4), 3, like)
    with pytest.raises(ValueError, match="at least 2 to give an interval"):
        ais_chains(1)
    with pytest.raises(ValueError, match="increase strictly from 0 to 1"):
        anneal(torch.zeros(2, 1), None, n_chains=2, betas=[0.0, 0.5, 0.4, 1.0], log_z_base=0.0)
    with pytest.raises(ValueError, match="at least 4 temperatures"):
        ais_betas(3)
    betas = ais_betas(14500)
    assert betas[0] == 0 and betas[-1] == 1 and (betas.diff() > 0).all() and len(betas) == 14500
