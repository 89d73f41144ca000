"""DBN: the variational bound by enumeration, up-down, generation, classification, exports, errors."""

import pytest
import torch

import companion as cp
from companion.estimate import log_likelihood, log_partition_exact
from companion.models import DBN, Classifier, LabelledRBM


def toy_data(n=300, d=8, classes=3, flip=0.05, seed=0):
    """Noisy copies of a few binary prototypes, with their class labels."""
    g = torch.Generator().manual_seed(seed)
    prototypes = (torch.rand(classes, d, generator=g) < 0.5).double()
    y = torch.randint(classes, (n,), generator=g)
    X = (prototypes[y] + (torch.rand(n, d, generator=g) < flip).double()) % 2
    return X, y, prototypes


H4 = torch.tensor([[(i >> j) & 1 for j in range(4)] for i in range(16)], dtype=torch.float64)  # all of {0,1}^4


def fit_kwargs():
    return dict(batch_size=20, seed=0, progress=False, device="cpu")


# ---------------------------------------------------------------------- the variational bound
def test_bound_of_one_rbm_is_its_exact_log_likelihood():
    X, _, _ = toy_data(d=6)
    dbn = DBN((6, 4)).double()
    dbn.pretrain(X, epochs=5, **fit_kwargs())
    exact = log_likelihood(dbn.top, X, log_partition_exact(dbn.top)).per_example
    assert torch.allclose(dbn.variational_bound(X), exact.double())


def test_greedy_pretraining_raises_the_bound_layer_by_layer():
    # four hidden units cannot hold six prototypes, so the first RBM's prior p(h1) leaves room
    torch.manual_seed(1)
    X, _, _ = toy_data(n=400, d=10, classes=6, seed=1)
    dbn = DBN((10, 4, 10), k=5).double()
    first, second = dbn.rbms
    cp.fit(first.init_visible_bias(X), X, epochs=30, lr=0.1, optimizer="sgd",
           optimizer_kwargs={"momentum": 0.5}, **fit_kwargs())
    one_layer = log_likelihood(first, X, log_partition_exact(first)).mean
    # the second RBM starts as the first one upside down, so p(h1) is unchanged and the bound is tight
    with torch.no_grad():
        second.W.copy_(first.W.t())
        second.b.copy_(first.c)
        second.c.copy_(first.b)
    dbn.tie_weights()
    start = dbn.variational_bound(X).mean().item()
    assert start == pytest.approx(one_layer, abs=1e-9)
    log_prior_before = -second.free_energy(H4) - log_partition_exact(second)
    # trained (PCD) on samples of the first layer's posterior, it raises the bound (Hinton et al. 2006)
    second.persistent = True
    posterior = first.transform(X)
    h1 = torch.bernoulli(posterior.repeat(10, 1), generator=torch.Generator().manual_seed(0))
    cp.fit(second, h1, epochs=40, lr=0.02, optimizer="sgd", optimizer_kwargs={"momentum": 0.5}, **fit_kwargs())
    after = dbn.variational_bound(X).mean().item()
    assert after > start + 0.01, (start, after)
    # and by exactly the gain in E_Q[log p(h1)]: the other terms of the bound did not move
    log_prior_after = -second.free_energy(H4) - log_partition_exact(second)
    q = torch.exp(H4 @ torch.log(posterior).T + (1 - H4) @ torch.log1p(-posterior).T)  # (16, N)
    gain = (q * (log_prior_after - log_prior_before)[:, None]).sum(0).mean().item()
    assert after - start == pytest.approx(gain, abs=1e-9)


def test_bound_is_below_the_exact_log_likelihood_of_the_dbn():
    # tiny 3-4-3 DBN: p(v) = sum over h1 of p(v | h1) p_top(h1), enumerable
    torch.manual_seed(0)
    dbn = DBN((3, 4, 3), init_std=1.0).double()
    dbn.tie_weights()
    with torch.no_grad():
        dbn.gen_W[0].add_(torch.randn(3, 4))  # untie them so Q is not the true posterior
    v = torch.tensor([[a, b, c] for a in (0.0, 1.0) for b in (0.0, 1.0) for c in (0.0, 1.0)], dtype=torch.float64)
    h = torch.tensor([[(i >> j) & 1 for j in range(4)] for i in range(16)], dtype=torch.float64)
    log_top = -dbn.top.free_energy(h) - log_partition_exact(dbn.top)
    p_v = torch.sigmoid(dbn.gen_b[0] + h @ dbn.gen_W[0].t())  # (16, 3)
    log_p_v_given_h = (v[:, None] * p_v.log() + (1 - v[:, None]) * (1 - p_v).log()).sum(2)  # (8, 16)
    exact = torch.logsumexp(log_p_v_given_h + log_top, 1)
    assert torch.isclose(exact.exp().sum(), torch.tensor(1.0, dtype=torch.float64))
    assert (dbn.variational_bound(v) <= exact + 1e-12).all()


