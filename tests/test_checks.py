"""Inputs users actually pass reach every model as tensors of its dtype (companion.checks)."""

import numpy as np
import pandas as pd
import pytest
import torch

import companion as cp
from companion.checks import as_data, model_dtype
from companion.models import DBM, DBN, VAE, BernoulliRBM, DenseAutoencoder, GaussianBernoulliRBM

RNG = np.random.default_rng(0)
BITS = RNG.random((40, 16)) < 0.3
INPUTS = {
    "numpy float64": BITS.astype(np.float64), "numpy float16": BITS.astype(np.float16),
    "numpy int64": BITS.astype(np.int64), "numpy bool": BITS, "numpy uint8 0/1": BITS.astype(np.uint8),
    "tensor float64": torch.tensor(BITS, dtype=torch.float64), "tensor int64": torch.tensor(BITS, dtype=torch.int64),
    "tensor bool": torch.tensor(BITS), "list of lists": BITS.astype(int).tolist(),
    "DataFrame": pd.DataFrame(BITS.astype(float)),
}
MODELS = {
    "BernoulliRBM": (lambda: BernoulliRBM(16, 4), "transform"),
    "DenseAutoencoder": (lambda: DenseAutoencoder((16, 8, 2)), "transform"),
    "VAE": (lambda: VAE((16, 8), latent_dim=2), "transform"),
    "DBM": (lambda: DBM((16, 8, 4)), "transform"),
    "GaussianBernoulliRBM": (lambda: GaussianBernoulliRBM(16, 4), "reconstruct"),
}


@pytest.mark.parametrize("kind", list(INPUTS))
@pytest.mark.parametrize("model_name", list(MODELS))
def test_every_model_fits_and_transforms_what_users_pass(model_name, kind):
    make, method = MODELS[model_name]
    X = INPUTS[kind]
    reference = torch.tensor(BITS, dtype=torch.float32)
    cp.seed_everything(0)
    model = make()
    cp.fit(model, X, epochs=1, progress=False, seed=0)
    cp.seed_everything(0)
    twin = make()
    cp.fit(twin, reference, epochs=1, progress=False, seed=0)
    for a, b in zip(model.state_dict().values(), twin.state_dict().values()):
        assert torch.equal(a, b), "the input kind changed what was learned"
    with torch.no_grad():
        out = getattr(model, method)(X)
        assert torch.equal(out, getattr(model, method)(reference))
    loss, _ = model.eval().loss(X if not isinstance(X, list) else np.asarray(X))
    assert torch.isfinite(loss)


def test_dbn_takes_the_same_inputs():
    for kind, X in INPUTS.items():
        dbn = DBN((16, 8, 4))
        dbn.pretrain(X, epochs=1, progress=False)
        assert dbn.transform(X).shape == (40, 4), kind
    with pytest.raises(TypeError, match=r"fit cannot train it\. Train it with model.pretrain\(X\)"):
        cp.fit(DBN((16, 8, 4)), INPUTS["numpy float64"], progress=False)


def test_float64_models_get_float64_data():
    rbm = BernoulliRBM(16, 4).double()
    assert model_dtype(rbm) == torch.float64
    assert rbm.transform(INPUTS["numpy bool"]).dtype == torch.float64
    cp.fit(rbm, INPUTS["list of lists"], epochs=1, progress=False)


@pytest.mark.parametrize("model_name, words", [("BernoulliRBM", "divide by 255"), ("VAE", "divide by 255"),
                                                ("DBM", "divide by 255")])
def test_uint8_pixels_into_a_bernoulli_model_say_divide_by_255(model_name, words):
    make, method = MODELS[model_name]
    pixels = (BITS * 255).astype(np.uint8)
    with pytest.raises(ValueError, match=words):
        cp.fit(make(), pixels, epochs=1, progress=False)
    with pytest.raises(ValueError, match=words):
        make().loss(pixels)


@pytest.mark.parametrize("bad, error, words", [
    (np.array([["a", "b"], ["c", "d"]]), TypeError, "not numbers; convert"),
    (pd.DataFrame({"a": ["x", "y"], "b": [1, 2]}), TypeError, "not numbers; convert the columns"),
    (np.ones((3, 16), dtype=np.complex64), TypeError, "complex"),
    (torch.ones(3, 16, dtype=torch.complex64), TypeError, "complex"),
    ([[1.0, 2.0], [3.0]], ValueError, "same length"),
])
def test_inputs_that_are_not_numbers_are_refused_clearly(bad, error, words):
    with pytest.raises(error, match=words):
        as_data(bad)
    with pytest.raises(error, match=words):
        BernoulliRBM(16, 4).transform(bad)


