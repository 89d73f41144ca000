"""BernoulliRBM: every equation checked against enumeration of a tiny model."""

import itertools

import pytest
import torch

import companion as cp
from companion.models import BernoulliRBM, GaussianHiddenRBM


def all_states(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def tiny_rbm(n_v=5, n_h=3, seed=0, **kw):
    torch.manual_seed(seed)
    rbm = BernoulliRBM(n_v, n_h, init_std=1.0, **kw).double()
    with torch.no_grad():
        rbm.b.normal_(0, 1)
        rbm.c.normal_(0, 1)
    return rbm


def test_energy_matches_the_formula_by_hand():
    rbm = tiny_rbm()
    v, h = all_states(5)[[3, 17]], all_states(3)[[1, 6]]
    by_hand = torch.stack([
        -(rbm.b * v[i]).sum() - (rbm.c * h[i]).sum()
        - sum(v[i, a] * rbm.W[a, j] * h[i, j] for a in range(5) for j in range(3))
        for i in range(2)
    ])
    assert torch.allclose(rbm.energy(v, h), by_hand)


def test_free_energy_is_minus_log_sum_over_hidden_states():
    rbm = tiny_rbm()
    v, h = all_states(5), all_states(3)
    energies = torch.stack([rbm.energy(v, hh.expand(len(v), 3)) for hh in h], 1)  # (32, 8)
    assert torch.allclose(rbm.free_energy(v), -torch.logsumexp(-energies, 1))
    assert rbm.free_energy(v).shape == (32,)


def test_conditionals_equal_the_exact_ones_from_the_joint():
    rbm = tiny_rbm()
    v, h = all_states(5), all_states(3)
    energies = torch.stack([rbm.energy(v, hh.expand(len(v), 3)) for hh in h], 1)
    joint = torch.softmax(-energies.flatten(), 0).reshape(32, 8)  # p(v, h)
    p_h_given_v = joint / joint.sum(1, keepdim=True)
    assert torch.allclose(rbm.p_h_given_v(v), p_h_given_v @ h)  # E[h | v] = p(h_j = 1 | v)
    p_v_given_h = joint / joint.sum(0, keepdim=True)
    assert torch.allclose(rbm.p_v_given_h(h), p_v_given_h.T @ v)


def test_surrogate_gradient_is_data_minus_model_statistics():
    rbm = tiny_rbm(4, 3)
    torch.manual_seed(1)
    data = (torch.rand(6, 4) < 0.5).double()
    loss, _ = rbm.loss(data)
    loss.backward()
    # recompute the negative sample with the same random numbers
    torch.manual_seed(1)
    _ = (torch.rand(6, 4) < 0.5)
    with torch.no_grad():
        p0 = rbm.p_h_given_v(data)
        h0 = (torch.rand(p0.shape, dtype=p0.dtype) < p0).double()
        pv = rbm.p_v_given_h(h0)
        vk = (torch.rand(pv.shape, dtype=pv.dtype) < pv).double()
        pk = rbm.p_h_given_v(vk)
    assert torch.allclose(-rbm.W.grad, data.T @ p0 / 6 - vk.T @ pk / 6)
    assert torch.allclose(-rbm.b.grad, data.mean(0) - vk.mean(0))
    assert torch.allclose(-rbm.c.grad, p0.mean(0) - pk.mean(0))
    # and the value is the surrogate mean F(data) - mean F(negative)
    assert torch.isclose(loss, rbm.free_energy(data).mean() - rbm.free_energy(vk).mean())


def test_surrogate_gradient_matches_autograd_through_the_free_energy():
    rbm = tiny_rbm(6, 4, seed=3)
    data = (torch.rand(8, 6) < 0.5).double()
    torch.manual_seed(5)
    loss, _ = rbm.loss(data)
    grads = torch.autograd.grad(loss, [rbm.W, rbm.b, rbm.c])
    torch.manual_seed(5)
    with torch.no_grad():
        p0 = rbm.p_h_given_v(data)
        h0 = (torch.rand(p0.shape, dtype=p0.dtype) < p0).double()
        pv = rbm.p_v_given_h(h0)
        vk = (torch.rand(pv.shape, dtype=pv.dtype) < pv).double()
    reference = rbm.free_energy(data).mean() - rbm.free_energy(vk).mean()
    for g, r in zip(grads, torch.autograd.grad(reference, [rbm.W, rbm.b, rbm.c])):
        assert torch.allclose(g, r)


def test_gibbs_chain_samples_the_model_distribution():
    rbm = tiny_rbm(4, 3, seed=2)
    v, h = all_states(4), all_states(3)
    exact = torch.softmax(-rbm.free_energy(v), 0)
    gen = torch.Generator().manual_seed(0)
    chains = rbm.gibbs(torch.zeros(4000, 4, dtype=torch.float64), k=30, generator=gen)
    index = (chains * 2 ** torch.arange(3, -1, -1, dtype=torch.float64)).sum(1).long()
    freq = torch.bincount(index, minlength=16).double() / len(chains)
    assert (freq - exact).abs().max() < 0.03, (freq, exact)


def test_free_energy_works_in_float64_and_float32():
    rbm = tiny_rbm()
    v = all_states(5)
    f64 = rbm.free_energy(v)
    f32 = rbm.float().free_energy(v.float())
    assert f64.dtype == torch.float64 and f32.dtype == torch.float32
    assert torch.allclose(f32.double(), f64, atol=1e-5)


def test_pseudo_log_likelihood_flips_every_unit():
    rbm = tiny_rbm()
    v = all_states(5)[[0, 9, 31]]
    pl = rbm.pseudo_log_likelihood(v)
    manual = torch.zeros(3, dtype=torch.float64)
    for i in range(5):
        flipped = v.clone()
        flipped[:, i] = 1 - flipped[:, i]
        # p(v_i | v_-i) = e^{-F(v)} / (e^{-F(v)} + e^{-F(v flipped)})
        manual += -rbm.free_energy(v) - torch.logaddexp(-rbm.free_energy(v), -rbm.free_energy(flipped))
    assert torch.allclose(pl, manual)


def test_cd_and_pcd_training_raise_the_exact_likelihood():
    torch.manual_seed(0)
    patterns = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 1]], dtype=torch.float32)
    data = patterns[torch.randint(0, 2, (400,))]
    data = torch.where(torch.rand_like(data) < 0.05, 1 - data, data)
    # PCD with a constant rate wanders with its chains: from one seed to the next it ends anywhere
    # between -1.8 and -3.9 nats with 20 chains and a rate of 0.1, so it gets Tieleman's many
    # chains, a smaller rate and more epochs, and the claim is checked on the mean of three seeds
    for kw, lr, epochs, seeds in ((dict(), 0.1, 30, [0]), (dict(persistent=True, n_chains=100, k=2), 0.05, 60, [0, 1, 2])):
        befores, afters = [], []
        for seed in seeds:
            torch.manual_seed(seed)
            rbm = BernoulliRBM(6, 4, init_std=0.1, **kw).double()
            befores.append(cp.estimate.log_likelihood(rbm, data.double(), cp.estimate.log_partition_exact(rbm)).mean)
            cp.fit(rbm, data.double(), epochs=epochs, batch_size=20, optimizer="sgd", lr=lr,
                   optimizer_kwargs={"momentum": 0.5}, progress=False, seed=seed, device="cpu")
            afters.append(cp.estimate.log_likelihood(rbm, data.double(), cp.estimate.log_partition_exact(rbm)).mean)
        before, after = sum(befores) / len(seeds), sum(afters) / len(seeds)
        assert after > before + 1.0, (kw, befores, afters)
        # the data's entropy is log 2 + 6 H(0.05) = 1.89 nats; the uniform model scores -6 log 2 = -4.16
        assert after > -2.3, (kw, afters)


