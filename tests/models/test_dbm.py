"""DBM: energies, conditionals, mean field, log Z and the learning rule checked by enumeration of tiny models."""

import itertools
import math

import pytest
import torch

import companion as cp
from companion.estimate import log_likelihood, log_partition_exact
from companion.models import DBM, BernoulliRBM


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # the matrices here are tiny: a second OpenMP thread only adds barrier waits, which cost
    # milliseconds per matmul when the other core is busy
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def all_states(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def tiny_dbm(sizes=(5, 4, 3), seed=0, scale=1.0, **kw):
    torch.manual_seed(seed)
    dbm = DBM(sizes, init_std=scale, **kw).double()
    with torch.no_grad():
        for b in dbm.biases:
            b.normal_(0, scale)
    return dbm


def joint_log_probs(dbm):
    """Unnormalized log p of every state, as a tensor with one axis per layer, and each layer's states."""
    states = [all_states(n) for n in dbm.layer_sizes]
    grids = torch.meshgrid(*[torch.arange(len(s)) for s in states], indexing="ij")
    full = [s[g.flatten()] for s, g in zip(states, grids)]
    return (-dbm.energy(full)).reshape(grids[0].shape), states


def toy_data(n=400, seed=0):
    torch.manual_seed(seed)
    patterns = torch.tensor([[1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 0, 1]], dtype=torch.float64)
    data = patterns[torch.randint(0, 2, (n,))]
    return torch.where(torch.rand_like(data) < 0.05, 1 - data, data)


def test_energy_matches_the_formula_by_hand():
    dbm = tiny_dbm((4, 3, 2, 2))
    x = [all_states(n)[[1, -2]] for n in dbm.layer_sizes]
    W, b = dbm.weights, dbm.biases
    by_hand = torch.stack([
        -sum((b[l] * x[l][r]).sum() for l in range(4))
        - sum(x[l][r, i] * W[l][i, j] * x[l + 1][r, j]
              for l in range(3) for i in range(W[l].shape[0]) for j in range(W[l].shape[1]))
        for r in range(2)
    ])
    assert torch.allclose(dbm.energy(x), by_hand)


def test_conditionals_equal_the_exact_ones_from_the_joint():
    dbm = tiny_dbm()
    log_p, (v, h1, h2) = joint_log_probs(dbm)  # (32, 16, 8)
    joint = torch.softmax(log_p.flatten(), 0).reshape(log_p.shape)
    # E[x_l | the other layers] from the joint; the model's conditional reads only the neighbours
    e_v = torch.einsum("ijk,in->jkn", joint / joint.sum(0, keepdim=True), v)  # (16, 8, 5)
    assert torch.allclose(dbm.conditional([None, h1[:, None], None], 0).expand(16, 8, 5), e_v)
    e_h1 = torch.einsum("ijk,jn->ikn", joint / joint.sum(1, keepdim=True), h1)  # (32, 8, 4)
    assert torch.allclose(dbm.conditional([v[:, None], None, h2[None]], 1), e_h1)
    e_h2 = torch.einsum("ijk,kn->ijn", joint / joint.sum(2, keepdim=True), h2)  # (32, 16, 3)
    assert torch.allclose(dbm.conditional([None, h1[None], None], 2).expand(32, 16, 3), e_h2)


@pytest.mark.parametrize("sizes", [(5, 4, 3), (3, 4, 2, 3), (4, 6)])
def test_exact_log_partition_and_log_prob_match_brute_force(sizes):
    dbm = tiny_dbm(sizes, seed=sum(sizes))
    log_p, _ = joint_log_probs(dbm)
    log_z = torch.logsumexp(log_p.flatten(), 0)
    assert math.isclose(dbm.log_partition_exact(), log_z.item(), abs_tol=1e-9)
    assert dbm.log_partition() == dbm.log_partition_exact()  # the name every model uses
    log_pv = torch.logsumexp(log_p.flatten(1), 1) - log_z
    assert torch.allclose(dbm.log_prob_exact(all_states(sizes[0])), log_pv)
    assert torch.isclose(torch.logsumexp(log_pv, 0), torch.zeros((), dtype=torch.float64))


def test_one_hidden_layer_is_an_rbm_and_its_bound_is_tight():
    dbm = tiny_dbm((5, 4))
    rbm = BernoulliRBM(5, 4).double()
    with torch.no_grad():
        rbm.W.copy_(dbm.weights[0]), rbm.b.copy_(dbm.biases[0]), rbm.c.copy_(dbm.biases[1])
    log_z = dbm.log_partition_exact()
    assert math.isclose(log_z, log_partition_exact(rbm), abs_tol=1e-9)
    v = all_states(5)
    # p(h | v) is factorial, so mean field is the true posterior and the bound is log p(v)
    exact = log_likelihood(rbm, v, log_z).per_example
    assert torch.allclose(dbm.variational_bound(v, log_z), exact)
    assert torch.allclose(dbm.log_prob_exact(v), exact)


def test_mean_field_reaches_a_fixed_point_and_bounds_the_exact_log_likelihood():
    dbm = tiny_dbm(scale=0.7)
    v, log_z = all_states(5), dbm.log_partition_exact()
    mus = dbm.mean_field(v, steps=200)
    assert [m.shape for m in mus] == [(32, 4), (32, 3)]
    assert dbm.mean_field_residual(v, mus) < 1e-6
    assert dbm.mean_field_residual(v, dbm.mean_field(v, steps=0)) > 1e-3
    exact = dbm.log_prob_exact(v, log_z)
    bounds = [dbm.variational_bound(v, log_z, steps=s) for s in (0, 1, 3, 200)]
    for looser, tighter in zip(bounds, bounds[1:]):  # every sweep is coordinate ascent on the bound
        assert (tighter >= looser - 1e-12).all()
    assert (bounds[-1] <= exact + 1e-12).all()
    assert (exact - bounds[-1]).max() > 1e-3  # h1 and h2 interact: the factorial Q is not exact
    # a warm start at the fixed point stays there
    assert torch.allclose(torch.cat(dbm.mean_field(v, steps=5, init=mus), 1), torch.cat(mus, 1), atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_ais_lands_within_half_a_nat_of_exact(seed):
    dbm = tiny_dbm((8, 6, 5), seed=seed, scale=0.5)
    exact = dbm.log_partition_exact()
    result = dbm.ais_log_partition(n_chains=100, n_betas=1000, seed=seed)
    assert abs(result.log_z - exact) < 0.5, (result, exact)
    assert result.lower <= result.log_z <= result.upper and result.n_betas == 1000 and result.n_chains == 100
    data = (torch.rand(100, 8) < 0.3).double()
    with_base = dbm.ais_log_partition(n_chains=100, n_betas=1000, base=data, seed=seed)
    assert abs(with_base.log_z - exact) < 0.5, (with_base, exact)


def test_ais_is_exact_for_a_model_without_weights_and_repeatable():
    dbm = DBM((6, 4, 3)).double()
    with torch.no_grad():
        dbm.weights[0].zero_(), dbm.weights[1].zero_(), dbm.biases[0].copy_(torch.linspace(-2, 2, 6))
    result = dbm.ais_log_partition(n_chains=10, n_betas=20, base=dbm.biases[0].detach().clone())
    assert math.isclose(result.log_z, dbm.log_partition_exact(), abs_tol=1e-9)
    dbm = tiny_dbm((6, 4, 3))
    assert dbm.ais_log_partition(n_chains=5, n_betas=30, seed=2).log_z == dbm.ais_log_partition(
        n_chains=5, n_betas=30, seed=2).log_z


def test_surrogate_gradient_is_mean_field_minus_chain_statistics():
    dbm = tiny_dbm((4, 3, 2), seed=4, n_chains=7, gibbs_steps=2, weight_cost=0.01)
    data = (torch.rand(6, 4) < 0.5).double()
    torch.manual_seed(1)
    loss, metrics = dbm.loss(data)
    loss.backward()
    (W0, W1), (b0, b1, b2) = [w.detach() for w in dbm.weights], [b.detach() for b in dbm.biases]
    torch.manual_seed(1)
    with torch.no_grad():
        bits = (torch.rand(7, 9, dtype=torch.float64) < 0.5).double()
        v, h1, h2 = bits[:, :4], bits[:, 4:7], bits[:, 7:]
        for _ in range(2):  # odd layer given the even ones, then the even ones given it
            p1 = torch.sigmoid(b1 + v @ W0 + h2 @ W1.T)
            h1 = (torch.rand(p1.shape, dtype=p1.dtype) < p1).double()
            p0, p2 = torch.sigmoid(b0 + h1 @ W0.T), torch.sigmoid(b2 + h1 @ W1)
            v = (torch.rand(p0.shape, dtype=p0.dtype) < p0).double()
            h2 = (torch.rand(p2.shape, dtype=p2.dtype) < p2).double()
        mu1 = torch.sigmoid(b1 + 2 * data @ W0)
        mu2 = torch.sigmoid(b2 + mu1 @ W1)
        for _ in range(10):
            mu1 = torch.sigmoid(b1 + data @ W0 + mu2 @ W1.T)
            mu2 = torch.sigmoid(b2 + mu1 @ W1)
    assert torch.equal(dbm.chains, torch.cat([v, h1, h2], 1))
    assert torch.allclose(-dbm.weights[0].grad, data.T @ mu1 / 6 - v.T @ h1 / 7 - 0.01 * W0)
    assert torch.allclose(-dbm.weights[1].grad, mu1.T @ mu2 / 6 - h1.T @ h2 / 7 - 0.01 * W1)
    for grad, d, m in zip(dbm.biases, (data, mu1, mu2), (v, h1, h2)):
        assert torch.allclose(-grad.grad, d.mean(0) - m.mean(0))
    # the value: mean-field free energy of the data minus the particles' energy (plus the L2 term)
    entropy = sum((-(m * m.log()) - (1 - m) * (1 - m).log()).sum(1) for m in (mu1, mu2))
    free = dbm.energy([data, mu1, mu2]) - entropy
    l2 = 0.005 * sum((w**2).sum() for w in (W0, W1))
    assert torch.isclose(loss, free.mean() - dbm.energy([v, h1, h2]).mean() + l2)
    assert torch.isclose(metrics["free_energy"], free.mean())
    assert torch.isclose(metrics["recon"], ((data - torch.sigmoid(b0 + mu1 @ W0.T)) ** 2).sum(1).mean())


def test_an_unmonitored_loss_has_the_same_gradient_and_chains_but_no_value():
    data = (torch.rand(6, 4, generator=torch.Generator().manual_seed(0)) < 0.5).double()
    runs = []
    for monitor in (True, False):
        dbm = tiny_dbm((4, 3, 2), seed=4, n_chains=7, gibbs_steps=2, weight_cost=0.01)
        loss, metrics = dbm.loss(data, generator=torch.Generator().manual_seed(1), monitor=monitor)
        loss.backward()
        runs.append(([p.grad.clone() for p in dbm.parameters()], dbm.chains.clone()))
        assert (set(metrics) == {"recon", "free_energy"} and torch.isfinite(loss)) if monitor else (
            metrics == {} and torch.isnan(loss))
    (grads, chains), (grads_off, chains_off) = runs
    assert torch.equal(chains, chains_off)
    for g, h in zip(grads, grads_off):
        assert torch.equal(g, h)


def test_eval_mode_is_deterministic_and_leaves_the_chains_alone():
    dbm = tiny_dbm(n_chains=4)
    x = all_states(5)[:10]
    dbm.train()
    dbm.loss(x)
    chains = dbm.chains.clone()
    dbm.eval()
    a, b = dbm.loss(x), dbm.loss(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[0], a[1]["recon"])
    assert torch.equal(dbm.chains, chains) and dbm.chains.shape == (4, 12)


def test_gibbs_chains_sample_the_model_distribution():
    dbm = tiny_dbm((4, 3, 2), seed=2)
    exact = dbm.log_prob_exact(all_states(4)).exp()
    gen = torch.Generator().manual_seed(0)
    start = [torch.zeros(4000, n, dtype=torch.float64) for n in dbm.layer_sizes]
    v = dbm.gibbs(start, steps=30, generator=gen)[0]
    index = (v * 2 ** torch.arange(3, -1, -1, dtype=torch.float64)).sum(1).long()
    freq = torch.bincount(index, minlength=16).double() / len(v)
    assert (freq - exact).abs().max() < 0.03, (freq, exact)


def test_training_raises_the_exact_log_likelihood():
    data = toy_data()
    torch.manual_seed(0)
    # two well separated modes: a few Gibbs steps per update keep the particles moving between them
    dbm = DBM((6, 4, 3), n_chains=50, gibbs_steps=3, init_std=0.1).double()
    before = dbm.log_prob_exact(data).mean()
    history = cp.fit(dbm, data, epochs=20, batch_size=20, optimizer="sgd", lr=0.05,
                     optimizer_kwargs={"momentum": 0.5}, validation_data=data[:50], progress=False, seed=0,
                     device="cpu")
    log_z = dbm.log_partition_exact()
    after = dbm.log_prob_exact(data, log_z).mean()
    # the data's entropy is log 2 + 6 H(0.05) = 1.89 nats; the uniform model scores -6 log 2 = -4.16
    assert after > before + 1.5 and after > -2.4, (before, after)
    bound = dbm.log_likelihood_bound(data, log_z)
    assert bound.mean <= after + 1e-9 and bound.per_example.shape == (400,)
    # validation reports the reconstruction error under its own name, not as a val_loss beside the surrogate
    assert "val_loss" not in history
    for key in ("loss", "recon", "free_energy", "val_recon", "val_free_energy"):
        assert len(history[key]) == 20, key
    assert history["recon"][-1] < history["recon"][0]


def test_pretraining_fills_the_weights_with_the_documented_scaling():
    data = toy_data(200)
    dbm = DBM((6, 5, 4, 3)).double()
    histories = dbm.pretrain(data, epochs=2, batch_size=20, progress=False, seed=0, device="cpu")
    assert len(histories) == 3 and all(h.epochs == 2 for h in histories)
    bottom, middle, top = rbms = dbm.pretrained_rbms
    assert [(r.up, r.down) for r in rbms] == [(2, 1), (1, 1), (1, 2)]
    v, h = data[:3], all_states(5)[:3]
    assert torch.allclose(bottom.p_h_given_v(v), torch.sigmoid(2 * v @ bottom.W + bottom.c))
    assert torch.allclose(bottom.p_v_given_h(h), torch.sigmoid(h @ bottom.W.T + bottom.b))
    h3 = all_states(3)[:3]
    assert torch.allclose(top.p_v_given_h(h3), torch.sigmoid(2 * h3 @ top.W.T + top.b))
    W, b = dbm.weights, dbm.biases
    assert torch.equal(W[0], bottom.W) and torch.equal(W[1], middle.W / 2) and torch.equal(W[2], top.W)
    assert torch.equal(b[0], bottom.b) and torch.equal(b[3], top.c)
    assert torch.allclose(b[1], (bottom.c + middle.b) / 2) and torch.allclose(b[2], (middle.c + top.b) / 2)


def test_pretraining_alone_gives_a_good_two_layer_model():
    data = toy_data(200)
    dbm = DBM((6, 4, 3)).double()
    before = dbm.log_prob_exact(data).mean()
    dbm.pretrain(data, epochs=10, batch_size=20, progress=False, seed=0, device="cpu")
    assert dbm.log_prob_exact(data).mean() > before + 1.0


def test_features_samples_and_checkpoint(tmp_path):
    dbm = DBM((9, 4, 3), n_chains=5)
    x = torch.rand(6, 9)
    assert dbm.transform(x).shape == (6, 7)
    gen = torch.Generator().manual_seed(0)
    s = dbm.sample(5, steps=3, generator=gen)
    assert s.shape == (5, 9) and 0 <= s.min() and s.max() <= 1
    assert torch.equal(s, dbm.sample(5, steps=3, generator=torch.Generator().manual_seed(0)))
    restored = cp.load(cp.save(dbm, tmp_path / "dbm.pt"))
    assert restored.config == dbm.config and torch.equal(restored.transform(x), dbm.transform(x))
    assert "layer_sizes=(9, 4, 3)" in repr(dbm)


@pytest.mark.parametrize(
    "sizes, message",
    [((), "at least one hidden"), ((5,), "at least one hidden"), ((5, 0, 3), "positive integers"),
     ((5, 2.5), "positive integers"), (5, "sequence"), ("53", "sequence"), ((5, True), "positive integers")],
)
def test_bad_layer_sizes_are_refused_clearly(sizes, message):
    with pytest.raises(ValueError, match=message):
        DBM(sizes)


@pytest.mark.parametrize(
    "bad, message",
    [(torch.rand(4, 8), "shape"), (torch.rand(4, 9) * 3, r"\[0, 1\]"), (torch.full((4, 9), float("nan")), "NaN"),
     (torch.rand(9), "shape")],
)
def test_bad_input_is_refused_clearly(bad, message):
    dbm = DBM((9, 4, 3))
    with pytest.raises(ValueError, match=message):
        dbm.transform(bad)
    with pytest.raises(ValueError, match=message):
        cp.fit(dbm, bad, epochs=1, progress=False, device="cpu")


def test_estimators_refuse_what_they_cannot_do():
    with pytest.raises(NotImplementedError, match="two hidden layers"):
        DBM((5, 4, 3, 2)).ais_log_partition()
    with pytest.raises(ValueError, match="ais_log_partition"):
        DBM((20, 30, 10)).log_partition_exact()
    dbm = tiny_dbm()
    with pytest.raises(ValueError, match="binary"):
        dbm.variational_bound(torch.full((2, 5), 0.5, dtype=torch.float64), 0.0)
    with pytest.raises(ValueError, match="3 RBMs"):
        DBM((5, 4, 3, 2)).load_rbms([BernoulliRBM(5, 4)])
