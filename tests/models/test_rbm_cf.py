"""Rating RBMs: every equation checked against enumeration of a tiny model, and the mask's promise."""

import itertools
import math

import numpy as np
import pytest
import torch

import companion as cp
from companion.data.ratings import RatingMatrix
from companion.models import BinaryRatingRBM, SoftmaxRBM


def tiny_softmax(n_items=4, n_hidden=3, levels=3, seed=0, cls=SoftmaxRBM):
    torch.manual_seed(seed)
    rbm = cls(n_items, n_hidden, n_levels=levels, init_std=1.0, weight_cost=0.0).double()
    with torch.no_grad():
        rbm.b.normal_(0, 1)
        rbm.c.normal_(0, 1)
    return rbm


def hidden_states(n):
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


RATINGS = torch.tensor([[1.0, 0.0, 3.0, 2.0], [0.0, 2.0, 0.0, 0.0], [3.0, 3.0, 1.0, 0.0]], dtype=torch.float64)


def test_encoding_is_one_hot_on_rated_items_and_zero_elsewhere():
    rbm = tiny_softmax()
    V = rbm.encode(RATINGS)
    assert V.shape == (3, 3, 4)
    assert torch.equal(V.sum(1), (RATINGS > 0).double())
    assert V[0, 0, 0] == 1 and V[0, 2, 2] == 1 and V[0, 1, 3] == 1 and V[1, :, 0].sum() == 0


def test_energy_matches_the_sum_by_hand():
    rbm = tiny_softmax()
    V = rbm.encode(RATINGS)
    h = hidden_states(3)[[5, 2, 7]]
    by_hand = torch.stack([
        -sum(V[n, k, i] * rbm.b[k, i] for k in range(3) for i in range(4)) - (h[n] * rbm.c).sum()
        - sum(V[n, k, i] * rbm.W[k, i, j] * h[n, j] for k in range(3) for i in range(4) for j in range(3))
        for n in range(3)
    ])
    torch.testing.assert_close(rbm.energy(V, h), by_hand)


def test_free_energy_is_minus_log_sum_over_hidden_states():
    rbm = tiny_softmax()
    V = rbm.encode(RATINGS)
    H = hidden_states(3)
    exact = torch.stack([-torch.logsumexp(-rbm.energy(V[n].expand(len(H), -1, -1), H), 0) for n in range(3)])
    torch.testing.assert_close(rbm.free_energy(V), exact)


def test_hidden_conditional_is_the_exact_marginal():
    rbm = tiny_softmax()
    V = rbm.encode(RATINGS)
    H = hidden_states(3)
    for n in range(3):
        weights = torch.softmax(-rbm.energy(V[n].expand(len(H), -1, -1), H), 0)
        torch.testing.assert_close(rbm.p_h_given_v(V[n : n + 1])[0], weights @ H)


def test_visible_conditional_is_exact_and_sums_to_one_per_item():
    rbm = tiny_softmax()
    h = hidden_states(3)[[6]]
    p = rbm.p_v_given_h(h)[0]  # (K, items)
    torch.testing.assert_close(p.sum(0), torch.ones(4, dtype=torch.float64))
    # item 1 alone present in each of its K states: p(state | h) from the energies
    energies = []
    for k in range(3):
        V = torch.zeros(1, 3, 4, dtype=torch.float64)
        V[0, k, 1] = 1
        energies.append(rbm.energy(V, h)[0])
    torch.testing.assert_close(p[:, 1], torch.softmax(-torch.stack(energies), 0))


def test_exact_prediction_sums_out_the_hidden_units():
    rbm = tiny_softmax()
    H = hidden_states(3)
    user = RATINGS[[0]].clone()
    user[0, 1] = 0  # item 1 unrated: predict it
    expected = []
    for k in range(3):
        r = user.clone()
        r[0, 1] = k + 1
        V = rbm.encode(r).expand(len(H), -1, -1)
        expected.append(torch.logsumexp(-rbm.energy(V, H), 0))
    p = torch.softmax(torch.stack(expected), 0)
    exact = (p * torch.arange(1, 4, dtype=torch.float64)).sum()
    torch.testing.assert_close(rbm.predict_exact(user)[0, 1], exact)


