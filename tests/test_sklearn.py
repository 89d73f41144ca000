"""The scikit-learn drop-in: check_estimator, the RBM + logistic pipeline, sklearn's API."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import BernoulliRBM as SklearnRBM
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from companion.sklearn import BernoulliRBM


@parametrize_with_checks([BernoulliRBM(n_components=8, n_iter=2, random_state=0, device="cpu")])
def test_check_estimator(estimator, check):
    check(estimator)


def test_same_constructor_parameters_as_sklearn():
    ours = set(BernoulliRBM().get_params())
    assert ours == set(SklearnRBM().get_params()) | {"device"}


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def test_rbm_features_plus_logistic_regression_pipeline(digits):
    X_train, X_test, y_train, y_test = digits
    pipe = Pipeline([
        ("rbm", BernoulliRBM(n_components=64, learning_rate=0.06, batch_size=20, n_iter=10, random_state=0,
                             device="cpu")),
        ("logistic", LogisticRegression(C=100, max_iter=1000)),
    ])
    accuracy = pipe.fit(X_train, y_train).score(X_test, y_test)
    assert accuracy > 0.85, accuracy
    assert pipe[0].components_.shape == (64, 64)
    assert pipe[0].h_samples_.shape == (20, 64)


def test_fit_is_repeatable_and_leaves_global_rng_alone(digits):
    X = digits[0][:300]
    state = torch.get_rng_state()
    a = BernoulliRBM(n_components=16, n_iter=2, random_state=3, device="cpu").fit(X)
    b = BernoulliRBM(n_components=16, n_iter=2, random_state=3, device="cpu").fit(X)
    assert np.array_equal(a.components_, b.components_)
    assert torch.equal(state, torch.get_rng_state())


def test_score_samples_is_deterministic_and_on_sklearns_scale(digits):
    X = (digits[0][:200] > 0.5).astype(np.float64)
    ours = BernoulliRBM(n_components=32, n_iter=5, random_state=0, device="cpu").fit(X)
    first, second = ours.score_samples(X), ours.score_samples(X)
    assert np.array_equal(first, second) and first.shape == (200,)
    # sklearn's random one-unit estimate of the same sum agrees on average (same parameters)
    theirs = SklearnRBM(n_components=32, random_state=None)  # an int would repeat the same flips each call
    theirs.components_, theirs.intercept_hidden_ = ours.components_, ours.intercept_hidden_
    theirs.intercept_visible_, theirs.n_features_in_ = ours.intercept_visible_, 64
    estimates = np.mean([theirs.score_samples(X).mean() for _ in range(200)])
    assert abs(estimates - first.mean()) < 0.02 * abs(first.mean()), (estimates, first.mean())


def test_partial_fit_and_gibbs(digits):
    X = digits[0][:100]
    rbm = BernoulliRBM(n_components=10, random_state=0, device="cpu")
    for start in range(0, 100, 25):
        rbm.partial_fit(X[start : start + 25])
    sample = rbm.gibbs(X[:5])
    assert sample.shape == (5, 64) and set(np.unique(sample)) <= {0.0, 1.0}
    assert rbm.transform(X[:5]).shape == (5, 10)


def test_float32_is_preserved(digits):
    X = digits[0][:100].astype(np.float32)
    rbm = BernoulliRBM(n_components=10, n_iter=1, random_state=0, device="cpu").fit(X)
    assert rbm.transform(X).dtype == np.float32


def test_bad_input_and_parameters_are_refused():
    with pytest.raises(ValueError, match="NaN|infinity"):
        BernoulliRBM(n_iter=1).fit(np.full((5, 3), np.nan))
    with pytest.raises(ValueError, match="n_components"):
        BernoulliRBM(n_components=0).fit(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="learning_rate"):
        BernoulliRBM(learning_rate=-1.0).fit(np.zeros((5, 3)))
    rbm = BernoulliRBM(n_components=2, n_iter=1, device="cpu").fit(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="features"):
        rbm.transform(np.zeros((2, 4)))
