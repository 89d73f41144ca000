"""The spike-and-slab RBM: every equation against enumeration of h and numerical integration, in float64."""

import math

import pytest
import torch

import companion as cp
from companion.models import GaussianBernoulliRBM, SpikeSlabRBM
from tests.models.test_rbm_real import DT, all_h, grid_2d, random_ssrbm


def two_rays(n, seed):
    g = torch.Generator().manual_seed(seed)
    angles = torch.tensor([math.radians(20.0), math.radians(110.0)])
    dirs = torch.stack([angles.cos(), angles.sin()], 1)
    k = torch.randint(0, 2, (n,), generator=g)
    return 1.4 * torch.randn(n, 1, generator=g) * dirs[k] + 0.1 * torch.randn(n, 2, generator=g)


def slab_integrals(rbm, v, half_width=14.0, n=561):
    """log ∫∫ exp(-E(v, s, h)) ds over a 2-D slab grid for every h, and the slab moments: (N, 4), ..."""
    xs = torch.linspace(-half_width, half_width, n, dtype=DT)
    a, b = torch.meshgrid(xs, xs, indexing="ij")
    s = torch.stack([a.reshape(-1), b.reshape(-1)], 1)
    cell = torch.log((xs[1] - xs[0]) ** 2)
    logs, means, variances = [], [], []
    for row in v:
        lr, mr, vr = [], [], []
        for h in all_h(2):
            e = rbm.energy(row.expand(len(s), -1), s, h.expand(len(s), -1))
            lr.append(torch.logsumexp(-e, 0) + cell)
            w = torch.softmax(-e, 0)
            m = w @ s
            mr.append(m)
            vr.append(w @ (s - m) ** 2)
        logs.append(torch.stack(lr))
        means.append(torch.stack(mr))
        variances.append(torch.stack(vr))
    return torch.stack(logs), torch.stack(means), torch.stack(variances)


def test_ssrbm_energy_is_the_papers_expanded_form():
    rbm = random_ssrbm(n_v=3, n_h=2)
    v, s, h = torch.randn(3, dtype=DT), torch.randn(2, dtype=DT), torch.tensor([1.0, 1.0], dtype=DT)
    lam, phi, alpha, mu = rbm.visible_precision_diag(), rbm.phi(), rbm.alpha(), rbm.mu
    expected = -sum(v[i] * rbm.W[i, j] * s[j] * h[j] for i in range(3) for j in range(2)) \
        + 0.5 * sum(v[i] ** 2 * (lam[i] + sum(phi[i, j] * h[j] for j in range(2))) for i in range(3)) \
        + sum(0.5 * alpha[j] * s[j] ** 2 - alpha[j] * mu[j] * s[j] * h[j] - rbm.c[j] * h[j]
              + 0.5 * alpha[j] * mu[j] ** 2 * h[j] for j in range(2)) \
        - sum(rbm.b[i] * v[i] for i in range(3))
    assert rbm.energy(v[None], s[None], h[None]).item() == pytest.approx(expected.item(), abs=1e-12)
    w_phi_w = (rbm.W**2 / phi).sum(0)
    assert torch.allclose(alpha, w_phi_w + torch.exp(rbm.log_alpha_margin))


def test_ssrbm_p_h_and_free_energy_by_enumeration_and_quadrature():
    rbm = random_ssrbm()
    v = torch.tensor([[0.3, -1.2], [1.5, 0.8], [-0.7, 0.1]], dtype=DT)
    logs, _, _ = slab_integrals(rbm, v)
    h = all_h(2)
    posterior = torch.softmax(logs, 1)
    assert torch.allclose(posterior @ h, rbm.p_h_given_v(v), atol=1e-9)
    assert torch.allclose(rbm.free_energy(v), -torch.logsumexp(logs, 1), atol=1e-9)


def test_ssrbm_p_s_given_v_h_by_quadrature():
    rbm = random_ssrbm(seed=1)
    v = torch.tensor([[0.4, -0.9], [-1.1, 0.6]], dtype=DT)
    _, means, variances = slab_integrals(rbm, v)
    for i, h in enumerate(all_h(2)):
        mean, var = rbm.p_s_given_vh(v, h.expand(len(v), -1))
        assert torch.allclose(means[:, i], mean, atol=1e-9)
        assert torch.allclose(variances[:, i], var, atol=1e-8)