def test_masked_entries_never_reach_the_statistics():
    rbm = tiny_softmax()
    R = RATINGS.clone()
    mask = R > 0
    V_a = rbm.encode(R)
    V_b = V_a.clone()
    V_b[~mask.unsqueeze(1).expand_as(V_b)] = 1.0  # garbage wherever nothing was rated
    torch.manual_seed(3)
    grads_a, info_a = rbm.cd_gradients(V_a, mask)
    torch.manual_seed(3)
    grads_b, info_b = rbm.cd_gradients(V_b, mask)
    for ga, gb in zip(grads_a, grads_b):
        torch.testing.assert_close(ga, gb)
    assert torch.equal(info_a["negative"] * ~mask.unsqueeze(1), torch.zeros_like(info_a["negative"]))


def test_an_item_nobody_rated_gets_no_update():
    rbm = tiny_softmax()
    R = RATINGS.clone()
    R[:, 3] = 0
    grads, _ = rbm.cd_gradients(rbm.encode(R), R > 0)
    assert torch.count_nonzero(grads[0][:, 3]) == 0 and torch.count_nonzero(grads[1][:, 3]) == 0


@pytest.mark.parametrize("per_item", [False, True])
def test_gradient_is_data_minus_model_statistics(per_item):
    rbm = tiny_softmax()
    rbm.per_item = per_item
    R = RATINGS
    mask = R > 0
    torch.manual_seed(1)
    grads, info = rbm.cd_gradients(rbm.encode(R), mask)
    V0, V, p0, p = rbm.encode(R), info["negative"], info["p_h0"], info["p_h"]
    n = len(R)
    scale = n / mask.sum(0).clamp_min(1).double() if per_item else torch.ones(4, dtype=torch.float64)
    dW = -(torch.einsum("nki,nj->kij", V0, p0) - torch.einsum("nki,nj->kij", V, p)) / n * scale[None, :, None]
    torch.testing.assert_close(grads[0], dW)
    torch.testing.assert_close(grads[1], -(V0 - V).mean(0) * scale)
    torch.testing.assert_close(grads[2], -(p0 - p).mean(0))
    # and the loss handed to fit carries exactly these gradients
    rbm.train()
    torch.manual_seed(1)
    loss, _ = rbm.loss(R)
    loss.backward()
    torch.testing.assert_close(rbm.W.grad, dW)


def test_binary_rbm_encodes_likes_and_predicts_probabilities():
    torch.manual_seed(0)
    rbm = BinaryRatingRBM(4, 3, threshold=3)
    R = torch.tensor([[1.0, 3.0, 5.0, 0.0]])
    assert torch.equal(rbm.encode(R)[0, 0], torch.tensor([0.0, 1.0, 1.0, 0.0]))
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet: call fit"):  # random weights predict nothing
        rbm.predict(R)
    rbm.fit(R, epochs=1, progress=False)
    p = rbm.predict(R)
    assert p.shape == (1, 4) and ((0 < p) & (p < 1)).all()


@pytest.mark.parametrize("bad, match", [
    (torch.tensor([[6.0, 0, 0, 0]]), "integers 0..5"),
    (torch.tensor([[2.5, 0, 0, 0]]), "integers 0..5"),
    (torch.tensor([[-1.0, 0, 0, 0]]), "integers 0..5"),
    (torch.tensor([[float("nan"), 0, 0, 0]]), "NaN"),
    (torch.zeros(2, 5), "shape"),
])
def test_bad_ratings_get_clear_errors(bad, match):
    rbm = SoftmaxRBM(4, 3)
    with pytest.raises(ValueError, match=match):
        rbm.predict(bad)


