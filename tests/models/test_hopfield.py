import itertools
import math

import pytest
import torch

from companion.models.hopfield import (
    HopfieldNetwork,
    flip,
    overlap,
    to_spins,
)


def random_patterns(p, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (p, n), generator=g).float() * 2 - 1


def random_symmetric(n, seed=0, bias=True):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g)
    w = (a + a.T) / 2
    w.fill_diagonal_(0)
    return w, (torch.randn(n, generator=g) if bias else None)


def test_hebb_rule_is_the_equation():
    xi = random_patterns(3, 8)
    net = HopfieldNetwork(8).store(xi)
    expected = sum(torch.outer(p, p) for p in xi) / 8
    expected.fill_diagonal_(0)
    assert torch.allclose(net.weight, expected)
    assert torch.equal(net.weight, net.weight.T) and net.n_patterns == 3
    net2 = HopfieldNetwork(8).store(xi[:1]).store(xi[1:], append=True)
    assert torch.allclose(net2.weight, net.weight) and net2.n_patterns == 3


def test_energy_matches_a_hand_computation():
    net = HopfieldNetwork(3)
    w = torch.tensor([[0.0, 1.0, -2.0], [1.0, 0.0, 0.5], [-2.0, 0.5, 0.0]])
    net.set_weights(w, torch.tensor([0.1, -0.3, 0.2]))
    s = torch.tensor([1.0, -1.0, 1.0])
    # -(w12 s1 s2 + w13 s1 s3 + w23 s2 s3) - theta.s = -(-1 - 2 - 0.5) - (0.1 + 0.3 + 0.2)
    assert net.energy(s).item() == pytest.approx(3.5 - 0.6)
    batch = torch.stack([s, -s])
    assert net.energy(batch).shape == (2,)


def test_asynchronous_updates_never_raise_the_energy():
    n = 12
    net = HopfieldNetwork(n).set_weights(*random_symmetric(n, seed=1))
    start = random_patterns(64, n, seed=2)
    g = torch.Generator().manual_seed(3)
    end, trace = net.update(start, "async", steps=4, generator=g, return_energies=True)
    assert trace.shape == (4 * n + 1, 64)
    assert (trace[1:] - trace[:-1]).max() <= 1e-5  # monotone after every single-unit update
    assert torch.allclose(trace[-1], net.energy(end), atol=1e-4)  # the incremental trace is the energy
    assert (trace[-1] < trace[0] - 1e-3).float().mean() > 0.9  # and it really descends


def test_single_unit_trace_matches_recomputed_energies():
    """The bookkeeping dE = -(s_i' - s_i) h_i agrees with E recomputed after each update."""
    n = 6
    net = HopfieldNetwork(n).set_weights(*random_symmetric(n, seed=4))
    s = random_patterns(1, n, seed=5)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    _, trace = net.update(s, steps=1, generator=g1, return_energies=True)
    order = torch.randperm(n, generator=g2).tolist()
    x, energies = s.clone(), [net.energy(s)]
    for i in order:  # a plain reference implementation of the asynchronous rule
        h = (net.weight[i] * x[0]).sum() + net.bias[i]
        if h != 0:
            x[0, i] = torch.sign(h)
        energies.append(net.energy(x))
    assert torch.allclose(trace, torch.stack(energies), atol=1e-5)
    assert torch.equal(s, random_patterns(1, n, seed=5))  # the input is not modified


def test_recall_converges_to_a_fixed_point_and_reports_it():
    n = 16
    net = HopfieldNetwork(n).set_weights(*random_symmetric(n, seed=8))
    result = net.recall(random_patterns(32, n, seed=9), max_sweeps=100, generator=torch.Generator().manual_seed(0))
    assert result.converged.all()
    assert net.is_fixed_point(result.states).all()
    assert (result.energies[1:] - result.energies[:-1]).max() <= 1e-5
    # at a fixed point another sweep changes nothing
    assert torch.equal(net.update(result.states, steps=1), result.states)


def test_stored_patterns_are_fixed_points_at_low_load():
    xi = random_patterns(10, 400, seed=10)  # alpha = 0.025
    net = HopfieldNetwork(400).store(xi)
    assert net.is_fixed_point(xi).all()
    assert torch.equal(net.update(xi, steps=2, generator=torch.Generator().manual_seed(0)), xi)


@pytest.mark.parametrize("fraction", [0.1, 0.2])
def test_recall_from_flipped_bits_at_low_load(fraction):
    xi = random_patterns(15, 300, seed=11)  # alpha = 0.05
    net = HopfieldNetwork(300).store(xi)
    g = torch.Generator().manual_seed(1)
    noisy = flip(xi, fraction, g)
    assert ((noisy != xi).sum(1) == round(fraction * 300)).all()
    result = net.recall(noisy, generator=g)
    assert torch.equal(result.states, xi)
    assert result.converged.all()
    assert (overlap(result.states, xi).diagonal() == 1).all()