@pytest.mark.parametrize("make, words", [
    (lambda: BernoulliRBM(16, 4, init_std=-0.1), "init_std must be a finite number in \\[0, inf\\)"),
    (lambda: BernoulliRBM(16, 4, sparsity_decay=1.0), "sparsity_decay must be a finite number in \\[0, 1\\)"),
    (lambda: BernoulliRBM(16, 4, weight_cost=float("nan")), "weight_cost must be a finite number"),
    (lambda: BernoulliRBM(16, 4, weight_cost=-1e-4), "weight_cost must be a finite number in \\[0, inf\\)"),
    (lambda: BernoulliRBM(16, 4, n_chains=0), "n_chains must be an integer >= 1"),
    (lambda: BernoulliRBM(16, 4, k=True), "k must be an integer >= 1, got True"),
    (lambda: BernoulliRBM(16.0, 4), "n_visible must be an integer >= 1, got 16.0"),
    (lambda: DenseAutoencoder((16, 2.7)), "dims=\\[16, 2.7\\] \\(all positive integers\\) must be an integer"),
    (lambda: VAE((16, 8), latent_dim=2.5), "latent_dim must be an integer >= 1"),
    (lambda: VAE((16, 8), latent_dim=2, warmup_steps=-1), "warmup_steps must be an integer >= 0"),
    (lambda: DBM((16, 8), n_chains=1.5), "n_chains must be an integer >= 1"),
    (lambda: DBM((16, 8), init_std=float("inf")), "init_std must be a finite number"),
])
def test_numeric_hyper_parameters_are_checked(make, words):
    with pytest.raises(ValueError, match=words):
        make()


def test_numpy_integers_are_sizes():
    rbm = BernoulliRBM(np.int64(16), np.int32(4), k=np.int64(2))
    assert rbm.config["n_visible"] == 16 and type(rbm.config["k"]) is int
    assert DenseAutoencoder(np.array([16, 8, 2])).config["dims"] == [16, 8, 2]


@pytest.mark.parametrize("call", [
    lambda m, X: cp.evaluate(m, X, batch_size=0),
    lambda m, X: m.transform(X, batch_size=2.5),
    lambda m, X: cp.estimate.iwae_log_likelihood(VAE((16, 8), latent_dim=2), X, k=10, batch_size=-1),
    lambda m, X: cp.estimate.iwae_log_likelihood(VAE((16, 8), latent_dim=2), X, k=0.5),
    lambda m, X: cp.estimate.ais_log_partition(BernoulliRBM(16, 4), n_chains=1),
    lambda m, X: cp.estimate.ais_log_partition(BernoulliRBM(16, 4), n_betas=2000.5),
])
def test_batch_sizes_and_sample_counts_are_checked(call):
    with pytest.raises(ValueError, match="must be (a positive|an) integer"):
        call(DenseAutoencoder((16, 8, 2)), torch.rand(10, 16))


@pytest.mark.parametrize("make, words", [
    (lambda: cp.models.HopfieldNetwork(2.5), "n_units must be an integer >= 2"),
    (lambda: cp.models.HopfieldNetwork(True), "n_units must be an integer >= 2"),
    (lambda: cp.models.BoltzmannMachine(4.0, 2), "n_visible must be an integer >= 1"),
    (lambda: cp.models.BoltzmannMachine(4, 2, statistics="gibbs", n_chains=0.5), "n_chains must be an integer"),
    (lambda: cp.models.BoltzmannMachine(4, 2, init_std=-1.0), "init_std must be a finite number"),
    (lambda: cp.models.ConvAutoencoder(channels=(8, 2.5)), "a positive channel count"),
    (lambda: cp.models.ConvAutoencoder(kernel_size=0), "kernel_size must be an integer >= 1"),
    (lambda: cp.models.ConvAutoencoder(code_size=1.5), "code_size"),
])
def test_the_other_models_check_their_sizes(make, words):
    with pytest.raises(ValueError, match=words):
        make()
    assert cp.models.HopfieldNetwork(np.int64(9)).n_units == 9
    assert cp.models.BoltzmannMachine(np.int64(3), np.int32(2)).n_units == 5
