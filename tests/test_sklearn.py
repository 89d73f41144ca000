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

from companion.sklearn import BernoulliRBM, DBNClassifier


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
    # the weights start from random_state's own generator (the model is built on the meta device)
    first = BernoulliRBM(n_components=16, n_iter=1, random_state=3, device="cpu")
    first._init_model(X.astype(np.float32), 3)
    expected = torch.randn(64, 16, generator=torch.Generator().manual_seed(3)) * first.model_.init_std
    assert torch.equal(first.model_.W.detach(), expected)
    # None: a fresh seed each time, and still nothing taken from the global generator
    c = BernoulliRBM(n_components=16, n_iter=1, random_state=None, device="cpu").fit(X)
    d = BernoulliRBM(n_components=16, n_iter=1, random_state=None, device="cpu").fit(X)
    assert not np.array_equal(c.components_, d.components_)
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


# ---------------------------------------------------------------------- DBNClassifier

# small enough for check_estimator's many fits, big enough for its accuracy check (> 0.83 on blobs)
_SMALL_DBN = dict(hidden_layer_sizes=(16,), pretrain_epochs=2, finetune_epochs=8, batch_size=20, learning_rate=0.05,
                  random_state=0, device="cpu")


@parametrize_with_checks([DBNClassifier(**_SMALL_DBN)])
def test_dbn_check_estimator(estimator, check):
    check(estimator)


def _small_dbn(**kwargs):
    return DBNClassifier(**{**_SMALL_DBN, "hidden_layer_sizes": (16, 8), **kwargs})


@pytest.fixture(scope="module")
def dbn_data():
    X, y = load_digits(return_X_y=True)
    return X[:300] / 16.0, y[:300]


def test_dbn_fitted_attributes(dbn_data):
    X, y = dbn_data
    clf = _small_dbn(finetune_epochs=3).fit(X, y)
    assert list(clf.classes_) == list(range(10)) and clf.n_features_in_ == 64
    assert clf.dbn_.layer_sizes == [64, 16, 8] and len(clf.pretrain_loss_curves_) == 2
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    assert clf.network_(torch.as_tensor(X[:2])).shape == (2, 10)
    assert np.array_equal(clf.input_min_, np.zeros(64)) and np.array_equal(clf.input_max_, np.ones(64))
    plain = _small_dbn(pretrain_epochs=0, finetune_epochs=1).fit(X, y)
    assert plain.dbn_ is None and plain.pretrain_loss_curves_ == []


def test_dbn_probabilities_are_consistent(dbn_data):
    X, y = dbn_data
    clf = _small_dbn().fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (300, 10) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba), rtol=1e-10)
    assert np.array_equal(clf.predict(X), clf.classes_[proba.argmax(1)])
    assert clf.score(X, y) > 0.5  # ten classes from 300 digits in a few seconds of training
    assert clf.fit(X.astype(np.float32), y).predict_proba(X.astype(np.float32)).dtype == np.float32


def test_dbn_string_and_gapped_labels_round_trip(dbn_data):
    X, y = dbn_data
    names = np.array(["zebra", "cat", "mouse"])[y % 3]
    clf = _small_dbn().fit(X, names)
    assert list(clf.classes_) == ["cat", "mouse", "zebra"]
    assert set(clf.predict(X)) <= set(names) and clf.score(X, names) > 0.5
    gapped = np.array([40, -2, 7])[y % 2 + (y == 9)]  # three classes, integers with gaps
    clf = _small_dbn().fit(X, gapped)
    assert list(clf.classes_) == [-2, 7, 40] and set(clf.predict(X)) <= {-2, 7, 40}
    assert clf.predict_proba(X).shape == (300, 3)