def correlated_patterns(p, n, shared=0.85, seed=0):
    """Patterns that agree with one base pattern on about ``shared`` of their bits (like digits on their background)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1
    keep = torch.rand(p, n, generator=g) < shared
    return torch.where(keep, base, torch.randint(0, 2, (p, n), generator=g).float() * 2 - 1)


def test_projection_rule_stores_correlated_patterns_that_hebb_cannot():
    xi = correlated_patterns(8, 300)
    off = overlap(xi, xi)[~torch.eye(8, dtype=torch.bool)]
    assert off.mean() > 0.6  # far from random patterns, whose overlaps are about 1/sqrt(N)
    hebb = HopfieldNetwork(300).store(xi)
    assert not hebb.is_fixed_point(xi).any()
    proj = HopfieldNetwork(300).store(xi, rule="projection")
    assert proj.is_fixed_point(xi).all()
    full = xi.T @ torch.linalg.pinv(xi @ xi.T) @ xi  # the projection onto the patterns' span
    assert torch.allclose(proj.weight + torch.diag(full.diagonal()), full, atol=1e-5)
    g = torch.Generator().manual_seed(0)
    result = proj.recall(flip(xi, 0.1, g), generator=g)
    assert torch.equal(result.states, xi)
    with pytest.raises(ValueError, match="append"):
        proj.store(xi, rule="projection", append=True)
    with pytest.raises(ValueError, match="rule"):
        proj.store(xi, rule="storkey")


def test_zero_one_hebb_rule_fails_where_spins_work():
    """The Hebb product of {0,1} patterns (as the source allows) can only strengthen weights."""
    xi = random_patterns(5, 200, seed=12)
    zero_one = (xi + 1) / 2
    w = zero_one.T @ zero_one / 200
    w.fill_diagonal_(0)
    assert (w >= 0).all()
    # in 0/1 dynamics (unit on when its field is positive) no field is ever negative, so the
    # off units of every pattern get switched on: the patterns are not fixed points
    field = zero_one @ w
    assert (field >= 0).all()
    switched_on = ((zero_one == 0) & (field > 0)).float().sum(1) / (zero_one == 0).float().sum(1)
    assert (switched_on > 0.9).all()
    assert HopfieldNetwork(200).store(xi).is_fixed_point(xi).all()


def test_synchronous_updates_can_oscillate():
    net = HopfieldNetwork(2).set_weights(torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))
    s = torch.tensor([[1.0, 1.0]])
    assert torch.equal(net.update(s, "sync"), -s)
    assert torch.equal(net.update(s, "sync", steps=2), s)
    result = net.recall(s, mode="sync", max_sweeps=10)
    assert result.two_cycle.all() and not result.converged.any()
    assert result.sweeps < 10
    # asynchronously the same network settles at once into an energy minimum
    result = net.recall(s, mode="async", generator=torch.Generator().manual_seed(0))
    assert result.converged.all() and result.states[0, 0] == -result.states[0, 1]


def test_ties_keep_the_current_state():
    net = HopfieldNetwork(3)  # all weights zero: every field is zero
    s = torch.tensor([[1.0, -1.0, 1.0]])
    assert torch.equal(net.update(s, steps=3, generator=torch.Generator().manual_seed(0)), s)
    assert torch.equal(net.update(s, "sync"), s)
    assert net.is_fixed_point(s).all()


def test_brute_force_minimum_is_a_fixed_point():
    n = 8
    net = HopfieldNetwork(n).set_weights(*random_symmetric(n, seed=13))
    states = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=n)))
    best = states[net.energy(states).argmin()]
    assert net.is_fixed_point(best).all()
    fixed = states[net.is_fixed_point(states)]
    ends = net.recall(states, generator=torch.Generator().manual_seed(0)).states
    # every end state is one of the fixed points found by enumeration
    assert (ends[:, None, :] == fixed[None]).all(-1).any(1).all()


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.zeros(2, 5), "only -1 and \\+1.*to_spins"),
        (torch.full((2, 5), 0.3), "only -1 and \\+1"),
        (torch.ones(2, 4), "shape \\(5,\\)"),
        (torch.ones(2, 3, 5), "shape \\(5,\\)"),
        (torch.tensor([[1.0, -1.0, float("nan"), 1.0, 1.0]]), "NaN"),
        ([1, -1, 1, 1, 1], "torch.Tensor"),
    ],
)
def test_bad_states_raise_clear_errors(bad, message):
    net = HopfieldNetwork(5)
    for method in (net.energy, net.update, net.recall, net.store):
        with pytest.raises((ValueError, TypeError), match=message):
            method(bad)


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="n_units"):
        HopfieldNetwork(1)
    net = HopfieldNetwork(3)
    s = torch.ones(1, 3)
    with pytest.raises(ValueError, match="mode"):
        net.update(s, mode="parallel")
    with pytest.raises(ValueError, match="symmetric"):
        net.set_weights(torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="diagonal"):
        net.set_weights(torch.eye(3))
    with pytest.raises(ValueError, match="fraction"):
        flip(s, 1.5)
    with pytest.raises(ValueError, match="NaN"):
        to_spins(torch.tensor([0.2, float("nan")]))


def test_to_spins_and_state_dict_round_trip():
    x = torch.tensor([[0.0, 1.0, 0.7, 0.2]])
    assert to_spins(x).tolist() == [[-1.0, 1.0, 1.0, -1.0]]
    net = HopfieldNetwork(4).store(to_spins(x))
    other = HopfieldNetwork(4)
    other.load_state_dict(net.state_dict())
    assert torch.equal(other.weight, net.weight)