def test_ssrbm_p_v_given_s_h_is_the_gaussian_of_the_energy():
    rbm = random_ssrbm(n_v=3, n_h=2, seed=2)
    for h in all_h(2):
        s = torch.randn(1, 2, dtype=DT)
        mean, var = rbm.p_v_given_hs(h[None], s)
        v = torch.randn(6, 3, dtype=DT) * 2
        total = rbm.energy(v, s.expand(6, -1), h.expand(6, -1)) \
            + torch.distributions.Normal(mean[0], var[0].sqrt()).log_prob(v).sum(1)
        assert torch.allclose(total, total[0].expand(6), atol=1e-10)
        hessian = torch.autograd.functional.hessian(lambda x: rbm.energy(x[None], s, h[None]).sum(), v[0])
        assert torch.allclose(hessian, torch.diag(1 / var[0]), atol=1e-10)


def test_ssrbm_sample_v_and_sample_s_moments():
    rbm = random_ssrbm(n_v=2, n_h=2, seed=3)
    torch.manual_seed(0)
    n = 200_000
    h = torch.tensor([[1.0, 0.0]], dtype=DT).expand(n, -1)
    v = torch.tensor([[0.5, -0.5]], dtype=DT).expand(n, -1)
    s = rbm.sample_s(v, h)
    mean, var = rbm.p_s_given_vh(v[:1], h[:1])
    assert torch.allclose(s.mean(0), mean[0], atol=0.01) and torch.allclose(s.var(0), var[0], rtol=0.02)
    s_fixed = torch.tensor([[0.7, -1.3]], dtype=DT).expand(n, -1)
    x = rbm.sample_v(h, s_fixed)
    mean, var = rbm.p_v_given_hs(h[:1], s_fixed[:1])
    assert torch.allclose(x.mean(0), mean[0], atol=0.01) and torch.allclose(x.var(0), var[0], rtol=0.02)


def test_ssrbm_log_partition_by_quadrature_and_dense_formula():
    rbm = random_ssrbm(n_v=2, n_h=2, seed=4)
    grid, cell = grid_2d()
    numerical = torch.logsumexp(-rbm.free_energy(grid), 0) + torch.log(cell)
    assert rbm.log_partition() == pytest.approx(numerical.item(), abs=1e-7)
    # the Woodbury/determinant-lemma terms against a dense n_v x n_v computation
    big = random_ssrbm(n_v=5, n_h=4, seed=5)
    h = all_h(4)
    P = big.visible_precision(h)
    r = big.b + (h * big.mu) @ big.W.t()
    dense = 0.5 * torch.log(2 * math.pi / big.alpha()).sum() + h @ big.c + 2.5 * math.log(2 * math.pi) \
        - 0.5 * torch.logdet(P) + 0.5 * (r * torch.linalg.solve(P, r[..., None])[..., 0]).sum(1)
    assert torch.allclose(big._log_partition_terms(h), dense, atol=1e-10)


def test_ssrbm_is_normalizable_for_any_parameters():
    rbm = random_ssrbm(n_v=4, n_h=5, seed=6)
    with torch.no_grad():  # large filters, tiny Φ and Λ: an unconstrained model would be improper
        rbm.W.mul_(20)
        rbm.log_phi.fill_(-8.0)
        rbm.log_lambda.fill_(-3.0)
        rbm.log_alpha_margin.fill_(-10.0)
    h = all_h(5)
    eig = torch.linalg.eigvalsh(rbm.visible_precision(h))
    assert eig.min() >= math.exp(-3.0) * (1 - 1e-6)      # P_h ⪰ Λ for every h
    w_phi_w = (rbm.W**2 / rbm.phi()).sum(0)
    assert (rbm.alpha() > w_phi_w).all()
    assert math.isfinite(rbm.log_partition())
    # without the constraint (α at its free part alone) some P_h would not be positive definite
    free_alpha = torch.exp(rbm.log_alpha_margin)
    low = torch.einsum("ij,nj,kj->nik", rbm.W / free_alpha.sqrt(), h, rbm.W / free_alpha.sqrt())
    P_free = torch.diag_embed(rbm.visible_precision_diag() + h @ rbm.phi().t()) - low
    assert torch.linalg.eigvalsh(P_free).min() < 0


