"""Real-valued RBMs: every equation against enumeration of h and numerical integration, in float64."""

import math

import pytest
import torch

import companion as cp
from companion.likelihood import binary_states
from companion.models.rbm_real import GaussianBernoulliRBM
from companion.models.spike_slab import SpikeSlabRBM

DT = torch.float64


def all_h(n):
    return binary_states(n, dtype=DT)


def random_grbm(n_v=3, n_h=3, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    rbm = GaussianBernoulliRBM(n_v, n_h, **kw).double()
    with torch.no_grad():
        rbm.W.copy_(0.8 * torch.randn(n_v, n_h, generator=g, dtype=DT))
        rbm.b.copy_(torch.randn(n_v, generator=g, dtype=DT))
        rbm.c.copy_(torch.randn(n_h, generator=g, dtype=DT))
        rbm.log_var.copy_(0.5 * torch.randn(n_v, generator=g, dtype=DT))
    return rbm


def random_ssrbm(n_v=2, n_h=2, seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    rbm = SpikeSlabRBM(n_v, n_h, **kw).double()
    with torch.no_grad():
        rbm.W.copy_(torch.randn(n_v, n_h, generator=g, dtype=DT))
        rbm.b.copy_(0.5 * torch.randn(n_v, generator=g, dtype=DT))
        rbm.c.copy_(torch.randn(n_h, generator=g, dtype=DT))
        rbm.mu.copy_(torch.randn(n_h, generator=g, dtype=DT))
        rbm.log_lambda.copy_(0.3 * torch.randn(n_v, generator=g, dtype=DT))
        rbm.log_phi.copy_(-0.5 + 0.5 * torch.randn(n_v, n_h, generator=g, dtype=DT))
        rbm.log_alpha_margin.copy_(0.3 * torch.randn(n_h, generator=g, dtype=DT))
    return rbm


def grid_2d(half_width=12.0, n=1201):
    xs = torch.linspace(-half_width, half_width, n, dtype=DT)
    a, b = torch.meshgrid(xs, xs, indexing="ij")
    return torch.stack([a.reshape(-1), b.reshape(-1)], 1), (xs[1] - xs[0]) ** 2


def two_clusters(n, seed):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[-1.0, -0.3], [1.0, 0.5]])
    k = torch.randint(0, 2, (n,), generator=g)
    return centers[k] + torch.tensor([0.3, 0.2]) * torch.randn(n, 2, generator=g)


# --------------------------------------------------------------------------- Gaussian-Bernoulli RBM
def test_grbm_energy_is_the_written_formula():
    rbm = random_grbm(n_v=3, n_h=2)
    v, h = torch.randn(3, dtype=DT), torch.tensor([1.0, 0.0], dtype=DT)
    var = torch.exp(rbm.log_var)
    expected = sum((v[i] - rbm.b[i]) ** 2 / (2 * var[i]) for i in range(3)) - sum(rbm.c[j] * h[j] for j in range(2)) \
        - sum(v[i] / var[i] * rbm.W[i, j] * h[j] for i in range(3) for j in range(2))
    assert rbm.energy(v[None], h[None]).item() == pytest.approx(expected.item(), abs=1e-12)


def test_grbm_p_h_given_v_is_the_exact_conditional_of_the_energy():
    rbm = random_grbm()
    v = torch.randn(5, 3, dtype=DT) * 2
    h = all_h(3)
    energies = rbm.energy(v.repeat_interleave(len(h), 0), h.repeat(len(v), 1)).view(len(v), len(h))
    posterior = torch.softmax(-energies, dim=1)                      # p(h | v) over the 8 states
    p = rbm.p_h_given_v(v)
    assert torch.allclose(posterior @ h, p, atol=1e-12)
    factorized = (p[:, None, :] ** h * (1 - p[:, None, :]) ** (1 - h)).prod(2)
    assert torch.allclose(posterior, factorized, atol=1e-12)


def test_grbm_free_energy_sums_out_h():
    rbm = random_grbm()
    v = torch.randn(6, 3, dtype=DT) * 2
    h = all_h(3)
    energies = rbm.energy(v.repeat_interleave(len(h), 0), h.repeat(len(v), 1)).view(len(v), len(h))
    assert torch.allclose(rbm.free_energy(v), -torch.logsumexp(-energies, 1), atol=1e-12)