def test_dbn_is_repeatable_and_leaves_global_rngs_alone(dbn_data):
    X, y = dbn_data
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    a = _small_dbn(random_state=7).fit(X, y).predict_proba(X)
    b = _small_dbn(random_state=7).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)
    assert torch.equal(torch_state, torch.get_rng_state())
    assert all(np.array_equal(s, t) for s, t in zip(numpy_state, np.random.get_state()))
    c = _small_dbn(random_state=8).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, c)
    # None draws a fresh seed from numpy's global generator, like scikit-learn's estimators
    d = _small_dbn(random_state=None).fit(X, y).predict_proba(X)
    e = _small_dbn(random_state=None).fit(X, y).predict_proba(X)
    assert not np.array_equal(d, e)
    assert torch.equal(torch_state, torch.get_rng_state())


def test_dbn_rescales_features_outside_the_unit_interval():
    rng = np.random.RandomState(0)
    Z = rng.uniform(size=(80, 4))
    Z[0], Z[1] = 0.0, 1.0  # every feature spans exactly [0, 1]
    y = (Z[:, 0] + Z[:, 1] > 1).astype(int)
    wide = np.c_[-3 + 8 * Z[:, :2], Z[:, 2:]]  # two features on [-3, 5], two left in [0, 1]
    clf = _small_dbn().fit(wide, y)
    np.testing.assert_array_equal(clf.input_min_, [-3, -3, 0, 0])
    np.testing.assert_array_equal(clf.input_max_, [5, 5, 1, 1])
    same = _small_dbn().fit(Z, y)  # the map makes the two problems identical, up to rounding
    np.testing.assert_allclose(clf.predict_proba(wide), same.predict_proba(Z), atol=1e-6)
    # beyond the training range: clipped to the edge of [0, 1]
    far = np.array([[100.0, -100.0, 2.0, -1.0]])
    np.testing.assert_allclose(clf.predict_proba(far), same.predict_proba([[1.0, 0.0, 1.0, 0.0]]), atol=1e-6)


def test_dbn_sparse_input_matches_dense(dbn_data):
    from scipy import sparse

    X, y = dbn_data
    dense = _small_dbn(finetune_epochs=2).fit(X, y)
    csr = _small_dbn(finetune_epochs=2).fit(sparse.csr_matrix(X), y)
    np.testing.assert_allclose(dense.predict_proba(X), csr.predict_proba(sparse.csr_matrix(X)), rtol=1e-10)


def test_dbn_bad_input_and_parameters_are_refused(dbn_data):
    X, y = dbn_data
    clf = _small_dbn(finetune_epochs=1).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="64 features"):
        clf.predict(X[:5, :10])
    bad = X[:50].copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _small_dbn().fit(bad, y[:50])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(bad)
    with pytest.raises(ValueError, match="only one class"):
        _small_dbn().fit(X[:20], np.full(20, "a"))
    with pytest.raises(ValueError, match="Unknown label type"):
        _small_dbn().fit(X[:20], np.linspace(0, 1, 20))
    for params, name in [({"hidden_layer_sizes": ()}, "hidden_layer_sizes"),
                         ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
                         ({"pretrain_epochs": -1}, "pretrain_epochs"), ({"finetune_epochs": 0}, "finetune_epochs"),
                         ({"batch_size": 2.5}, "batch_size"), ({"learning_rate": 0}, "learning_rate"),
                         ({"pretrain_lr": -0.1}, "pretrain_lr"), ({"weight_decay": -1e-4}, "weight_decay"),
                         ({"dropout": 1.0}, "dropout"), ({"input_dropout": -0.2}, "input_dropout")]:
        with pytest.raises(ValueError, match=name):
            _small_dbn(**params).fit(X[:20], y[:20])


def test_dbn_in_a_pipeline_and_grid_search(digits):
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import MinMaxScaler

    X_train, X_test, y_train, y_test = digits
    X_raw, X_test_raw = X_train[:400] * 16, X_test * 16  # grey levels 0..16, as load_digits gives them
    pipe = Pipeline([("scale", MinMaxScaler()), ("dbn", _small_dbn(hidden_layer_sizes=(32, 32)))])
    assert pipe.fit(X_raw, y_train[:400]).score(X_test_raw, y_test) > 0.6
    search = GridSearchCV(pipe, {"dbn__pretrain_epochs": [0, 2]}, cv=2).fit(X_raw[:200], y_train[:200])
    assert search.best_params_["dbn__pretrain_epochs"] in (0, 2)
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert search.predict(X_test_raw[:5]).shape == (5,)