def test_ssrbm_gibbs_chains_reach_the_exact_marginal():
    rbm = random_ssrbm(n_v=2, n_h=2, seed=7)
    h = all_h(2)
    w = torch.softmax(rbm._log_partition_terms(h), 0)
    means = rbm.p_v_given_h(h)
    covs = torch.linalg.inv(rbm.visible_precision(h))
    mean = w @ means
    cov = (w[:, None, None] * covs).sum(0) + (means * w[:, None]).t() @ means - torch.outer(mean, mean)
    gen = torch.Generator().manual_seed(0)
    v = rbm.sample(4000, steps=300, generator=gen, mean_field=False)
    assert torch.allclose(v.mean(0), mean, atol=0.08)
    assert torch.allclose(torch.cov(v.t()), cov, atol=0.15)


def test_ssrbm_surrogate_gradient_matches_hand_statistics(monkeypatch):
    rbm = random_ssrbm(n_v=3, n_h=2, seed=8)
    g = torch.Generator().manual_seed(2)
    v_data = torch.randn(5, 3, generator=g, dtype=DT)
    v_model = 1.3 * torch.randn(4, 3, generator=g, dtype=DT)
    monkeypatch.setattr(rbm, "negative_chain", lambda v0, h0=None, generator=None: (v_model, None))
    rbm.loss(v_data)[0].backward()

    def stats(v):
        p = rbm.p_h_given_v(v).detach()
        u = v @ rbm.W.detach()
        lam = rbm.visible_precision_diag().detach()
        return {"b": -v.mean(0), "c": -p.mean(0), "mu": -(p * u).mean(0), "log_lambda": (0.5 * lam * v**2).mean(0)}

    data, model = stats(v_data), stats(v_model)
    for name in data:
        assert torch.allclose(getattr(rbm, name).grad, data[name] - model[name], atol=1e-12), name


def test_ssrbm_models_oriented_data_better_than_a_grbm():
    X, X_test = two_rays(1000, 0), two_rays(2000, 1)
    scores = {}
    for name, make in (("grbm", lambda: GaussianBernoulliRBM(2, 2, init_std=0.7)),
                       ("ssrbm", lambda: SpikeSlabRBM(2, 2, init_std=0.7, phi_init=0.5))):
        cp.seed_everything(0)
        rbm = make()
        cp.fit(rbm, X, epochs=20, batch_size=50, lr=0.02, progress=False, seed=0, device="cpu")
        scores[name] = rbm.log_prob(X_test).mean().item()
    assert scores["ssrbm"] > scores["grbm"] + 0.4, scores


def test_ssrbm_shapes_checkpoint_and_bad_input(tmp_path):
    rbm = SpikeSlabRBM(6, 3)
    x = torch.randn(5, 6)
    assert rbm.reconstruct(x).shape == (5, 6) and rbm.transform(x).shape == (5, 3)
    assert rbm.sample(4, steps=3).shape == (4, 6) and rbm.gibbs(x, k=2).shape == (5, 6)
    loss, metrics = rbm.loss(x)
    assert loss.ndim == 0 and set(metrics) == {"recon", "free_energy", "sigma"}
    restored = cp.load(cp.save(rbm, tmp_path / "s.pt"))
    assert torch.equal(restored.free_energy(x), rbm.free_energy(x))
    with pytest.raises(ValueError, match="NaN"):
        rbm.check_batch(torch.full((2, 6), float("nan")))
    with pytest.raises(ValueError, match="shape"):
        rbm.check_batch(torch.randn(2, 7))
    for kw in (dict(lambda_init=0.0), dict(phi_init=-1.0), dict(alpha_margin_init=float("inf"))):
        with pytest.raises(ValueError):
            SpikeSlabRBM(6, 3, **kw)
    with pytest.raises(ValueError, match="2\\^21"):
        SpikeSlabRBM(2, 21).log_partition()