def test_grbm_p_v_given_h_matches_the_energy_and_numerical_integration():
    rbm = random_grbm(n_v=3)
    h = all_h(3)
    mean, std = rbm.p_v_given_h(h), rbm.visible_std()
    # E(v, h) + log N(v; mean, σ²) does not depend on v: the conditional is exactly this Gaussian
    for row in range(len(h)):
        v = torch.randn(7, 3, dtype=DT) * 3
        log_normal = torch.distributions.Normal(mean[row], std).log_prob(v).sum(1)
        total = rbm.energy(v, h[row].expand(7, -1)) + log_normal
        assert torch.allclose(total, total[0].expand(7), atol=1e-10)
    # and a one-visible model by quadrature
    one = random_grbm(n_v=1, n_h=2, seed=3)
    xs = torch.linspace(-30, 30, 60001, dtype=DT)[:, None]
    for hrow in all_h(2):
        w = torch.exp(-one.energy(xs, hrow.expand(len(xs), -1)))
        w = w / w.sum()
        m = (w * xs[:, 0]).sum()
        var = (w * (xs[:, 0] - m) ** 2).sum()
        assert m.item() == pytest.approx(one.p_v_given_h(hrow[None])[0, 0].item(), abs=1e-8)
        assert var.item() == pytest.approx(one.visible_std().item() ** 2, rel=1e-6)


def test_grbm_sample_v_has_the_stated_mean_and_variance():
    rbm = random_grbm()
    torch.manual_seed(0)
    h = torch.tensor([[1.0, 0.0, 1.0]], dtype=DT).expand(200_000, -1)
    v = rbm.sample_v(h)
    assert torch.allclose(v.mean(0), rbm.p_v_given_h(h[:1])[0], atol=0.015)
    assert torch.allclose(v.var(0), rbm.visible_std() ** 2, rtol=0.02)


def test_grbm_surrogate_gradient_is_data_minus_model_statistics(monkeypatch):
    rbm = random_grbm(n_v=4, n_h=3, weight_cost=0.0)
    g = torch.Generator().manual_seed(1)
    v_data = torch.randn(6, 4, generator=g, dtype=DT)
    v_model = torch.randn(5, 4, generator=g, dtype=DT) * 1.5
    monkeypatch.setattr(rbm, "negative_chain", lambda v0, h0=None, generator=None: (v_model, None))
    loss, metrics = rbm.loss(v_data)
    loss.backward()

    def stats(v):  # dF/dθ by hand, averaged over rows
        prec = torch.exp(-rbm.log_var.detach())
        p = torch.sigmoid(rbm.c.detach() + (v * prec) @ rbm.W.detach())
        b = rbm.b.detach()
        return {
            "W": -((v * prec).t() @ p) / len(v),
            "b": -((v - b) * prec).mean(0),
            "c": -p.mean(0),
            "log_var": (-0.5 * (v - b) ** 2 * prec + v * prec * (p @ rbm.W.detach().t())).mean(0),
        }

    data, model = stats(v_data), stats(v_model)
    for name in ("W", "b", "c", "log_var"):
        expected = data[name] - model[name]
        assert torch.allclose(getattr(rbm, name).grad, expected, atol=1e-12), name
    assert loss.item() == pytest.approx((rbm.free_energy(v_data).mean() - rbm.free_energy(v_model).mean()).item())
    assert set(metrics) == {"recon", "free_energy", "sigma"}


def test_grbm_log_partition_and_log_prob_integrate_to_one():
    rbm = random_grbm(n_v=2, n_h=3)
    grid, cell = grid_2d()
    numerical = torch.logsumexp(-rbm.free_energy(grid), 0) + torch.log(cell)
    assert rbm.log_partition() == pytest.approx(numerical.item(), abs=1e-8)
    assert torch.exp(rbm.log_prob(grid)).sum().item() * cell.item() == pytest.approx(1.0, abs=1e-8)


def test_grbm_mixture_view_matches_the_free_energy():
    rbm = random_grbm(n_v=3, n_h=3)
    log_w, means, var = rbm.mixture()
    v = torch.randn(5, 3, dtype=DT)
    comps = torch.distributions.Normal(means[None], var.sqrt()).log_prob(v[:, None]).sum(2)
    assert torch.allclose(torch.logsumexp(log_w + comps, 1), rbm.log_prob(v), atol=1e-10)


def test_grbm_gibbs_chains_reach_the_exact_marginal():
    rbm = random_grbm(n_v=2, n_h=3, seed=4)
    log_w, means, var = rbm.mixture()
    w = log_w.exp()
    mean = w @ means
    cov = torch.diag(var) + (means * w[:, None]).t() @ means - torch.outer(mean, mean)
    gen = torch.Generator().manual_seed(0)
    v = rbm.sample(4000, steps=200, generator=gen, mean_field=False)
    assert torch.allclose(v.mean(0), mean, atol=0.08)
    assert torch.allclose(torch.cov(v.t()), cov, atol=0.15)