def test_bad_settings_get_clear_errors():
    with pytest.raises(ValueError, match="n_hidden"):
        SoftmaxRBM(4, 0)
    with pytest.raises(ValueError, match="threshold"):
        BinaryRatingRBM(4, 3, threshold=9)
    with pytest.raises(ValueError, match="validation"):
        SoftmaxRBM(4, 3).fit(torch.ones(3, 4), validation=torch.ones(2, 4), epochs=1, progress=False)


def two_taste_ratings(n_users=200, n_items=20, seed=0):
    """Half the users love the first half of the items and hate the rest; the other half the opposite."""
    g = torch.Generator().manual_seed(seed)
    group = torch.arange(n_users) % 2
    first = torch.arange(n_items) < n_items // 2
    likes = first[None, :] ^ group[:, None].bool()
    R = torch.where(likes, 5.0, 1.0)
    observed = torch.rand(n_users, n_items, generator=g) < 0.5
    held = (torch.rand(n_users, n_items, generator=g) < 0.3) & observed
    return R * (observed & ~held), R * held


def test_softmax_rbm_learns_two_tastes_from_incomplete_ratings():
    train, test = two_taste_ratings()
    cp.seed_everything(0)
    rbm = SoftmaxRBM(20, 8)
    history = rbm.fit(train, validation=test, epochs=30, lr=0.1, batch_size=20, progress=False, seed=0)
    item_mean = (train.sum(0) / (train > 0).sum(0)).expand_as(train)
    mask = test > 0
    baseline = ((item_mean - test)[mask] ** 2).mean().sqrt()
    rmse = ((rbm.predict(train) - test)[mask] ** 2).mean().sqrt()
    assert rmse < 0.5 * baseline, (rmse, baseline)
    assert history["val_mse"][-1] < history["val_mse"][0]
    assert math.isclose(history["val_mse"][-1], float(rmse**2), rel_tol=1e-4)


def test_fit_accepts_a_rating_matrix_and_sets_the_biases_from_frequencies():
    train, _ = two_taste_ratings(n_users=10, n_items=6)
    R = RatingMatrix(train, torch.arange(10).numpy(), torch.arange(6).numpy())
    rbm = SoftmaxRBM(6, 3)
    rbm.init_visible_bias(R, prior=0.0)
    counts = rbm.encode(train).sum(0)
    p = counts / (train > 0).sum(0)
    torch.testing.assert_close(rbm.b.exp(), p.clamp(1e-4, 1 - 1e-4).float())
    history = rbm.fit(R, epochs=2, progress=False)
    assert history.epochs == 2


def test_k_schedule_raises_the_gibbs_steps_at_the_given_epochs():
    train, _ = two_taste_ratings(n_users=10, n_items=6)
    rbm = SoftmaxRBM(6, 3)
    seen = []
    # fit's callback runs after each epoch: k for epoch e+1 is set before the user's callback sees it
    rbm.fit(train, epochs=4, k_schedule={0: 1, 2: 3}, progress=False,
            callback=lambda epoch, model, history: seen.append(model.k))
    assert seen == [1, 3, 3, 3] and rbm.k == 3 and rbm.config["k"] == 3


@pytest.mark.parametrize("schedule", [{0: 0}, {0: 2.5}, {-1: 2}, {0: True}])
def test_bad_k_schedule_is_refused(schedule):
    with pytest.raises(ValueError, match="k_schedule"):
        SoftmaxRBM(6, 3).fit(torch.ones(2, 6), epochs=1, k_schedule=schedule, progress=False)


def test_exact_prediction_of_a_rated_item_leaves_its_own_rating_out():
    rbm = tiny_softmax()
    H = hidden_states(3)
    user = RATINGS[[0]].clone()  # item 2 rated 3
    rest = user.clone()
    rest[0, 2] = 0
    scores = []
    for k in range(3):
        r = rest.clone()
        r[0, 2] = k + 1
        scores.append(torch.logsumexp(-rbm.energy(rbm.encode(r).expand(len(H), -1, -1), H), 0))
    p = torch.softmax(torch.stack(scores), 0)
    torch.testing.assert_close(rbm.predict_exact(user)[0, 2], (p * torch.arange(1, 4, dtype=torch.float64)).sum())


