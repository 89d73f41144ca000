import itertools
import math

import pytest
import torch

import companion as cp
from companion.models.boltzmann import MAX_EXACT_UNITS, BoltzmannMachine, all_states


def random_model(n_visible, n_hidden, seed=0, std=1.0, **kwargs):
    torch.manual_seed(seed)
    bm = BoltzmannMachine(n_visible, n_hidden, init_std=std, **kwargs).double()
    with torch.no_grad():
        bm.bias.normal_(0, 0.5)
    return bm


def brute_force(bm):
    """Every full state, its energy by the double sum, and its probability."""
    n, W, b = bm.n_units, bm.weight.detach(), bm.bias.detach()
    states = [torch.tensor(s, dtype=torch.float64) for s in itertools.product([0, 1], repeat=n)]
    energies = []
    for s in states:
        e = -sum(W[i, j] * s[i] * s[j] for i in range(n) for j in range(i + 1, n)) - (b * s).sum()
        energies.append(float(e))
    energies = torch.tensor(energies, dtype=torch.float64)
    z = torch.exp(-energies).sum()
    return torch.stack(states), energies, torch.exp(-energies) / z, math.log(z)


def test_all_states_counts_in_binary():
    assert all_states(3).tolist() == [list(map(float, s)) for s in itertools.product([0, 1], repeat=3)]
    assert all_states(0).shape == (1, 0)


def test_weight_is_symmetric_zero_diagonal_and_masked():
    bm = BoltzmannMachine(3, 2)
    W = bm.weight
    assert torch.equal(W, W.T) and (W.diagonal() == 0).all()
    assert bm.n_connections == 10
    rbm = BoltzmannMachine.restricted(3, 2)
    assert (rbm.weight[:3, :3] == 0).all() and (rbm.weight[3:, 3:] == 0).all()
    assert (rbm.weight[:3, 3:] != 0).all() and rbm.n_connections == 6


def test_energy_matches_a_hand_computation():
    bm = BoltzmannMachine(2, 1)
    with torch.no_grad():
        bm.upper.zero_()
        bm.upper[0, 1], bm.upper[0, 2], bm.upper[1, 2] = 1.5, -2.0, 0.5
        bm.upper[1, 0] = 99.0  # the lower triangle is ignored
        bm.bias.copy_(torch.tensor([0.25, -1.0, 0.5]))
    s = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    expected = torch.tensor([
        -(1.5 - 2.0 + 0.5) - (0.25 - 1.0 + 0.5),
        -(-2.0) - (0.25 + 0.5),
        0.0,
    ])
    assert torch.allclose(bm.energy(s), expected)


def test_energy_matches_brute_force_double_sum():
    bm = random_model(3, 2, seed=1)
    states, energies, _, _ = brute_force(bm)
    assert torch.allclose(bm.energy(states), energies)


def test_restricted_energy_is_the_rbm_energy():
    torch.manual_seed(2)
    rbm = BoltzmannMachine.restricted(3, 2, init_std=1.0).double()
    with torch.no_grad():
        rbm.bias.normal_()
    W, b = rbm.weight.detach(), rbm.bias.detach()
    v, h = all_states(5, dtype=torch.float64)[:, :3], all_states(5, dtype=torch.float64)[:, 3:]
    expected = -(v @ b[:3]) - (h @ b[3:]) - ((v @ W[:3, 3:]) * h).sum(1)
    assert torch.allclose(rbm.energy(torch.cat([v, h], 1)), expected)


@pytest.mark.parametrize("n_visible, n_hidden", [(4, 0), (3, 2), (2, 3)])
def test_log_partition_marginals_and_free_energy_match_brute_force(n_visible, n_hidden):
    bm = random_model(n_visible, n_hidden, seed=3)
    states, _, probs, log_z = brute_force(bm)
    assert bm.log_partition().item() == pytest.approx(log_z, abs=1e-10)
    V, pv = bm.marginal_visible()
    # p(v) by summing the brute-force joint over the hidden units
    expected = torch.stack([probs[(states[:, :n_visible] == v).all(1)].sum() for v in V])
    assert torch.allclose(pv, expected, atol=1e-12)
    assert pv.sum().item() == pytest.approx(1.0)
    assert torch.allclose(bm.log_prob(V).exp(), expected, atol=1e-12)
    free = torch.stack([-torch.log(torch.exp(-brute_force(bm)[1][(states[:, :n_visible] == v).all(1)]).sum()) for v in V])
    assert torch.allclose(bm.free_energy(V), free, atol=1e-10)


def test_exact_statistics_match_brute_force():
    bm = random_model(3, 2, seed=4)
    states, _, probs, _ = brute_force(bm)
    pairs, means = bm.exact_statistics()
    assert torch.allclose(pairs, (probs[:, None, None] * states[:, :, None] * states[:, None, :]).sum(0))
    assert torch.allclose(means, probs @ states) and torch.allclose(pairs.diagonal(), means)
    data = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0]], dtype=torch.float64)
    clamped, clamped_means = bm.exact_statistics(data)
    expected = torch.zeros(5, 5, dtype=torch.float64)
    for v in data:  # hidden units from p(h | v), by brute force over the joint
        rows = (states[:, :3] == v).all(1)
        q = probs[rows] / probs[rows].sum()
        s = states[rows]
        expected += (q[:, None, None] * s[:, :, None] * s[:, None, :]).sum(0) / len(data)
    assert torch.allclose(clamped, expected)
    assert torch.allclose(clamped_means, expected.diagonal())
    assert torch.allclose(clamped[:3, :3], data.T @ data / 3)  # visible statistics are the data's


