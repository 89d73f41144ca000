"""The item-based softmax RBM: the user-based model's equations on the transposed matrix, by enumeration."""

import math

import pytest
import torch

import companion as cp
from companion.models import ItemSoftmaxRBM
from tests.models.test_rbm_cf import RATINGS, hidden_states, tiny_softmax, two_taste_ratings


def tiny_item_rbm():
    rbm = tiny_softmax(3, cls=ItemSoftmaxRBM)  # 3 users: the visible units
    rbm._fitted = True
    return rbm


def test_item_rbm_predicts_a_users_rating_of_a_movie_by_enumeration():
    """p(r_uq = k | the other users' ratings of movie q), summing over every hidden state of q's RBM."""
    rbm = tiny_item_rbm()
    H = hidden_states(3)
    R = RATINGS  # 3 users x 4 movies: the RBM's cases are the 4 columns
    levels = torch.arange(1, 4, dtype=torch.float64)
    exact, mean_field = rbm.predict_exact(R), rbm.predict(R)
    assert exact.shape == mean_field.shape == R.shape
    for user, movie in ((1, 0), (0, 1), (2, 3), (0, 2)):
        others = R[:, movie].clone()
        others[user] = 0  # the entry predicted is never its own evidence
        scores = []
        for k in range(3):
            column = others.clone()
            column[user] = k + 1
            V = rbm.encode(column[None]).expand(len(H), -1, -1)
            scores.append(torch.logsumexp(-rbm.energy(V, H), 0))
        torch.testing.assert_close(exact[user, movie], (torch.softmax(torch.stack(scores), 0) * levels).sum())
    # the mean-field prediction is the user-based formula on the transposed matrix
    p_h = rbm.p_h_given_v(rbm.encode(R.t()))
    torch.testing.assert_close(mean_field, rbm._point(rbm.p_v_given_h(p_h)).t())


def test_item_rbm_trains_on_movies_and_keeps_the_users_by_items_layout(tmp_path):
    train, test = two_taste_ratings(n_users=40, n_items=30)
    cp.seed_everything(0)
    rbm = ItemSoftmaxRBM(40, 6)
    # only 30 cases (movies): small batches and a large step break the hidden units' symmetry in time
    history = rbm.fit(train, validation=test, epochs=60, lr=0.3, batch_size=5, progress=False, seed=0)
    mask = test > 0
    user_mean = (train.sum(1, keepdim=True) / (train > 0).sum(1, keepdim=True)).expand_as(train)
    rmse = ((rbm.predict(train) - test)[mask] ** 2).mean().sqrt()
    assert rmse < 0.5 * ((user_mean - test)[mask] ** 2).mean().sqrt()
    assert math.isclose(history["val_mse"][-1], float(rmse**2), rel_tol=1e-4)
    assert rbm.transform(train).shape == (30, 6), "one feature vector per movie"
    cp.save(rbm, tmp_path / "item.pt")
    torch.testing.assert_close(cp.load(tmp_path / "item.pt").predict(train), rbm.predict(train))


def test_item_rbm_names_the_users_axis_in_its_errors():
    rbm = ItemSoftmaxRBM(3, 2)
    with pytest.raises(ValueError, match=r"shape \(3, n_items\), one row per user"):
        rbm.fit(torch.ones(4, 3), epochs=1, progress=False)
    with pytest.raises(ValueError, match="integers 0..5"):
        rbm.fit(torch.full((3, 2), 7.0), epochs=1, progress=False)


def test_item_rbm_starts_its_biases_from_each_users_frequencies():
    """init_visible_bias (and fit(init_bias=True)) reads the users-by-items matrix once, along the users."""
    R = torch.tensor([[1.0, 0.0, 3.0], [3.0, 3.0, 0.0]])  # 2 users x 3 movies: not square, so a mix-up shows
    rbm = ItemSoftmaxRBM(2, 2, n_levels=3).init_visible_bias(R, prior=0.0)
    torch.testing.assert_close(rbm.b[:, 0].exp(), torch.tensor([0.5, 1e-4, 0.5]))  # user 0 rated a 1 and a 3
    torch.testing.assert_close(rbm.b[:, 1].exp(), torch.tensor([1e-4, 1e-4, 1 - 1e-4]))
    fitted = ItemSoftmaxRBM(2, 2, n_levels=3)
    fitted.fit(R, epochs=1, init_bias=True, progress=False)
    assert fitted.b.shape == (3, 2)
