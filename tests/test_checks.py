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