def test_binary_rbm_free_energy_and_conditionals_by_enumeration():
    torch.manual_seed(0)
    rbm = BinaryRatingRBM(4, 3, init_std=1.0).double()
    with torch.no_grad():
        rbm.b.normal_(0, 1)
        rbm.c.normal_(0, 1)
    R = torch.tensor([[1.0, 4.0, 0.0, 5.0], [0.0, 2.0, 3.0, 0.0]], dtype=torch.float64)
    V = rbm.encode(R)
    H = hidden_states(3)
    exact = torch.stack([-torch.logsumexp(-rbm.energy(V[n].expand(len(H), -1, -1), H), 0) for n in range(2)])
    torch.testing.assert_close(rbm.free_energy(V), exact)
    h = H[[5]]
    torch.testing.assert_close(rbm.p_v_given_h(h)[0, 0], torch.sigmoid(rbm.b[0] + rbm.W[0] @ h[0]))


def test_visible_bias_of_an_unrated_item_is_the_overall_frequency():
    R = torch.tensor([[1.0, 0.0], [3.0, 0.0], [3.0, 0.0]])
    soft = SoftmaxRBM(2, 2, n_levels=3).init_visible_bias(R, prior=0.0)
    torch.testing.assert_close(soft.b[:, 1].exp(), torch.tensor([1 / 3, 1e-4, 2 / 3]))
    binary = BinaryRatingRBM(2, 2, threshold=3).init_visible_bias(R, prior=0.0)
    like = torch.tensor(2 / 3)
    torch.testing.assert_close(binary.b[0], torch.log(like / (1 - like)).expand(2))


def test_misaligned_validation_matrix_is_refused():
    train = RatingMatrix(torch.ones(2, 3), np.array([1, 2]), np.array([1, 2, 3]))
    test = RatingMatrix(torch.ones(2, 3), np.array([1, 2]), np.array([1, 2, 4]))
    with pytest.raises(ValueError, match="do not line up"):
        SoftmaxRBM(3, 2).fit(train, validation=test, epochs=1, progress=False)


@pytest.mark.parametrize("cls", [SoftmaxRBM, BinaryRatingRBM])
def test_rating_rbms_survive_a_checkpoint(cls, tmp_path):
    train, _ = two_taste_ratings(n_users=10, n_items=6)
    rbm = cls(6, 3)
    rbm.fit(train, epochs=1, progress=False)
    cp.save(rbm, tmp_path / "rbm.pt")
    loaded = cp.load(tmp_path / "rbm.pt")
    torch.testing.assert_close(loaded.predict(train), rbm.predict(train))


def test_predict_before_fit_is_refused_but_a_loaded_model_is_fitted(tmp_path):
    from sklearn.exceptions import NotFittedError

    import companion as cp

    rbm = SoftmaxRBM(4, 3)
    R = torch.tensor([[1.0, 3.0, 5.0, 0.0], [2.0, 0.0, 4.0, 1.0]])
    with pytest.raises(NotFittedError, match="SoftmaxRBM is not fitted yet"):
        rbm.predict(R)
    rbm.fit(R, epochs=1, progress=False)
    loaded = cp.load(cp.save(rbm, tmp_path / "rbm.pt"))
    assert torch.equal(loaded.predict(R), rbm.predict(R))


def test_the_cores_sampling_and_reconstruction_take_encoded_states():
    rbm = SoftmaxRBM(4, 3)
    V = rbm.encode(torch.tensor([[1.0, 0.0, 5.0, 3.0]]))
    assert rbm.reconstruct(V).shape == (1, 5, 4) and rbm.gibbs(V, k=2).shape == (1, 5, 4)
    with pytest.raises(ValueError, match=r"use encode\(ratings\)"):
        rbm.reconstruct(torch.tensor([[1.0, 0.0, 5.0, 3.0]]))
