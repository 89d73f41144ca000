"""companion.utils: configs read back from the constructor's arguments."""

import pytest

import companion as cp
from companion.utils import init_parameters, plain_config

# the arguments each registered model needs (small), and one non-default argument that config must carry back
REQUIRED = {
    "AutoRec": (dict(n_users=5, n_items=4, n_hidden=3), ("reg", 0.5)),
    "Autoencoder": ({}, ("sparsity_weight", 0.25)),
    "BernoulliRBM": (dict(n_visible=6, n_hidden=3), ("k", 2)),
    "BinaryRatingRBM": (dict(n_items=4, n_hidden=3), ("threshold", 4)),
    "BoltzmannMachine": (dict(n_visible=3, n_hidden=1), ("gibbs_sweeps", 2)),
    "ConvAutoencoder": (dict(channels=(2,), input_shape=(1, 8, 8)), ("loss", "bce")),
    "DBM": (dict(layer_sizes=(6, 3, 2)), ("mean_field_steps", 4)),
    "DBN": (dict(layer_sizes=(6, 3, 2)), ("top_hidden", "gaussian")),
    "DeepAutoencoder": (dict(dims=(8, 4, 2)), ("corruption", ("gaussian", 0.5))),
    "DenseAutoencoder": (dict(dims=(8, 4, 2)), ("activation", "elu")),
    "GaussianBernoulliRBM": (dict(n_visible=6, n_hidden=3), ("sigma", 2.0)),
    "GaussianHiddenRBM": (dict(n_visible=6, n_hidden=3), ("persistent", True)),
    "HopfieldNetwork": (dict(n_units=5), None),
    "ItemSoftmaxRBM": (dict(n_users=5, n_hidden=3), ("per_item", True)),
    "LabelledRBM": (dict(n_features=6, n_labels=3, n_hidden=4), ("weight_cost", 0.5)),
    "MatrixFactorization": (dict(n_users=5, n_items=4, n_factors=2), ("clip", (0.0, 1.0))),
    "PCA": (dict(n_components=2), None),
    "SoftmaxRBM": (dict(n_items=4, n_hidden=3), ("n_levels", 3)),
    "SourceConvAutoencoder": ({}, ("code_activation", "relu")),
    "SpikeSlabRBM": (dict(n_visible=6, n_hidden=3), ("phi_init", 0.5)),
    "VAE": (dict(dims=(8, 4), latent_dim=2), ("k", 3)),
}


def test_every_saveable_model_is_listed_here():
    assert {cls.__name__ for cls in cp.checkpoint.registry().values()} == set(REQUIRED)


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_config_holds_the_constructor_arguments_and_rebuilds_the_model(name):
    cls = next(c for c in cp.checkpoint.registry().values() if c.__name__ == name)
    args, changed = REQUIRED[name]
    if changed is not None:
        args = {**args, changed[0]: changed[1]}
    model = cls(**args)
    config = model.config
    left_out = {k for k, v in cls._config_attributes.items() if v is None}
    assert list(config) == [p for p in init_parameters(cls) if p not in left_out]
    if changed is not None:
        key, value = changed
        # plain data: a corruption as its dict, a tuple as a list
        expected = cp.corrupt.as_corruption(value).as_config() if key == "corruption" else plain_config(value)
        assert config[key] == expected, (key, config[key])
    assert not any(isinstance(v, tuple) or hasattr(v, "as_config") for v in config.values())
    assert cls(**config).config == config   # what a checkpoint rebuilds


def test_init_parameters_follow_kwargs_to_the_bases_arguments_with_defaults():
    class Base:
        def __init__(self, size, *, depth=1, width=2):
            pass

    class Child(Base):
        def __init__(self, n, colour="red", **kwargs):
            super().__init__(n, **kwargs)

    class Closed(Child):
        def __init__(self, n):
            super().__init__(n)

    assert init_parameters(Child) == ("n", "colour", "depth", "width")   # not the base's required `size`
    assert init_parameters(Closed) == ("n",)                               # no **kwargs: nothing passed on


def test_a_schedule_that_changes_k_is_in_the_config():
    rbm = cp.models.SoftmaxRBM(4, 3)
    rbm.k = 3
    assert rbm.config["k"] == 3