# ---------------------------------------------------------------------- labels and the top RBM
def test_label_logits_are_the_exact_conditional_of_the_top_rbm():
    torch.manual_seed(0)
    top = LabelledRBM(4, 3, 5, init_std=1.0).double()
    x = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 1]], dtype=torch.float64)
    free = torch.stack([top.free_energy(torch.cat([x, torch.eye(3, dtype=torch.float64)[[k, k]]], 1))
                        for k in range(3)], 1)
    assert torch.allclose(torch.softmax(top.label_logits(x), 1), torch.softmax(-free, 1))
    sample = top.sample_v(torch.ones(50, 5, dtype=torch.float64))
    assert torch.equal(sample[:, 4:].sum(1), torch.ones(50, dtype=torch.float64))  # one label per row


def test_labelled_dbn_learns_to_classify_and_dreams_each_class():
    X, y, prototypes = toy_data(n=600, d=12, classes=3, seed=2)
    dbn = DBN((12, 16, 20), n_labels=3).double()
    dbn.pretrain(X, y, epochs=20, lr=0.1, **fit_kwargs())
    assert dbn.error_rate(X, y) < 0.05
    proba = dbn.predict_proba(X[:5])
    assert proba.shape == (5, 3) and torch.allclose(proba.sum(1), torch.ones(5, dtype=torch.float64))
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat_interleave(30)
    dreams = dbn.generate(labels, steps=200, generator=g, mean_field=False)
    assert dreams.shape == (90, 12) and set(dreams.unique().tolist()) <= {0.0, 1.0}
    # each clamped label dreams images nearest its own prototype
    dist = torch.cdist(dreams, prototypes)  # (90, 3)
    assert (dist.argmin(1) == labels).float().mean() > 0.8


def test_up_down_unties_the_weights_and_keeps_shapes():
    X, y, _ = toy_data(n=300, d=10, classes=2, seed=3)
    torch.manual_seed(0)
    dbn = DBN((10, 8, 6, 12), n_labels=2).double()
    dbn.pretrain(X, y, epochs=5, **fit_kwargs())
    assert dbn.tied
    shapes = {k: v.shape for k, v in dbn.state_dict().items()}
    bottom = [r.W.detach().clone() for r in dbn.rbms[:-1]]
    top_before = dbn.top.W.detach().clone()
    history = dbn.up_down(X, y, epochs=20, lr=0.1, top_k=2, **fit_kwargs())
    assert not dbn.tied
    assert {k: v.shape for k, v in dbn.state_dict().items()} == shapes
    assert all(torch.equal(a, r.W) for a, r in zip(bottom, dbn.rbms[:-1]))  # the pretrained RBMs are kept
    assert not torch.equal(top_before, dbn.top.W)
    # the wake phase learns the generative weights: the bottom layer's prediction error falls (one epoch's
    # value moves by about as much as 10 epochs gain on this toy, so three epochs are averaged at each end)
    recon = history["recon"]
    assert sum(recon[-3:]) < sum(recon[:3]), recon
    assert "recon" in history and "sleep_error" in history


def test_an_unmonitored_up_down_step_has_the_same_gradient_and_no_value():
    from companion.models.updown import UpDown

    X, y, _ = toy_data(n=40, d=10, classes=2, seed=5)
    grads = []
    for monitor in (True, False):
        torch.manual_seed(0)
        dbn = DBN((10, 8, 12), n_labels=2).double()
        dbn.pretrain(X, y, epochs=1, **fit_kwargs())
        step = UpDown(dbn, top_k=2)
        loss, metrics = step.loss((X, y), generator=torch.Generator().manual_seed(1), monitor=monitor)
        loss.backward()
        grads.append([p.grad.clone() for p in step.parameters() if p.grad is not None])
        assert (set(metrics) == {"recon", "sleep_error"} and torch.isfinite(loss)) if monitor else (
            metrics == {} and torch.isnan(loss))
    assert len(grads[0]) == len(grads[1]) > 0
    for g, h in zip(*grads):
        assert torch.equal(g, h)


# ---------------------------------------------------------------------- exports
def test_to_classifier_starts_from_the_recognition_weights():
    X, y, _ = toy_data(n=200, d=10, classes=2, seed=4)
    dbn = DBN((10, 8, 12), n_labels=2).double()
    dbn.pretrain(X, y, epochs=5, **fit_kwargs())
    net = dbn.to_classifier()
    assert isinstance(net, Classifier) and isinstance(net, torch.nn.Sequential)
    assert torch.allclose(net[:-1](X), dbn.transform(X))
    assert torch.allclose(net[-1].weight, dbn.top.W[8:]) and torch.allclose(net[-1].bias, dbn.top.b[8:])
    random = dbn.to_classifier(pretrained=False)
    assert [m.weight.shape for m in random if hasattr(m, "weight")] == [m.weight.shape for m in net
                                                                        if hasattr(m, "weight")]
    assert not torch.allclose(random[0].weight.double(), net[0].weight)
    history = cp.fit(net, (X, y), epochs=5, lr=1e-2, **fit_kwargs())
    assert history.last("error") < 0.1 and net.error_rate(X, y) < 0.1


