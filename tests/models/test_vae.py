import math

import pytest
import torch

import companion as cp
from companion.models.vae import VAE, gaussian_kl, gaussian_log_density


def test_dense_shapes_and_round_trip(tmp_path):
    vae = VAE(dims=(784, 64), latent_dim=2)
    x = torch.rand(5, 784)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 2)
    assert vae.decode(mu).shape == (5, 784) and 0 <= vae(x).min() and vae(x).max() <= 1
    assert vae.sample(7).shape == (7, 784)
    assert vae.interpolate(x[0], x[1], steps=6).shape == (6, 784)
    restored = cp.load(cp.save(vae, tmp_path / "v.pt"))
    assert torch.equal(restored(x), vae(x))


def test_conv_shapes():
    vae = VAE(dims=(784, 32), latent_dim=3, conv=True, channels=(8, 16))
    x = torch.rand(4, 1, 28, 28)
    assert vae.encode(x)[0].shape == (4, 3)
    assert vae(x).shape == (4, 1, 28, 28)
    assert vae.sample(2).shape == (2, 1, 28, 28)
    loss, metrics = vae.loss(x)
    assert loss.ndim == 0 and set(metrics) == {"rec", "kl", "elbo", "beta"}


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mu = torch.tensor([[0.5, -1.0, 2.0]])
    logvar = torch.tensor([[0.3, -1.2, 0.0]])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 3)
    log_q = gaussian_log_density(z, mu, logvar)
    log_p = gaussian_log_density(z, torch.zeros(3), torch.zeros(3))
    assert gaussian_kl(mu, logvar).item() == pytest.approx((log_q - log_p).mean().item(), abs=0.01)
    assert gaussian_kl(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0.0


def test_gradients_flow_through_the_reparameterized_sample():
    torch.manual_seed(0)
    vae = VAE(dims=(10, 8), latent_dim=2)
    vae.loss(torch.rand(6, 10))[0].backward()
    for head in (vae.mu_head, vae.logvar_head):
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0
    mu = torch.zeros(3, 2, requires_grad=True)
    logvar = torch.zeros(3, 2, requires_grad=True)
    vae.reparameterize(mu, logvar).sum().backward()
    assert torch.all(mu.grad == 1.0) and logvar.grad.abs().sum() > 0


def test_kl_warmup_and_beta():
    vae = VAE(dims=(10, 8), latent_dim=2, beta=2.0, warmup_steps=10)
    x = torch.rand(4, 10)
    assert vae.kl_weight() == 0.0
    for _ in range(5):
        vae.loss(x)
    assert vae.kl_weight() == pytest.approx(1.0)
    vae.eval()
    vae.loss(x)  # evaluation does not advance the warm-up
    assert vae.kl_weight() == pytest.approx(1.0)


def test_gaussian_likelihood_is_the_equation():
    vae = VAE(dims=(3, 4), latent_dim=1, likelihood="gaussian")
    x = torch.tensor([[0.5, -2.0, 3.0]])  # any real values are allowed
    z = torch.zeros(1, 1)
    mean = vae.decode(z)
    var = vae.log_sigma2.exp()
    expected = torch.distributions.Normal(mean, var.sqrt()).log_prob(x).sum()
    assert vae.log_px_given_z(x, z).item() == pytest.approx(expected.item(), rel=1e-5)
    vae.loss(x)


def test_bernoulli_needs_unit_interval_and_shapes():
    vae = VAE(dims=(4, 3), latent_dim=1)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        vae.loss(torch.tensor([[0.0, 2.0, 0.5, 0.5]]))
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        vae.loss(torch.rand(2, 5))
    with pytest.raises(ValueError, match="likelihood='poisson'"):
        VAE(likelihood="poisson")
    with pytest.raises(ValueError, match="must equal the pixels"):
        VAE(dims=(100, 10), conv=True)


def _binary_cube(d):
    return torch.tensor([[(i >> j) & 1 for j in range(d)] for i in range(2**d)], dtype=torch.float32)


def exact_log_marginal(vae, X, lo=-12.0, hi=12.0, n=24001):
    """log p(x) = log ∫ p(x|z) N(z; 0, 1) dz by quadrature, for a 1-D latent."""
    z = torch.linspace(lo, hi, n, dtype=torch.float64)[:, None]
    with torch.no_grad():
        log_px = vae.double().log_px_given_z(X.double(), z[:, None, :].expand(n, len(X), 1))  # (n_z, n_x)
    vae.float()
    log_prior = -0.5 * (math.log(2 * math.pi) + z[:, 0] ** 2)
    return torch.logsumexp(log_px + log_prior[:, None], dim=0) + math.log((hi - lo) / (n - 1))


def test_iwae_matches_the_exact_log_marginal_of_a_tiny_model():
    torch.manual_seed(3)
    vae = VAE(dims=(4, 6), latent_dim=1)
    X = _binary_cube(4)
    exact = exact_log_marginal(vae, X)
    assert torch.logsumexp(exact, 0).item() == pytest.approx(0.0, abs=1e-6)  # p sums to 1 over all 16 images
    # with q equal to the prior the weights are bounded, so a large k is tight
    with torch.no_grad():
        for head in (vae.mu_head, vae.logvar_head):
            head.weight.zero_()
            head.bias.zero_()
    est = cp.estimate.iwae_log_likelihood(vae, X, k=20000, seed=0)
    assert est.per_example.numpy() == pytest.approx(exact.numpy(), abs=0.02)
    small = cp.estimate.iwae_log_likelihood(vae, X, k=20000, seed=0, max_elements=4 * 4 * 100)
    assert small.per_example.numpy() == pytest.approx(exact.numpy(), abs=0.02)


def test_iwae_bound_increases_with_k_and_stays_below_log_p():
    torch.manual_seed(4)
    vae = VAE(dims=(4, 6), latent_dim=1)  # a random, mismatched recognition model
    X = _binary_cube(4).repeat(40, 1)
    exact = exact_log_marginal(vae, X).mean().item()
    bounds = [cp.estimate.iwae_log_likelihood(vae, X, k=k, seed=1).mean for k in (1, 10, 100, 1000)]
    assert all(a < b for a, b in zip(bounds, bounds[1:])), bounds
    assert bounds[-1] <= exact + 0.01 and exact - bounds[-1] < exact - bounds[0]


def test_iwae_errors_and_report():
    vae = VAE(dims=(4, 3), latent_dim=1)
    with pytest.raises(ValueError, match="k=0"):
        cp.estimate.iwae_log_likelihood(vae, torch.rand(2, 4), k=0)
    est = cp.estimate.iwae_log_likelihood(vae, torch.rand(3, 4).round(), k=5)
    assert "nats (k = 5, n = 3)" in str(est)


def test_iwae_leaves_the_global_random_state_alone():
    vae = VAE(dims=(4, 3), latent_dim=1)
    X = torch.rand(5, 4).round()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = cp.estimate.iwae_log_likelihood(vae, X, k=7, seed=0)
    assert torch.equal(torch.rand(3), expected)
    b = cp.estimate.iwae_log_likelihood(vae, X, k=7, seed=0)
    assert torch.equal(a.per_example, b.per_example)


def test_denoising_vae_corrupts_only_the_encoder_input(tmp_path):
    torch.manual_seed(0)
    vae = VAE(dims=(20, 8), latent_dim=2, corruption=("masking", 0.5))
    x = torch.rand(6, 20).round()
    vae.eval()
    torch.manual_seed(1)
    clean = vae.loss(x)[0]
    torch.manual_seed(1)
    assert torch.equal(clean, vae.loss(x)[0])  # no corruption in eval mode
    vae.train()
    seen = []
    original = vae.encode
    vae.encode = lambda inp: (seen.append(inp.clone()), original(inp))[1]
    vae.loss(x)
    assert (seen[0][x == 1] == 0).any() and (seen[0] <= x).all()  # masked input reached the encoder
    restored = cp.load(cp.save(VAE(dims=(20, 8), latent_dim=2, corruption=("masking", 0.5)), tmp_path / "d.pt"))
    assert restored.corruption == vae.corruption


def test_iwae_objective_tightens_with_k_and_matches_the_estimator():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((64, 20), 0.3))
    vae = VAE((20, 16), latent_dim=3)
    bounds = {}
    for k in (1, 5, 50):
        model = VAE((20, 16), latent_dim=3, k=k)
        model.load_state_dict(vae.state_dict())
        model.eval()
        torch.manual_seed(1)
        loss, metrics = model.loss(x)
        bounds[k] = -loss.item()
        if k > 1:
            assert metrics["iwae_bound"].item() == pytest.approx(bounds[k])
            from companion.estimate import iwae_log_likelihood
            est = iwae_log_likelihood(model, x, k=k, seed=3)
            assert est.mean == pytest.approx(bounds[k], abs=0.5)  # two Monte Carlo draws of the same bound
    assert bounds[1] < bounds[5] < bounds[50]
    with pytest.raises(ValueError, match="importance samples"):
        VAE((20, 16), latent_dim=3, k=0)


def test_iwae_objective_trains_through_fit():
    torch.manual_seed(0)
    X = torch.bernoulli(torch.full((200, 20), 0.3))
    vae = VAE((20, 16), latent_dim=3, k=5)
    history = cp.fit(vae, X, epochs=3, progress=False, lr=1e-2)
    assert history["loss"][-1] < history["loss"][0]
    assert "iwae_bound" in history


def test_dynamic_binarization_draws_fresh_binary_pixels_in_training_only():
    torch.manual_seed(0)
    x = torch.rand(32, 20)
    vae = VAE((20, 16), latent_dim=3, binarize=True)
    seen = []
    real = vae.log_px_given_z
    vae.log_px_given_z = lambda xb, z: seen.append(xb.clone()) or real(xb, z)
    vae.train()
    vae.loss(x)
    vae.loss(x)
    assert all(set(s.unique().tolist()) <= {0.0, 1.0} for s in seen)
    assert not torch.equal(seen[0], seen[1]), "each batch is binarized afresh"
    vae.eval()
    vae.loss(x)
    assert torch.equal(seen[-1], x), "evaluation scores the data as given"
    with pytest.raises(ValueError, match="bernoulli"):
        VAE((20, 16), latent_dim=3, likelihood="gaussian", binarize=True)