@pytest.mark.parametrize("persistent", [False, True])
def test_an_unmonitored_loss_has_the_same_gradient_and_no_value(persistent):
    data = (torch.rand(6, 4, generator=torch.Generator().manual_seed(2)) < 0.5).double()
    grads = []
    for monitor in (True, False):
        rbm = tiny_rbm(4, 3, persistent=persistent, weight_cost=0.01)
        loss, metrics = rbm.loss(data, generator=torch.Generator().manual_seed(7), monitor=monitor)
        loss.backward()
        grads.append([p.grad.clone() for p in (rbm.W, rbm.b, rbm.c)])
        if monitor:
            assert set(metrics) == {"recon", "free_energy"} and torch.isfinite(loss)
        else:
            assert metrics == {} and torch.isnan(loss)  # nothing measured: only the gradient is there
    for monitored, unmonitored in zip(*grads):
        assert torch.equal(monitored, unmonitored)


def test_the_loss_runs_under_autocast():
    # fit(rbm, amp=True) on CUDA runs loss() under autocast; the CPU's bf16 autocast takes the same path
    rbm = BernoulliRBM(12, 5)
    v = (torch.rand(8, 12, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    for monitor in (True, False):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = rbm.loss(v, monitor=monitor)
        loss.backward()
        assert rbm.W.grad.shape == rbm.W.shape and torch.isfinite(rbm.W.grad).all()
        rbm.zero_grad()


def test_fit_measures_an_rbm_on_the_monitored_batches_and_trains_it_exactly_as_before():
    from companion.monitor import MONITOR_EVERY, monitored_batches

    class EveryBatch(BernoulliRBM):
        """Measures every batch (its loss takes no ``monitor``, so fit never asks it to skip) and keeps them."""

        def loss(self, batch, generator=None):
            loss, metrics = super().loss(batch, generator)
            seen.append({"loss": loss.item(), **{k: v.item() for k, v in metrics.items()}})
            return loss, metrics

    n_batches = MONITOR_EVERY + 2
    X = (torch.rand(50 * n_batches, 10, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    seen, runs = [], {}
    for cls in (BernoulliRBM, EveryBatch):
        torch.manual_seed(1)
        rbm = cls(10, 5)
        runs[cls] = (cp.fit(rbm, X, epochs=2, batch_size=50, optimizer="sgd", lr=0.1, progress=False, seed=3,
                            device="cpu"), rbm)
    (h_sub, sub), (h_all, every) = runs[BernoulliRBM], runs[EveryBatch]
    for p, q in zip(sub.parameters(), every.parameters()):
        assert torch.equal(p, q)  # skipping the measurements changed no update
    for key in ("loss", "recon", "free_energy"):
        for epoch in range(2):
            batches = seen[epoch * n_batches:(epoch + 1) * n_batches]
            monitored = [b[key] for i, b in enumerate(batches) if i in monitored_batches(n_batches)]  # batch 5
            assert h_sub[key][epoch] == pytest.approx(sum(monitored) / len(monitored), rel=1e-5), key
            assert h_all[key][epoch] == pytest.approx(sum(b[key] for b in batches) / n_batches, rel=1e-5), key


def test_reset_parameters_draws_the_weights_from_a_generator_and_zeroes_the_biases():
    torch.manual_seed(4)
    rbm = BernoulliRBM(7, 3, init_std=0.1)
    torch.manual_seed(4)
    assert torch.equal(rbm.W.detach(), torch.randn(7, 3) * 0.1)  # the constructor's draw, as it always was
    with torch.no_grad():
        rbm.b.fill_(1.0)
    state = torch.get_rng_state()
    rbm.reset_parameters(torch.Generator().manual_seed(9))
    assert torch.equal(rbm.W.detach(), torch.randn(7, 3, generator=torch.Generator().manual_seed(9)) * 0.1)
    assert not rbm.b.detach().any() and not rbm.c.detach().any()
    assert torch.equal(state, torch.get_rng_state())  # a generator of its own: the global one did not move


def test_history_has_reconstruction_and_free_energy_and_validation():
    X = (torch.rand(200, 10) < 0.3).float()
    rbm = BernoulliRBM(10, 5)
    h = cp.fit(rbm, X, epochs=2, batch_size=50, optimizer="sgd", lr=0.1, validation_data=X[:50],
               progress=False, seed=0, device="cpu")
    # validation reports the reconstruction error under its own name, not as a val_loss beside the surrogate
    assert "val_loss" not in h
    for key in ("loss", "recon", "free_energy", "val_recon", "val_free_energy"):
        assert len(h[key]) == 2, key
    assert isinstance(rbm.free_energy_gap(X[:50], X[50:100]), float)


def test_weight_cost_shrinks_weights_and_sparsity_target_lowers_activity():
    # data of its own (the global generator's state depends on the tests before), and 20 epochs: after 10 the
    # sparse model's mean activity sat at 0.197-0.200 for every data seed, on the edge of the bound below
    X = (torch.rand(500, 20, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    norms, activity = {}, {}
    for name, kw in {"plain": {}, "decay": dict(weight_cost=0.1), "sparse": dict(sparsity_target=0.05, sparsity_cost=0.1)}.items():
        torch.manual_seed(0)
        rbm = BernoulliRBM(20, 10, init_std=0.1, **kw)
        cp.fit(rbm, X, epochs=20, batch_size=50, optimizer="sgd", lr=0.1, progress=False, seed=0, device="cpu")
        norms[name] = rbm.W.norm().item()
        activity[name] = rbm.transform(X).mean().item()
    assert norms["decay"] < 0.8 * norms["plain"], norms
    assert activity["sparse"] < 0.2 and activity["sparse"] < 0.5 * activity["plain"], activity


def test_init_visible_bias_is_the_log_odds_of_pixel_means():
    X = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    rbm = BernoulliRBM(2, 3).init_visible_bias(X)
    assert torch.allclose(torch.sigmoid(rbm.b), torch.tensor([0.75, 0.25]), atol=1e-6)


def test_checkpoint_round_trip(tmp_path):
    rbm = BernoulliRBM(7, 3, persistent=True, k=2)
    restored = cp.load(cp.save(rbm, tmp_path / "rbm.pt"))
    v = torch.rand(4, 7)
    assert torch.equal(restored.free_energy(v), rbm.free_energy(v))
    assert restored.config == rbm.config


def test_sample_shapes_and_range():
    rbm = BernoulliRBM(9, 4)
    gen = torch.Generator().manual_seed(0)
    assert rbm.sample(5, steps=3, generator=gen).shape == (5, 9)
    binary = rbm.sample(5, steps=3, generator=gen, mean_field=False)
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    assert rbm.reconstruct(torch.rand(3, 9)).shape == (3, 9)
    assert rbm.transform(torch.rand(3, 9)).shape == (3, 4)


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(4, 8), "shape"),
        (torch.rand(4, 9) * 3, r"\[0, 1\]"),
        (torch.full((4, 9), float("nan")), "NaN"),
        (torch.rand(9), "shape"),
    ],
)
def test_bad_input_is_refused_clearly(bad, message):
    rbm = BernoulliRBM(9, 4)
    with pytest.raises(ValueError, match=message):
        rbm.transform(bad)
    with pytest.raises(ValueError, match=message):
        cp.fit(rbm, bad, epochs=1, progress=False, device="cpu")


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="n_hidden"):
        BernoulliRBM(4, 0)
    with pytest.raises(ValueError, match="sparsity_target"):
        BernoulliRBM(4, 2, sparsity_target=1.5)


def test_persistent_chains_survive_a_short_last_batch():
    X = (torch.rand(130, 6) < 0.5).float()
    rbm = BernoulliRBM(6, 3, persistent=True)
    seen = []
    cp.fit(rbm, X, epochs=2, batch_size=50, optimizer="sgd", lr=0.1, progress=False, seed=0, device="cpu",
           callback=lambda epoch, model, history: seen.append(model.chains.clone()))
    # each epoch ends on a 30-row batch; the chains keep the count set by the first batch
    assert [len(c) for c in seen] == [50, 50]


# ---------------------------------------------------------------------- linear hidden units
def tiny_gaussian_hidden(n_v=4, n_h=2, seed=0):
    torch.manual_seed(seed)
    rbm = GaussianHiddenRBM(n_v, n_h, init_std=0.5).double()
    with torch.no_grad():
        rbm.b.normal_(0, 1)
        rbm.c.normal_(0, 1)
    return rbm


def test_gaussian_hidden_free_energy_is_minus_log_integral_over_h():
    rbm = tiny_gaussian_hidden(4, 2)
    v = all_states(4)
    grid = torch.linspace(-12, 12, 801, dtype=torch.float64)
    step = grid[1] - grid[0]
    h = torch.cartesian_prod(grid, grid)  # (801^2, 2): a Riemann sum over the plane
    for row in v:
        log_integrand = -rbm.energy(row.expand(len(h), 4), h)
        numeric = torch.logsumexp(log_integrand, 0) + 2 * torch.log(step)
        assert torch.isclose(-rbm.free_energy(row[None])[0], numeric, atol=1e-6)


def test_gaussian_hidden_conditionals_and_surrogate_gradient():
    rbm = tiny_gaussian_hidden(5, 3, seed=1)
    v = all_states(5)
    assert torch.allclose(rbm.p_h_given_v(v), rbm.c + v @ rbm.W)  # the conditional mean
    torch.manual_seed(0)
    h = rbm.sample_h(v[:1].expand(20000, 5))
    assert torch.allclose(h.mean(0), rbm.p_h_given_v(v[:1])[0], atol=0.03)
    assert torch.allclose(h.std(0), torch.ones(3, dtype=torch.float64), atol=0.03)
    data = v[[1, 7, 12, 30]]
    torch.manual_seed(4)
    loss, _ = rbm.loss(data)
    grads = torch.autograd.grad(loss, [rbm.W, rbm.b, rbm.c])
    torch.manual_seed(4)
    with torch.no_grad():
        m0 = rbm.p_h_given_v(data)
        h0 = m0 + torch.randn(m0.shape, dtype=m0.dtype)
        pv = rbm.p_v_given_h(h0)
        vk = (torch.rand(pv.shape, dtype=pv.dtype) < pv).double()
    reference = rbm.free_energy(data).mean() - rbm.free_energy(vk).mean()
    for g, r in zip(grads, torch.autograd.grad(reference, [rbm.W, rbm.b, rbm.c])):
        assert torch.allclose(g, r)


def test_gaussian_hidden_rbm_trains_and_is_refused_by_the_binary_estimators():
    torch.manual_seed(0)
    prototypes = (torch.rand(3, 12) < 0.5).float()
    X = prototypes[torch.randint(3, (300,))]
    X = (X + (torch.rand(X.shape) < 0.05).float()) % 2  # 5% of bits flipped
    rbm = GaussianHiddenRBM(12, 3).init_visible_bias(X)
    before = rbm.reconstruct(X)
    history = cp.fit(rbm, X, epochs=20, batch_size=20, optimizer="sgd", lr=0.01,
                     optimizer_kwargs={"momentum": 0.9}, progress=False, seed=0)
    assert all(torch.isfinite(torch.tensor(history["recon"])))
    # the code has learned the prototypes: reconstructions at least halve the error of the biases alone
    assert ((rbm.reconstruct(X) - X) ** 2).sum(1).mean() < 0.5 * ((before - X) ** 2).sum(1).mean()
    with pytest.raises(TypeError, match="binary"):
        cp.estimate.log_partition_exact(rbm)
    with pytest.raises(ValueError, match="sparsity"):
        GaussianHiddenRBM(4, 2, sparsity_target=0.1)


def test_given_gradients_checks_shapes():
    from companion.utils import given_gradients

    w = torch.nn.Parameter(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="shape"):
        given_gradients(torch.tensor(0.0), [w], [torch.zeros(3, 2)])
    with pytest.raises(ValueError, match="1 parameters but 2"):
        given_gradients(torch.tensor(0.0), [w], [torch.zeros(2, 3)] * 2)
    given_gradients(torch.tensor(1.5), [w], [torch.ones(2, 3)]).backward()
    assert torch.equal(w.grad, torch.ones(2, 3))


def test_log_prob_is_a_distribution_over_all_visible_states():
    from companion.likelihood import binary_states

    torch.manual_seed(3)
    rbm = BernoulliRBM(5, 3, init_std=0.5).double()
    with torch.no_grad():
        rbm.b.normal_(0, 0.5), rbm.c.normal_(0, 0.5)
    states = binary_states(5, dtype=torch.float64)
    assert torch.logsumexp(rbm.log_prob(states), 0).item() == pytest.approx(0.0, abs=1e-10)
    assert rbm.log_partition() == pytest.approx(cp.estimate.log_partition_exact(rbm), abs=1e-12)
    log_z = rbm.log_partition()
    assert torch.allclose(rbm.log_prob(states[:4], log_z=log_z), rbm.log_prob(states[:4]))


def test_log_partition_refuses_units_it_cannot_enumerate():
    with pytest.raises(TypeError, match="gaussian hidden units; log_partition enumerates binary units only"):
        GaussianHiddenRBM(6, 3).log_partition()
    with pytest.raises(TypeError, match=r"not a BernoulliRBM; these"):
        cp.estimate.log_partition_exact(GaussianHiddenRBM(6, 3))


def test_every_rbm_runs_the_one_chain_with_the_base_s_step_signature():
    import inspect

    from companion.models import GaussianBernoulliRBM, SpikeSlabRBM
    from companion.models.dbm import _DoubledRBM
    from companion.models.dbn import LabelledRBM
    from companion.models.rbm import GaussianHiddenRBM

    base = inspect.signature(BernoulliRBM._gibbs_step).parameters
    for cls in (GaussianHiddenRBM, GaussianBernoulliRBM, SpikeSlabRBM, LabelledRBM, _DoubledRBM):
        assert cls.negative_chain is BernoulliRBM.negative_chain, cls
        assert cls.gibbs is BernoulliRBM.gibbs, cls
        assert list(inspect.signature(cls._gibbs_step).parameters) == list(base), cls


@pytest.mark.parametrize("make", ["bernoulli", "gaussian-bernoulli"])
def test_pcd_chains_keep_their_count_over_a_short_last_batch(make):
    from companion.models import GaussianBernoulliRBM

    torch.manual_seed(0)
    if make == "bernoulli":
        rbm, x = BernoulliRBM(6, 3, persistent=True), torch.bernoulli(torch.full((10, 6), 0.5))
    else:
        rbm, x = GaussianBernoulliRBM(6, 3, persistent=True), torch.randn(10, 6)
    rbm.loss((x,))
    first = rbm.chains.clone()
    rbm.loss((x[:4],))  # the epoch's short last batch: the same 10 chains move on, none restart
    assert rbm.chains.shape == first.shape == (10, 6)