def test_gibbs_frequencies_match_exact_marginals():
    bm = random_model(3, 1, seed=5, std=1.5).float()
    g = torch.Generator().manual_seed(0)
    chains = bm.sample(4000, steps=20, generator=g)
    counts = torch.zeros(8)
    for _ in range(10):  # 10 thinned snapshots of 4000 chains
        chains = bm.gibbs(chains, sweeps=3, generator=g)
        index = (chains[:, :3] * torch.tensor([4.0, 2.0, 1.0])).sum(1).long()
        counts += torch.bincount(index, minlength=8)
    freq = counts / counts.sum()
    _, exact = bm.marginal_visible()
    assert 0.5 * (freq - exact).abs().sum() < 0.015  # total variation distance
    assert (freq - exact).abs().max() < 0.01


def test_clamped_gibbs_leaves_the_visible_units_alone():
    bm = random_model(3, 2, seed=6).float()
    s = torch.tensor([[1.0, 0.0, 1.0, 0.0, 0.0]]).repeat(2000, 1)
    out = bm.gibbs(s, sweeps=5, clamp_visible=True, generator=torch.Generator().manual_seed(0))
    assert (out[:, :3] == s[:, :3]).all()
    _, means = bm.exact_statistics(s[:1, :3])
    assert torch.allclose(out[:, 3:].mean(0), means[3:].float(), atol=0.04)


def test_loss_gradient_is_data_minus_model_statistics():
    bm = random_model(3, 2, seed=7)
    data = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    loss, metrics = bm.loss(data)
    assert loss.item() == pytest.approx(-bm.log_prob(data).mean().item())
    assert metrics["nll"] == loss.detach()
    loss.backward()
    model_pairs, model_means = bm.exact_statistics()
    data_pairs, data_means = bm.exact_statistics(data)
    upper = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    assert torch.allclose(bm.upper.grad[upper], (model_pairs - data_pairs)[upper], atol=1e-10)
    assert (bm.upper.grad[~upper] == 0).all()
    assert torch.allclose(bm.bias.grad, model_means - data_means, atol=1e-10)


def test_masked_connections_get_no_gradient():
    rbm = BoltzmannMachine.restricted(3, 2).double()
    rbm.loss(torch.tensor([[1.0, 0.0, 1.0]], dtype=torch.float64))[0].backward()
    assert (rbm.upper.grad[:3, :3] == 0).all() and (rbm.upper.grad[3:, 3:] == 0).all()
    assert (rbm.upper.grad[:3, 3:] != 0).all()


def test_gibbs_surrogate_gradient_is_sampled_statistics():
    torch.manual_seed(0)
    bm = BoltzmannMachine(3, 2, statistics="gibbs", n_chains=50, gibbs_sweeps=2)
    data = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    torch.manual_seed(1)
    loss, metrics = bm.loss(data)
    loss.backward()
    torch.manual_seed(1)  # replay the same samples by hand
    h0 = torch.randint(0, 2, (2, 2)).float()
    positive = bm.gibbs(torch.cat([data, h0], 1), 2, clamp_visible=True)
    chains = bm.gibbs(torch.randint(0, 2, (50, 5)).float(), 2)
    assert torch.equal(chains, bm.chains)
    expected = chains.T @ chains / 50 - positive.T @ positive / 2
    upper = torch.triu(torch.ones(5, 5, dtype=torch.bool), 1)
    assert torch.allclose(bm.upper.grad[upper], expected[upper], atol=1e-6)
    assert torch.allclose(bm.bias.grad, expected.diagonal(), atol=1e-6)
    assert metrics["energy_gap"] == loss.detach()


@pytest.mark.parametrize("statistics", ["exact", "gibbs"])
def test_training_raises_the_exact_log_likelihood(statistics):
    data = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]).repeat(32, 1)
    cp.seed_everything(0)
    bm = BoltzmannMachine(4, 2, statistics=statistics, n_chains=200, gibbs_sweeps=2)
    before = bm.log_prob(data).mean().item()
    cp.fit(bm, data, epochs=30, batch_size=16, lr=0.05, seed=0, progress=False)
    after = bm.log_prob(data).mean().item()
    assert after > before + 1.0
    assert after > math.log(0.5) - 0.3  # the best possible is log(1/2): two equally likely patterns


def test_exact_enumeration_beyond_the_limit_says_why():
    n = MAX_EXACT_UNITS + 1
    with pytest.raises(ValueError, match=r"2\^21 = 2,097,152 states.*Gibbs"):
        all_states(n)
    with pytest.raises(ValueError, match="statistics='gibbs'"):
        BoltzmannMachine(15, 6)
    big = BoltzmannMachine(15, 6, statistics="gibbs")
    for method in (big.log_partition, big.marginal_visible, big.exact_statistics):
        with pytest.raises(ValueError, match="2\\^21"):
            method()
    big.gibbs(torch.zeros(2, 21), sweeps=1)  # sampling still works


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.full((2, 3), 0.5), "binary"),
        (torch.ones(2, 4), r"shape \(B, 3\)"),
        (torch.ones(3), r"shape \(B, 3\)"),
        (torch.tensor([[1.0, float("nan"), 0.0]]), "NaN"),
        ([[1, 0, 1]], "torch.Tensor"),
    ],
)
def test_bad_visible_data_raise_clear_errors(bad, message):
    bm = BoltzmannMachine(3, 2)
    for method in (bm.loss, bm.free_energy, bm.log_prob, bm.check_data):
        with pytest.raises((ValueError, TypeError), match=message):
            method(bad)


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="statistics"):
        BoltzmannMachine(3, statistics="mean-field")
    with pytest.raises(ValueError, match="mask"):
        BoltzmannMachine(2, 1, mask=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="n_visible"):
        BoltzmannMachine(0, 2)
    with pytest.raises(ValueError, match=r"shape \(B, 5\)"):
        BoltzmannMachine(3, 2).energy(torch.ones(2, 3))