def test_dbn_with_its_defaults_on_embedded_mnist_beats_chance_by_far():
    import companion as cp

    X, y = cp.data.mnist("train")  # torch tensors, float32: read as float32 numpy arrays
    Xt, yt = cp.data.mnist("test")
    clf = DBNClassifier(random_state=0, device="cpu").fit(X[:1000], y[:1000])  # 784-500-500-2000
    assert clf.network_.dtype == torch.float32
    accuracy = clf.score(Xt, yt)
    assert accuracy > 0.85, accuracy  # chance is 0.1


def test_dbn_defaults_fitted_on_the_embedded_digits_reach_4_5_percent_on_the_official_test_set():
    """The target of issue 14: a drop-in users pick for its defaults (3.86% with seed 0; MLP(500, 500): 5.74%)."""
    import companion as cp
    from companion.data.mnist import DataNotFoundError
    from companion.reproduce.runner import find_data

    try:
        official = find_data(None)  # ../shared/data beside the repository, or $COMPANION_DATA
    except DataNotFoundError:
        pytest.skip("the official MNIST idx files are not beside the repository (../shared/data)")
    X, y = cp.data.mnist("train")
    Xt, yt = cp.data.mnist("test", root=official)
    assert len(Xt) == 10_000
    clf = DBNClassifier(random_state=0, device="cpu").fit(X, y)
    error = 1 - clf.score(Xt, yt)
    assert error <= 0.045, error


# ---------------------------------------------------------------------- behaves like scikit-learn's
def test_repeated_gibbs_calls_draw_new_samples_and_repeat_with_the_seed(digits):
    X = digits[0][:50]
    rbm = BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(X)
    first, second = rbm.gibbs(X), rbm.gibbs(X)
    assert not np.array_equal(first, second), "the random state must advance between calls"
    again = BernoulliRBM(n_components=16, n_iter=2, random_state=0).fit(X)
    assert np.array_equal(again.gibbs(X), first) and np.array_equal(again.gibbs(X), second)


def test_float32_and_float64_fits_agree_to_float32_rounding(digits):
    X = digits[0][:200]
    a = BernoulliRBM(n_components=16, n_iter=3, random_state=0).fit(X.astype(np.float64))
    b = BernoulliRBM(n_components=16, n_iter=3, random_state=0).fit(X.astype(np.float32))
    assert a.components_.dtype == np.float64 and b.components_.dtype == np.float32
    np.testing.assert_allclose(a.components_, b.components_, atol=1e-4)
    np.testing.assert_allclose(a.intercept_hidden_, b.intercept_hidden_, atol=1e-4)


def test_another_float_dtype_after_fit_is_accepted(digits):
    X = digits[0][:100]
    rbm = BernoulliRBM(n_components=8, n_iter=1, random_state=0).fit(X.astype(np.float64))
    X32 = X.astype(np.float32)
    assert rbm.transform(X32).dtype == np.float32
    np.testing.assert_allclose(rbm.transform(X32), rbm.transform(X), atol=1e-5)
    assert rbm.score_samples(X32).shape == (100,)
    assert rbm.gibbs(X32).dtype == np.float32
    rbm.partial_fit(X32)


def test_verbose_prints_scikit_learns_line(digits, capsys):
    import re

    BernoulliRBM(n_components=8, n_iter=2, random_state=0, verbose=1).fit(digits[0][:100])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for i, line in enumerate(lines, 1):
        assert re.fullmatch(rf"\[BernoulliRBM\] Iteration {i}, pseudo-likelihood = -\d+\.\d\d, time = \d+\.\d\ds", line)