def test_to_classifier_with_dropout_drops_units_only_while_training():
    X, y, _ = toy_data(n=200, d=10, classes=2, seed=4)
    dbn = DBN((10, 8, 12), n_labels=2).double()
    dbn.pretrain(X, y, epochs=2, **fit_kwargs())
    plain, dropped = dbn.to_classifier(), dbn.to_classifier(dropout=0.5, input_dropout=0.2)
    # a Dropout before each of the three linear layers: on the input, the first and the top hidden layer
    assert [type(m).__name__ for m in dropped] == ["Dropout", "Linear", "Sigmoid", "Dropout", "Linear", "Sigmoid",
                                                   "Dropout", "Linear"]
    assert dropped.n_inputs == 10 and dropped.n_classes == 2 and dropped.dtype == torch.float64
    dropped.eval()
    assert torch.equal(dropped(X), plain(X)), "in eval mode dropout is the identity"
    dropped.train()
    first, second = dropped(X), dropped(X)
    assert not torch.allclose(first, plain(X)) and not torch.allclose(first, second)
    assert torch.equal(dropped.predict(X), plain.predict(X)), "predict uses every unit"
    assert [type(m).__name__ for m in dbn.to_classifier(input_dropout=0.2)][:2] == ["Dropout", "Linear"]
    assert sum(type(m).__name__ == "Dropout" for m in dbn.to_classifier(dropout=0.2)) == 2
    for bad in (1.0, -0.1, True, "0.2"):
        for name in ("dropout", "input_dropout"):
            with pytest.raises(ValueError, match=name):
                dbn.to_classifier(**{name: bad})


def test_to_autoencoder_unrolls_the_rbms():
    X, _, _ = toy_data(n=200, d=10, seed=5)
    dbn = DBN((10, 8, 3), top_hidden="gaussian").double()
    dbn.pretrain(X, epochs=3, lr=[0.05, 0.001], **fit_kwargs())
    ae = dbn.to_autoencoder().double()
    assert ae.config["code_activation"] == "linear"
    assert torch.allclose(ae.encoder[0].weight, dbn.rbms[0].W.t())
    # the code is the top RBM's conditional mean of its linear units
    assert torch.allclose(ae.encode(X), dbn.rbms[1].p_h_given_v(dbn.rbms[0].transform(X)))
    with pytest.raises(ValueError, match="unlabelled"):
        DBN((10, 8, 3), n_labels=2).to_autoencoder()


def test_checkpoint_round_trip(tmp_path):
    X, y, _ = toy_data(n=100, d=6, classes=2)
    dbn = DBN((6, 5, 7), n_labels=2)
    dbn.pretrain(X.float(), y, epochs=2, **fit_kwargs())
    path = cp.checkpoint.save(dbn, tmp_path / "dbn.pt")
    again = cp.checkpoint.load(path)
    assert torch.equal(again.predict_proba(X.float()), dbn.predict_proba(X.float()))


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize("sizes", [[], [784], [784, 0], [784, 2.5], "abc", [784, -3, 10]])
def test_bad_layer_sizes(sizes):
    with pytest.raises(ValueError, match="layer_sizes"):
        DBN(sizes)


def test_bad_labels_and_data_are_refused_clearly():
    X, y, _ = toy_data(n=50, d=6, classes=2)
    dbn = DBN((6, 5, 7), n_labels=2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        dbn.pretrain(X, y + 1, epochs=1, progress=False)
    with pytest.raises(ValueError, match="pass the labels"):
        dbn.pretrain(X, epochs=1, progress=False)
    with pytest.raises(ValueError, match="49 labels for 50 rows"):
        dbn.pretrain(X, y[:-1], epochs=1, progress=False)
    with pytest.raises(ValueError, match="integers"):
        dbn.pretrain(X, y.float(), epochs=1, progress=False)
    with pytest.raises(ValueError, match="6"):
        dbn.predict(torch.rand(3, 7))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        dbn.predict(X * 2)
    with pytest.raises(ValueError, match="NaN|finite"):
        dbn.predict(torch.full((2, 6), float("nan")))
    with pytest.raises(ValueError, match="n_labels=None"):
        DBN((6, 5)).pretrain(X, y, epochs=1, progress=False)
    with pytest.raises(ValueError, match="give labels"):
        dbn.generate()
    with pytest.raises(ValueError, match="n_classes"):
        DBN((6, 5)).to_classifier()
    with pytest.raises(ValueError, match="n_labels"):
        DBN((6, 5), n_labels=1)
    with pytest.raises(ValueError, match="one value per RBM"):
        dbn.pretrain(X, y, epochs=[1, 2, 3], progress=False)