@pytest.mark.parametrize("make", [lambda: random_grbm(n_v=2, n_h=3, seed=5), lambda: random_ssrbm(n_v=2, n_h=3, seed=5)])
def test_exact_ancestral_samples_have_the_model_moments(make):
    rbm = make()
    grid, cell = grid_2d()
    p = torch.exp(rbm.log_prob(grid)) * cell                        # the density on a grid
    mean = p @ grid
    cov = (grid - mean).t() @ ((grid - mean) * p[:, None])
    v, h = rbm.sample_exact(100_000, generator=torch.Generator().manual_seed(0))
    assert v.shape == (100_000, 2) and h.shape == (100_000, 3)
    assert torch.allclose(v.mean(0), mean, atol=0.02)
    assert torch.allclose(torch.cov(v.t()), cov, atol=0.03)


def test_grbm_training_raises_held_out_likelihood_and_learns_sigma():
    X, X_test = two_clusters(1000, 0), two_clusters(2000, 1)
    scores, before = {}, {}
    for learn in (False, True):
        cp.seed_everything(0)
        rbm = GaussianBernoulliRBM(2, 2, learn_sigma=learn, init_std=0.1)
        before[learn] = rbm.log_prob(X_test).mean().item()
        cp.fit(rbm, X, epochs=15, batch_size=50, lr=0.02, progress=False, seed=0, device="cpu")
        scores[learn] = rbm.log_prob(X_test).mean().item()
    # the clusters' own spread is (0.3, 0.2): a learned σ finds it, a fixed σ = 1 cannot
    assert torch.allclose(rbm.visible_std(), torch.tensor([0.3, 0.2]), rtol=0.2), rbm.visible_std()
    assert scores[True] > before[True] + 1.0 and scores[True] > scores[False] + 1.0, (before, scores)


def test_grbm_fixed_sigma_is_a_buffer_and_survives_training_and_checkpoints(tmp_path):
    rbm = GaussianBernoulliRBM(5, 3, learn_sigma=False, sigma=0.5)
    assert "log_var" not in dict(rbm.named_parameters()) and "log_var" in rbm.state_dict()
    cp.fit(rbm, torch.randn(64, 5), epochs=2, batch_size=16, progress=False, device="cpu")
    assert torch.allclose(rbm.visible_std(), torch.full((5,), 0.5))
    learned = GaussianBernoulliRBM(5, 3)
    assert "log_var" in dict(learned.named_parameters())
    restored = cp.load(cp.save(rbm, tmp_path / "g.pt"))
    x = torch.randn(4, 5)
    assert torch.equal(restored.free_energy(x), rbm.free_energy(x))


def test_grbm_pcd_eval_loss_and_shapes():
    rbm = GaussianBernoulliRBM(6, 4, persistent=True, n_chains=10, k=2)
    x = torch.randn(8, 6)
    loss, metrics = rbm.loss(x)
    assert loss.ndim == 0 and rbm.chains.shape == (10, 6)
    rbm.eval()
    loss, metrics = rbm.loss(x)
    assert loss.item() == pytest.approx(((x - rbm.reconstruct(x)) ** 2).sum(1).mean().item(), rel=1e-6)
    assert rbm.sample(3, steps=5).shape == (3, 6) and rbm.gibbs(x, k=3).shape == (8, 6)
    assert rbm.transform(x).shape == (8, 4)


def test_grbm_bad_input():
    rbm = GaussianBernoulliRBM(4, 3)
    with pytest.raises(ValueError, match="NaN"):
        rbm.check_batch(torch.tensor([[0.0, float("nan"), 1.0, 2.0]]))
    with pytest.raises(ValueError, match="shape"):
        rbm.loss(torch.randn(3, 5))
    with pytest.raises(TypeError, match="floating"):
        rbm.check_batch(torch.ones(2, 4, dtype=torch.int64))
    rbm.check_batch(torch.tensor([[-30.0, 0.0, 2.5, 100.0]]))  # any finite value is fine
    for sigma in (0.0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match="sigma"):
            GaussianBernoulliRBM(4, 3, sigma=sigma)
    assert not hasattr(rbm, "pseudo_log_likelihood")  # a Bernoulli RBM's method, not inherited by continuous units
    with pytest.raises(ValueError, match="2\\^21"):
        GaussianBernoulliRBM(2, 21).log_partition()
    with pytest.raises(ValueError, match="NaN"):
        cp.fit(rbm, torch.full((8, 4), float("nan")), epochs=1, progress=False)
